"""OCI labels stackbake adds to every image; labels in the spec win.

The creation date is a label, never a build arg: a build arg that changes every run
would invalidate the layer cache of every RUN after its ARG.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestrator.refs import BadReference, parse_ref

PREFIX = "org.opencontainers.image."


@dataclass(frozen=True)
class Provenance:
    """Where this run's images come from: when, and which commit of which repository."""

    created: str  # RFC 3339, UTC
    revision: str | None
    source: str | None

    def at(self, epoch: int) -> Provenance:
        """The same, created at SOURCE_DATE_EPOCH (a reproducible build)."""
        created = dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")
        return dataclasses.replace(self, created=created.replace("+00:00", "Z"))

    @classmethod
    def collect(cls, folder: Path, created: str) -> Provenance:
        def git(*args: str) -> str | None:
            try:
                out = subprocess.run(
                    ["git", "-C", str(folder), *args],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=True,
                ).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                return None
            return out or None

        return cls(created, git("rev-parse", "HEAD"), git("remote", "get-url", "origin"))


def version_of(tags: tuple[str, ...]) -> str | None:
    for tag in tags:
        try:
            ref = parse_ref(tag)
        except BadReference:
            continue
        if ref.tag and ref.tag != "latest":
            return ref.tag
    return None


def automatic_labels(
    target: str,
    tags: tuple[str, ...],
    provenance: Provenance,
    base_name: str | None,
    base_digest: str | None,
) -> dict[str, str]:
    labels = {f"{PREFIX}created": provenance.created, f"{PREFIX}title": target}
    optional = {
        "revision": provenance.revision,
        "source": provenance.source,
        "version": version_of(tags),
        "base.name": base_name,
        "base.digest": base_digest,
    }
    labels |= {f"{PREFIX}{k}": v for k, v in optional.items() if v}
    return labels
