"""Images and streams for the prune unit tests: digests made from names, times in days
before a fixed now, two platforms and an attestation manifest per index."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.distribution.prune_decide import Verdict
from orchestrator.distribution.prune_model import DAY_S, Image
from orchestrator.distribution.prune_streams import Stream, template_pattern

NOW = 1_750_000_000.0
REG = "localhost:5000/acme"
TEMPLATE = "${REGISTRY}/${target}:${VERSION}"
PLATFORMS = ("linux/amd64", "linux/arm64")


def d(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def stream(
    target: str, *, template: str = TEMPLATE, release: str = "3", selected: bool = True
) -> Stream:
    repository = f"{REG}/{target}"
    pattern = template_pattern(template, target)
    return Stream(target, template, release, repository, repository, pattern, selected)


def image(
    target: str, tags: Sequence[str], days: float | None, *, index: bool = True, **kw: Any
) -> Image:
    """`target`'s image tagged `tags`, made `days` ago, an index of two platforms (and
    an attestation manifest) unless `index` is false."""
    name = f"{target}:{tags[0]}" if tags else target
    per = {p: d(f"{name}/{p}") for p in PLATFORMS} if index else {}
    children = (*per.values(), d(f"{name}/attestation")) if index else ()
    made = {
        "repository": f"{REG}/{target}",
        "digest": d(name),
        "tags": tuple(tags),
        "created": None if days is None else NOW - days * DAY_S,
        "platforms": per,
        "children": children,
    }
    made.update(kw)
    return Image(**made)


def table(verdicts: Sequence[Verdict]) -> list[tuple[str, bool, tuple[str, ...], bool]]:
    """(short name, kept, reasons, shown) of each verdict."""
    return [(v.image.short_name(), v.kept, v.reasons, v.shown) for v in verdicts]


def blobs(**sizes: int) -> Mapping[str, int]:
    return {d(k): v for k, v in sizes.items()}
