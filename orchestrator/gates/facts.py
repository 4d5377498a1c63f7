"""What one platform of an image is, read from trivy's JSON report of it: its size, its
layers, its config (user, labels, healthcheck), and what trivy found.

`Metadata.Size` is the sum of the bytes trivy read from each layer's uncompressed tar
stream (trivy's `Layers.TotalSize()`, every layer counted through a counting reader,
tar headers and end padding included): the image's uncompressed size, within a few kB a
layer of the sum of its files. `ImageConfig` is the image's config as the source gave
it; trivy's containerd source drops `Healthcheck` (it reads the config into the OCI
type, which has none), so it is then taken from the history BuildKit and the classic
builder write (`HEALTHCHECK &{["CMD-SHELL" "true"] ...}`), the last one winning."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_HISTORY = re.compile(r'(?:^|#\(nop\)\s+)HEALTHCHECK\s+&\{\[\s*"([^"]*)"')


class ReportError(ValueError):
    """trivy's output is not a report."""


@dataclass(frozen=True)
class Facts:
    platform: str
    size: int  # bytes, uncompressed
    layers: int  # the config's diff ids
    user: str  # as the config says: "" when unset
    labels: Mapping[str, str] = field(default_factory=dict)
    # The healthcheck's test (["CMD-SHELL", "curl ..."], ["NONE"]); None: none set.
    healthcheck: tuple[str, ...] | None = None
    artifact: str = ""  # the name trivy reports the image under
    results: tuple[Mapping[str, Any], ...] = ()  # trivy's Results
    report: str = ""  # the report as trivy wrote it (an SBOM is converted from it)


def facts_from(text: str, platform: str) -> Facts:
    """The facts of `platform`, from trivy's `--format json` output."""
    try:
        data = json.loads(text)
        meta = data["Metadata"]
        image = meta.get("ImageConfig") or {}
        config = image.get("config") or {}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReportError(f"trivy's output is not a JSON report ({exc})") from None
    if not isinstance(config, dict):
        raise ReportError("trivy's report has no image config")
    return Facts(
        platform=platform,
        size=int(meta.get("Size") or 0),
        layers=len((image.get("rootfs") or {}).get("diff_ids") or ()),
        user=str(config.get("User") or ""),
        labels={str(k): str(v) for k, v in (config.get("Labels") or {}).items()},
        healthcheck=_healthcheck(config, image.get("history") or ()),
        artifact=str(data.get("ArtifactName") or ""),
        results=tuple(r for r in data.get("Results") or () if isinstance(r, dict)),
        report=text,
    )


def _healthcheck(config: Mapping[str, Any], history: Any) -> tuple[str, ...] | None:
    written = config.get("Healthcheck")
    if isinstance(written, dict) and written.get("Test"):
        return tuple(str(t) for t in written["Test"])
    for entry in reversed(list(history)):
        found = _HISTORY.search(str((entry or {}).get("created_by", "")))
        if found:
            return (found[1],)  # its kind: CMD, CMD-SHELL or NONE
    return None
