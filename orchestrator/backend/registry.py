"""Registry lookups without a pull: what a tag names, for many tags at once.

`docker buildx imagetools inspect` is the client: it reads the engine's credentials
(config.json and its helpers) and speaks to plain-HTTP localhost registries as
buildx does, where a hand-written HTTP client would re-implement registry auth. One
lookup costs ~0.08 s of process start, so lookups run in a thread pool.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orchestrator.backend.base import RemoteImage
from orchestrator.errors import EngineError

LOOKUPS_AT_ONCE = 8


def _platform(p: Mapping[str, Any]) -> str:
    parts = [p.get("os", ""), p.get("architecture", ""), p.get("variant", "")]
    return "/".join(x for x in parts if x)


def remote_image(inspected: Mapping[str, Any]) -> RemoteImage | None:
    """From `imagetools inspect --format '{{json .}}'`: an index lists its platforms
    (attestations, `unknown/unknown`, are not platforms); a single manifest's
    platform is its config's."""
    manifest = inspected.get("manifest") or {}
    digest = manifest.get("digest")
    if not digest:
        return None
    if "manifests" in manifest:
        platforms = {
            _platform(m.get("platform") or {}): m["digest"]
            for m in manifest["manifests"]
            if (m.get("platform") or {}).get("os", "unknown") != "unknown"
        }
    else:
        image = inspected.get("image") or {}
        platforms = {_platform(image): digest} if image.get("os") else {}
    return RemoteImage(str(digest), dict(sorted(platforms.items())))


def lookup(ref: str, environ: Mapping[str, str], *, tries: int = 3) -> RemoteImage | None:
    """The image `ref` names in its registry; None when absent or still unreachable after
    `tries` (a reset connection or a 5xx is tried again, a "not found" is an answer).
    No docker client or no buildx plugin is an EngineError, not an absent image."""
    for attempt in range(1, tries + 1):
        try:
            done = subprocess.run(
                ["docker", "buildx", "imagetools", "inspect", ref, "--format", "{{json .}}"],
                capture_output=True,
                text=True,
                env=dict(environ),
                check=False,
                timeout=60,
            )
        except OSError as exc:
            raise EngineError(f"cannot run the docker client ({exc.strerror or exc})") from None
        except subprocess.TimeoutExpired:
            return None
        if "is not a docker command" in done.stderr:
            raise EngineError(
                "the docker buildx plugin is not installed (scripts/engine-up.sh installs it)"
            )
        if done.returncode == 0:
            try:
                return remote_image(json.loads(done.stdout))
            except (ValueError, AttributeError, TypeError, KeyError):
                return None
        if "not found" in done.stderr or attempt == tries:
            return None
        time.sleep(0.2 * attempt)
    return None


def lookup_all(refs: Sequence[str], environ: Mapping[str, str]) -> dict[str, RemoteImage]:
    """`lookup` of each distinct ref, in parallel; absent ones left out."""
    unique = list(dict.fromkeys(refs))
    if not unique:
        return {}
    with ThreadPoolExecutor(min(LOOKUPS_AT_ONCE, len(unique))) as pool:
        images = list(pool.map(lambda r: lookup(r, environ), unique))
    found = dict(zip(unique, images, strict=True))
    return {ref: image for ref, image in found.items() if image}
