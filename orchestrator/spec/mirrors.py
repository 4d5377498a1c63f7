"""`mirrors:`: external bases pulled from another registry, no Dockerfile edited. Which
name an external base has at its mirror, and the entries' checks.

    mirrors:
      docker.io/library/*: registry.internal/mirror/library/*   # a prefix: every image under it
      localhost:5000/seed/busybox: localhost:5000/mirror/busybox  # one repository

`FROM alpine:3.20` is then `registry.internal/mirror/library/alpine:3.20`: the tag (or
digest) kept, the most specific entry winning (one repository over a prefix, a longer
prefix over a shorter)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from orchestrator.errors import ProblemCollector
from orchestrator.refs import BadReference, parse_ref
from orchestrator.spec.fields import where
from orchestrator.spec.model import Mirror, Where
from orchestrator.spec.yamlpos import Document

ANY = "/*"


def read_mirrors(
    docs: Sequence[Document], expand: Callable[[str, Where], str]
) -> tuple[Mirror, ...]:
    """`mirrors:` of every file, each value interpolated (`expand`)."""
    out = []
    for doc in docs:
        for source, value in doc.data.get("mirrors", {}).items():
            here = where(doc, ("mirrors", source))
            out.append(Mirror(str(source), expand(str(value), here), here))
    return tuple(out)


def repository_of(text: str) -> str | None:
    """`alpine` -> docker.io/library/alpine; None when it is no bare repository."""
    try:
        ref = parse_ref(text)
    except BadReference:
        return None
    return ref.repository if ref.tag is None and ref.digest is None else None


def _normalized(entry: str) -> str | None:
    """A `mirrors:` key or value in its full form, `/*` kept."""
    if entry.endswith(ANY):
        stem = entry.removesuffix(ANY)
        if "/" not in stem and ("." in stem or ":" in stem or stem == "localhost"):
            return entry  # a whole registry: docker.io/* is docker.io/library/* and the rest
        found = repository_of(stem + "/x")
        return found.removesuffix("/x") + ANY if found else None
    return repository_of(entry)


def mirrored(ref: str, mirrors: Sequence[Mirror]) -> str | None:
    """The name `ref` (a normalized image reference) has at its mirror, None when no
    entry covers it."""
    parsed = parse_ref(ref)
    repository = parsed.repository
    best: tuple[int, str] | None = None
    for mirror in mirrors:
        source, to = _normalized(mirror.source), mirror.to
        if source is None:
            continue
        if source.endswith(ANY):
            stem = source.removesuffix("*")
            if not repository.startswith(stem):
                continue
            name = to.removesuffix("*") + repository.removeprefix(stem)
            rank = len(stem)
        elif repository == source:
            name, rank = to, 10_000
        else:
            continue
        if best is None or rank > best[0]:
            best = (rank, name)
    if best is None:
        return None
    tail = (f":{parsed.tag}" if parsed.tag else "") + (f"@{parsed.digest}" if parsed.digest else "")
    return parse_ref(best[1] + tail).normalized()


def check_mirrors(mirrors: Sequence[Mirror], out: ProblemCollector) -> None:
    """Each key and value is a repository or a `/*` prefix, both alike; a key once; no
    entry onto itself."""
    seen: dict[str, Mirror] = {}
    for mirror in mirrors:
        assert mirror.where is not None
        source, to = _normalized(mirror.source), _normalized(mirror.to)
        fix = "write a repository (localhost:5000/seed/busybox) or a prefix (docker.io/library/*)"
        if source is None:
            out.add(mirror.where.problem(f"{mirror.source!r} is not a repository; {fix}"))
            continue
        if to is None:
            out.add(mirror.where.problem(f"{mirror.to!r} is not a repository; {fix}"))
            continue
        if source.endswith(ANY) != to.endswith(ANY):
            out.add(
                mirror.where.problem(
                    f"{mirror.source!r} and {mirror.to!r}: a prefix (/*) mirrors to a prefix, "
                    "a repository to a repository"
                )
            )
        elif source == to:
            out.add(mirror.where.problem(f"{mirror.source!r} mirrors to itself; remove it"))
        first = seen.setdefault(source, mirror)
        if first is not mirror:
            assert first.where is not None
            spot = first.where.spot()
            out.add(mirror.where.problem(f"{source} already has a mirror at {spot}; keep one"))
