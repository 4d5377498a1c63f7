"""From verdicts to what is deleted, in which order, and what it frees: pure.

A registry's DELETE of a manifest by digest removes every tag naming it, so order is
what keeps every remaining tag whole at every moment, also when a prune stops half way
or one DELETE fails:

1. the images: indexes before plain manifests (a manifest that is an image of its own
   may be listed by an index that goes too), each only once every index listing it
   is gone;
2. the manifests those indexes listed that no kept image lists, each only once every
   index listing it is gone;
3. cosign's signatures, attestations and SBOMs of what went (their
   `sha256-<hex>.sig|.att|.sbom` tags go with them), each once its manifest is gone:
   an image whose DELETE failed keeps its signature. Leftover ones of manifests gone
   already (a prune stopped before this step) go too.

A manifest a kept index lists is never deleted. What is freed: the blobs (manifests,
configs, layers) of what goes that nothing left in the repositories read still names;
the registry frees them at its garbage collection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.distribution.prune_decide import Verdict
from orchestrator.distribution.prune_model import Attachment, Image

KINDS = {"sig": "signature", "att": "attestation", "sbom": "SBOM"}


@dataclass(frozen=True)
class Step:
    """One DELETE of a manifest by digest."""

    repository: str
    digest: str
    what: str  # signature | attestation | SBOM | image | manifest
    needs: tuple[str, ...] = ()  # digests whose deletion must have succeeded first


@dataclass(frozen=True)
class Removal:
    """An image that goes, with the manifests and attachments that go with it."""

    verdict: Verdict
    manifests: tuple[str, ...]  # its own digest, then the listed ones no kept image lists
    attachments: tuple[Attachment, ...]
    freed: int  # bytes only this removal frees (not counted for an earlier one)

    @property
    def image(self) -> Image:
        return self.verdict.image


@dataclass(frozen=True)
class RegistryPlan:
    removals: tuple[Removal, ...]
    orphans: tuple[Attachment, ...]  # leftover attachments of manifests already gone
    steps: tuple[Step, ...]
    freed: int


def registry_plan(verdicts: Sequence[Verdict], attachments: Sequence[Attachment]) -> RegistryPlan:
    kept = [v.image for v in verdicts if v.kept]
    held = {(i.repository, d) for i in kept for d in (i.digest, *i.children)}
    going = [v for v in verdicts if not v.kept]
    manifests = {
        v.image.id: tuple(
            dict.fromkeys(
                (
                    v.image.digest,
                    *(c for c in v.image.children if (v.image.repository, c) not in held),
                )
            )
        )
        for v in going
    }
    owners: dict[tuple[str, str], list[str]] = {}  # a manifest -> the indexes that go listing it
    for v in going:
        for child in manifests[v.image.id][1:]:
            owners.setdefault((v.image.repository, child), []).append(v.image.digest)
    doomed = {(v.image.repository, d) for v in going for d in manifests[v.image.id]}
    attached = [a for a in attachments if (a.repository, a.subject) in doomed]
    orphans = tuple(a for a in attachments if a.orphan and a not in attached)
    gone = doomed | {(a.repository, a.digest) for a in (*attached, *orphans)}
    left = _blobs_left(kept, [v.image for v in going], attachments, gone)
    counted: set[str] = set()
    removals = []
    for v in going:
        mine = {(v.image.repository, d) for d in manifests[v.image.id]}
        theirs = tuple(a for a in attached if (a.repository, a.subject) in mine)
        maps = [v.image.blobs.get(d, {}) for d in manifests[v.image.id]]
        freed = _freed([*maps, *(a.blobs for a in theirs)], left, counted)
        removals.append(Removal(v, manifests[v.image.id], theirs, freed))
    freed = sum(r.freed for r in removals) + _freed([a.blobs for a in orphans], left, counted)
    return RegistryPlan(tuple(removals), orphans, _order(removals, orphans, owners), freed)


def _blobs_left(
    kept: Iterable[Image],
    going: Iterable[Image],
    attachments: Iterable[Attachment],
    gone: set[tuple[str, str]],
) -> set[str]:
    """Every blob a manifest that stays names: kept images, the manifests a kept image
    lists of images that go, attachments that stay."""
    left: set[str] = set()
    for image in (*kept, *going):
        for digest, blobs in image.blobs.items():
            if (image.repository, digest) not in gone:
                left.update(blobs)
    for a in attachments:
        if (a.repository, a.digest) not in gone:
            left.update(a.blobs)
    return left


def _freed(maps: Iterable[Mapping[str, int]], left: set[str], counted: set[str]) -> int:
    """The sizes of the blobs in `maps` nothing left names, not counted before."""
    total = 0
    for blobs in maps:
        for blob, size in blobs.items():
            if blob not in left and blob not in counted:
                counted.add(blob)
                total += size
    return total


def _order(
    removals: Sequence[Removal],
    orphans: Sequence[Attachment],
    owners: Mapping[tuple[str, str], list[str]],
) -> tuple[Step, ...]:
    images = sorted(removals, key=lambda r: not r.image.children)  # indexes first
    steps = [
        Step(r.image.repository, r.image.digest, "image", tuple(owners.get(r.image.id, ())))
        for r in images
    ]
    own = {r.image.id for r in removals}
    for r in removals:
        for digest in r.manifests[1:]:
            key = (r.image.repository, digest)
            if key not in own:  # an image of its own is step 1's
                steps.append(Step(key[0], digest, "manifest", tuple(owners[key])))
    for r in removals:
        steps += [Step(a.repository, a.digest, KINDS[a.kind], (a.subject,)) for a in r.attachments]
    steps += [Step(a.repository, a.digest, KINDS[a.kind]) for a in orphans]
    return tuple(_unique(steps))


def _unique(steps: Iterable[Step]) -> Iterable[Step]:
    seen: set[tuple[str, str]] = set()
    for step in steps:
        if (step.repository, step.digest) not in seen:
            seen.add((step.repository, step.digest))
            yield step
