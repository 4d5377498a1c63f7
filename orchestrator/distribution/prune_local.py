"""`stackbake prune --local`: the same decision over the engine's image store. Each
image of a stream's repository is read with its names, labels, time, size and layers
(python-on-whales: one `docker image ls` and one `docker image inspect` per
repository); what goes loses the names stackbake gave it in that repository, and the
engine removes an image once it has no name left. A name stackbake did not give keeps
its image."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.distribution.prune_decide import Verdict
from orchestrator.distribution.prune_model import BASE_DIGEST, BASE_NAME, Image, created_of
from orchestrator.errors import EngineError
from orchestrator.refs import BadReference, parse_ref


@dataclass(frozen=True)
class LocalRemoval:
    verdict: Verdict
    names: tuple[str, ...]  # REPO:TAG, each removed
    freed: int  # the engine's size of the image, when this takes its last name


def read_local(repositories: Sequence[str]) -> list[Image]:
    """Every image with a name in these repositories, one per repository it is in."""
    from python_on_whales import docker  # imported here: ~0.2 s, and only prune needs it
    from python_on_whales.exceptions import DockerException

    wanted = set(repositories)
    out: list[Image] = []
    seen: set[tuple[str, str]] = set()
    for repository in dict.fromkeys(repositories):
        try:
            found = docker.image.list(repository_or_tag=repository)
        except DockerException as exc:
            raise EngineError(f"list the images of {repository}: {_last(exc)}") from None
        for image in found:
            for made in _images(image, wanted):
                if made.id not in seen and made.repository == repository:
                    seen.add(made.id)
                    out.append(made)
    return out


def _images(found: Any, wanted: set[str]) -> list[Image]:
    """One Image per repository of `wanted` the engine's image is named in."""
    names: dict[str, list[str]] = {}
    elsewhere = []
    for name in found.repo_tags or []:
        try:
            ref = parse_ref(name)
        except BadReference:
            continue
        if ref.repository in wanted and ref.tag:
            names.setdefault(ref.repository, []).append(ref.tag)
        else:
            elsewhere.append(name)
    labels = dict(found.config.labels or {})
    created = found.created.isoformat() if found.created else None
    platform = "/".join(p for p in (found.os, found.architecture, found.variant) if p)
    repo_digests = {d.rsplit("@", 1)[-1] for d in found.repo_digests or [] if "@" in d}
    return [
        Image(
            repository,
            found.id,
            tuple(sorted(tags)),
            created=created_of(labels, created),
            also=frozenset(repo_digests),
            layers={platform: tuple(found.root_fs.layers or ())},
            base_digest=str(labels.get(BASE_DIGEST) or ""),
            base_name=str(labels.get(BASE_NAME) or ""),
            size=int(found.size or 0),
            elsewhere=tuple(elsewhere),
        )
        for repository, tags in names.items()
    ]


def local_removals(verdicts: Sequence[Verdict]) -> list[LocalRemoval]:
    """The names each image that goes loses; its size is freed by the removal that
    takes the last name the engine's image has in the repositories read."""
    names_left: dict[str, int] = {}
    for v in verdicts:
        names_left[v.image.digest] = names_left.get(v.image.digest, 0) + len(v.image.tags)
    out = []
    for v in verdicts:
        if v.kept:
            continue
        image = v.image
        names_left[image.digest] -= len(image.tags)
        last = names_left[image.digest] == 0 and not image.elsewhere
        names = tuple(f"{_written(image.repository)}:{t}" for t in image.tags)
        out.append(LocalRemoval(v, names, image.size if last else 0))
    return out


def _written(repository: str) -> str:
    """A repository as docker names it locally (`docker.io/library/` left out)."""
    return repository.removeprefix("docker.io/library/").removeprefix("docker.io/")


def remove_names(removals: Iterable[LocalRemoval]) -> dict[tuple[str, str], str]:
    """Take each removal's names away (never `--force`: an image a container uses
    stays); the images it failed for -> why."""
    from python_on_whales import docker
    from python_on_whales.exceptions import DockerException

    failed = {}
    for removal in removals:
        try:
            docker.image.remove(list(removal.names), force=False, prune=True)
        except DockerException as exc:
            failed[removal.verdict.image.id] = _last(exc)
    return failed


def _last(exc: Any) -> str:
    text = str(getattr(exc, "stderr", "") or exc).strip()
    return (text.splitlines() or ["failed"])[-1]
