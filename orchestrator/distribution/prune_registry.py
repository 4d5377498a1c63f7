"""`stackbake prune --registry`'s reads and deletes, through skopeo: every tag of each
repository, the manifest each names, every manifest an index lists, one config per
image (its labels and time), cosign's attachments; then the plan's DELETEs in order,
those that need nothing from each other at once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orchestrator.backend import skopeo
from orchestrator.backend.manifests import index_platforms, platform_of
from orchestrator.distribution.prune_model import (
    BASE_DIGEST,
    BASE_NAME,
    Attachment,
    Image,
    created_of,
)
from orchestrator.distribution.prune_plan import Step
from orchestrator.distribution.prune_streams import cosign_subject
from orchestrator.execution.at_once import each_at_once

AT_ONCE = 8  # skopeo processes at a time
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Raw:
    """A manifest as the registry sent it."""

    digest: str
    size: int
    body: Mapping[str, Any]

    @property
    def is_index(self) -> bool:
        return "manifests" in self.body

    def blobs(self) -> dict[str, int]:
        """Itself, its config and its layers -> their sizes."""
        out = {self.digest: self.size}
        for d in [self.body.get("config") or {}, *(self.body.get("layers") or [])]:
            if d.get("digest"):
                out[d["digest"]] = int(d.get("size") or 0)
        return out


def _raw(ref: str) -> Raw | None:
    """The manifest `ref` names; None when it is not there (any more)."""
    try:
        text = skopeo.raw_text(ref)
    except skopeo.SkopeoError as exc:
        if exc.not_found:
            return None
        raise
    data = text.encode()
    return Raw("sha256:" + hashlib.sha256(data).hexdigest(), len(data), json.loads(text))


def _config(ref: str) -> Mapping[str, Any]:
    try:
        return skopeo.image_config(ref)
    except skopeo.SkopeoError as exc:
        if exc.not_found:
            return {}
        raise


def _each(work: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`work` of each item, AT_ONCE at a time; nothing more starts after a failure."""
    return each_at_once(lambda item, _cancel: work(item), list(items), AT_ONCE)


@dataclass
class _Repository:
    name: str
    tags: dict[str, Raw] = field(default_factory=dict)  # tag -> the manifest it names
    manifests: dict[str, Raw] = field(default_factory=dict)  # listed ones, by digest


def read_registry(repositories: Sequence[str]) -> tuple[list[Image], list[Attachment]]:
    """Every image and attachment of these repositories."""
    repos = {name: _Repository(name) for name in repositories}
    listings = _each(skopeo.list_tags, list(repos))
    tagged = [(name, t) for name, tags in zip(repos, listings, strict=True) for t in tags]
    named = _each(lambda nt: _raw(f"{nt[0]}:{nt[1]}"), tagged)
    for (name, tag), raw in zip(tagged, named, strict=True):
        if raw is not None:  # None: gone since it was listed
            repos[name].tags[tag] = raw
    wanted = list(
        dict.fromkeys(
            (repo.name, m["digest"])
            for repo in repos.values()
            for raw in repo.tags.values()
            for m in raw.body.get("manifests") or []
        )
    )
    listed = _each(lambda nd: _raw(f"{nd[0]}@{nd[1]}"), wanted)
    for (name, digest), raw in zip(wanted, listed, strict=True):
        if raw is not None:
            repos[name].manifests[digest] = raw
    images = [i for repo in repos.values() for i in _images(repo)]
    configs = _each(_first_config, images)
    images = [_with_config(i, c) for i, c in zip(images, configs, strict=True)]
    return images, _attachments(list(repos.values()), images)


def _images(repo: _Repository) -> list[Image]:
    by_digest: dict[str, list[str]] = {}
    for tag, raw in repo.tags.items():
        if cosign_subject(tag) is None:
            by_digest.setdefault(raw.digest, []).append(tag)
    out = []
    for digest, tags in by_digest.items():
        raw = repo.tags[tags[0]]
        blobs: dict[str, dict[str, int]] = {digest: raw.blobs()}
        layers: dict[str, tuple[str, ...]] = {}
        entries = list(raw.body.get("manifests") or [])
        platforms = index_platforms(entries) if raw.is_index else {}
        for entry in entries:
            child = repo.manifests.get(entry["digest"])
            if child is None:
                continue
            blobs[child.digest] = child.blobs()
            place = platform_of(entry.get("platform") or {})
            if platforms.get(place) == child.digest:
                layers[place] = tuple(d["digest"] for d in child.body.get("layers") or [])
        if not raw.is_index:
            layers[""] = tuple(d["digest"] for d in raw.body.get("layers") or [])
        configs = {
            c["digest"]
            for m in (raw, *(repo.manifests[d] for d in blobs if d in repo.manifests))
            if (c := m.body.get("config") or {}).get("digest")
        }
        image = Image(
            repo.name,
            digest,
            tuple(sorted(tags)),
            platforms=platforms,
            children=tuple(e["digest"] for e in entries),
            also=frozenset(configs),
            layers=layers,
            blobs=blobs,
        )
        out.append(image)
    return out


def _first_config(image: Image) -> tuple[str, Mapping[str, Any]]:
    """(the manifest, its config) of the image's first platform, or of itself."""
    manifest = next(iter(image.platforms.values()), image.digest)
    return manifest, _config(f"{image.repository}@{manifest}")


def _with_config(image: Image, found: tuple[str, Mapping[str, Any]]) -> Image:
    manifest, config = found
    labels = dict((config.get("config") or {}).get("Labels") or {})
    platforms, layers = dict(image.platforms), dict(image.layers)
    if "" in layers:  # a manifest alone: its platform is its config's
        place = platform_of(config) or "unknown"
        platforms, layers[place] = {place: manifest}, layers.pop("")
    return Image(
        image.repository,
        image.digest,
        image.tags,
        created=created_of(labels, config.get("created")),
        platforms=platforms,
        children=image.children,
        also=image.also,
        layers=layers,
        base_digest=str(labels.get(BASE_DIGEST) or ""),
        base_name=str(labels.get(BASE_NAME) or ""),
        blobs=image.blobs,
        size=sum(s for blobs in image.blobs.values() for s in blobs.values()),
    )


def _attachments(repos: Sequence[_Repository], images: Sequence[Image]) -> list[Attachment]:
    known = {(i.repository, d) for i in images for d in i.names()}
    found = [
        Attachment(repo.name, tag, raw.digest, *subject, blobs=raw.blobs())
        for repo in repos
        for tag, raw in repo.tags.items()
        if (subject := cosign_subject(tag)) is not None
    ]
    unknown = [a for a in found if (a.repository, a.subject) not in known]
    gone = _each(lambda a: _raw(f"{a.repository}@{a.subject}") is None, unknown)
    orphans = {(a.repository, a.tag) for a, g in zip(unknown, gone, strict=True) if g}
    return [
        Attachment(
            a.repository,
            a.tag,
            a.digest,
            a.subject,
            a.kind,
            a.blobs,
            orphan=(a.repository, a.tag) in orphans,
        )
        for a in found
    ]


def delete_steps(steps: Sequence[Step], say: Callable[[str], None]) -> dict[tuple[str, str], str]:
    """The DELETEs in waves, each wave's at once: a step runs in the wave after the
    last of the steps it needs, and only when they all succeeded. The failures and the
    left out, (repository, digest) -> why."""
    wave: dict[tuple[str, str], int] = {}
    for step in steps:
        needed = [wave.get((step.repository, n), -1) for n in step.needs]
        wave[step.repository, step.digest] = 1 + max(needed, default=-1)
    done: set[tuple[str, str]] = set()
    failed: dict[tuple[str, str], str] = {}
    for number in sorted(set(wave.values())):
        ready = []
        for step in (s for s in steps if wave[s.repository, s.digest] == number):
            missing = [n for n in step.needs if (step.repository, n) not in done]
            if missing:
                why = f"not deleted: {missing[0]} is still there"
                failed[step.repository, step.digest] = why
                say(f"{step.what} {step.repository}@{step.digest}: {why}")
            else:
                ready.append(step)
        for step, error in zip(ready, _each(_delete, ready), strict=True):
            if error:
                failed[step.repository, step.digest] = error
                say(f"error: {error}")
            else:
                done.add((step.repository, step.digest))
    return failed


def _delete(step: Step) -> str:
    """One DELETE: "" when it went (or was gone already), else why not."""
    try:
        skopeo.delete(step.repository, step.digest)
    except skopeo.SkopeoError as exc:
        return "" if exc.not_found else str(exc)
    return ""
