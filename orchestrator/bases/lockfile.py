"""`builds.lock`: the digest every external base resolved to, per platform.

Written by `stackbake lock` and `stackbake refresh`, read by every build: a base in
the lock is pinned to its digest (a named build context, as parents are), so a build
is reproducible until the lock changes. Sorted YAML, one base per block, so a
refresh reads as a small diff in review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from orchestrator.atomic import write_atomic
from orchestrator.errors import Problem, SpecError

LOCK_VERSION = 1
HEADER = (
    "# Written by `stackbake lock` / `stackbake refresh`: the digest each external base\n"
    "# resolved to. Commit it; builds pin their bases to these digests.\n"
)


@dataclass(frozen=True)
class LockedImage:
    digest: str  # what the tag named: an index for multi-platform images
    platforms: Mapping[str, str] = field(default_factory=dict)  # "linux/arm64" -> manifest

    def to_json(self) -> dict[str, object]:
        return {"digest": self.digest, "platforms": dict(sorted(self.platforms.items()))}


@dataclass(frozen=True)
class Lock:
    path: Path
    images: Mapping[str, LockedImage] = field(default_factory=dict)  # normalized ref ->
    exists: bool = False

    def digests(self) -> dict[str, str]:
        return {ref: image.digest for ref, image in self.images.items()}

    def text(self) -> str:
        body = {
            "version": LOCK_VERSION,
            "images": {ref: self.images[ref].to_json() for ref in sorted(self.images)},
        }
        return HEADER + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)

    def save(self) -> None:
        write_atomic(self.path, self.text())


def lock_path(spec_path: Path) -> Path:
    """`builds.yaml` (or `builds.yaml.example`) -> `builds.lock` beside it."""
    return spec_path.with_name(spec_path.name.split(".", 1)[0] + ".lock")


def load_lock(path: Path) -> Lock:
    """The lock at `path`; an empty one when there is none. A damaged file is a
    SpecError naming the fix (it is generated: regenerate it)."""
    fix = "restore it from version control, or delete it and run 'stackbake lock'"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError(
            [Problem(path, None, None, "", f"cannot read it ({reason}); {fix}")]
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise SpecError([Problem(path, line, col, "", f"{problem}; {fix}")]) from None
    images = data.get("images") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("version") != LOCK_VERSION
        or not isinstance(images, dict | None)
    ):
        raise SpecError([Problem(path, 1, None, "", f"not a version 1 stackbake lock; {fix}")])
    out = {}
    for ref, entry in (images or {}).items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("digest"), str)
            and isinstance(entry.get("platforms", {}), dict)
        ):
            raise SpecError(
                [Problem(path, None, None, f"images.{ref}", f"needs a digest string; {fix}")]
            )
        platforms = {str(k): str(v) for k, v in (entry.get("platforms") or {}).items()}
        out[str(ref)] = LockedImage(entry["digest"], platforms)
    return Lock(path, out, exists=True)
