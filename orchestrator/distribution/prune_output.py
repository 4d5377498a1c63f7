"""What `stackbake prune` prints: per stream (then leftovers), one line per image, newest
first, what happens to it and why; then one summary line.

    base: ${REG}/${target}:${VERSION} in localhost:5000/acme/base
      kept          1.4.2  sha256:9f8e7d6c5b4a  0 days  3.1 MB  kept: newest 1; release tag
      would delete  1.4.0, key-3f2a9c01b7e4…  sha256:1a2b3c4d5e6f  12 days  9.6 kB  ...

On a line that deletes, the size is what deleting it frees (blobs nothing kept names);
on a kept line, the image's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.distribution.prune_decide import Verdict
from orchestrator.distribution.prune_model import Image, human_bytes, short
from orchestrator.distribution.prune_streams import own_kind
from orchestrator.errors import printable

GC = "the registry frees the space at its garbage collection: registry garbage-collect"


@dataclass(frozen=True)
class Shown:
    """One image's line: its verdict, the bytes deleting it frees, what went wrong."""

    verdict: Verdict
    freed: int = 0
    error: str = ""


def lines(shown: Sequence[Shown], now: float, dry_run: bool) -> list[str]:
    out: list[str] = []
    groups: dict[tuple[str, str], list[Shown]] = {}
    for s in shown:
        v = s.verdict
        key = (v.stream.describe(), "") if v.stream else ("", v.image.repository)
        groups.setdefault(key, []).append(s)
    ordered = sorted(groups.items(), key=lambda kv: not kv[0][0])  # streams, then leftovers
    for (stream, repository), members in ordered:
        out.append(stream or f"leftovers in {repository} (stackbake's own tags)")
        members.sort(key=lambda s: -(s.verdict.image.created or 0.0))
        out += [_line(s, now, dry_run) for s in members]
    return [printable(line) for line in out]


def _line(s: Shown, now: float, dry_run: bool) -> str:
    v, image = s.verdict, s.verdict.image
    if v.kept:
        verb, size, why = "kept", image.size, "kept: " + "; ".join(v.reasons)
    elif s.error:
        verb, size, why = "not deleted", s.freed, s.error
    else:
        verb, size, why = ("would delete" if dry_run else "deleted"), s.freed, "; ".join(v.reasons)
    age = image.age_days(now)
    when = "age unknown" if age is None else f"{int(max(age, 0))} days"
    parts = (f"{verb:<12}", _tags(image), short(image.digest), when, human_bytes(size), why)
    return "  " + "  ".join(parts)


def _tags(image: Image) -> str:
    """Release tags first, then stackbake's own (key tags cut to 12 digits)."""
    ordered = sorted(image.tags, key=lambda t: (own_kind(t) is not None, t))
    return ", ".join(f"{t[:16]}…" if own_kind(t) == "key" else t for t in ordered)


def orphan_lines(orphans: Iterable[tuple[str, str, str]], dry_run: bool) -> list[str]:
    """(repository, tag, error) of leftover signatures whose manifest is gone."""
    verb = "would delete" if dry_run else "deleted"
    out = []
    for repository, tag, error in orphans:
        out.append(
            f"  {'not deleted' if error else verb:<12}  {repository}:{tag}  "
            f"{error or 'leftover: what it signs is gone'}"
        )
    return out


def summary(
    counts: Mapping[str, int], freed: int, *, dry_run: bool, local: bool, failed: int
) -> str:
    """`2 deleted (6 manifests, 3 signatures and attestations), 3 kept, 6.2 MB freed`."""
    gone = counts["deleted"]
    detail = (
        f" ({counts['names']} names)"
        if local
        else f" ({counts['manifests']} manifests, {counts['attached']} signatures and attestations)"
    )
    size = human_bytes(freed)
    head = "dry run: " if dry_run else ""
    if dry_run:
        text = f"{gone} would be deleted{detail}, {counts['kept']} kept, {size} would be freed"
    else:
        text = f"{gone} deleted{detail}, {counts['kept']} kept, {size} freed"
    if not local:
        text += f" ({GC})"
    if dry_run:
        text += "; nothing was deleted"
    if failed:
        text += f"; {failed} not deleted (see above)"
    return head + text
