"""Registry lookups without a pull: which digest a tag names, many tags at once.

`docker buildx imagetools inspect` is the client: it reads the engine's credentials
(config.json and its helpers) and speaks to plain-HTTP localhost registries as
buildx does, where a hand-written HTTP client would re-implement registry auth. One
lookup costs ~0.08 s of process start, so lookups run in a thread pool.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

LOOKUPS_AT_ONCE = 8


def manifest_digest(ref: str, environ: Mapping[str, str]) -> str | None:
    """The digest `ref` names in its registry; None when absent or unreachable."""
    try:
        done = subprocess.run(
            ["docker", "buildx", "imagetools", "inspect", ref, "--format", "{{json .Manifest}}"],
            capture_output=True,
            text=True,
            env=dict(environ),
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        digest = json.loads(done.stdout).get("digest")
    except (ValueError, AttributeError):
        return None
    return str(digest) if digest else None


def manifest_digests(refs: Sequence[str], environ: Mapping[str, str]) -> dict[str, str]:
    """`manifest_digest` of each distinct ref, in parallel; absent ones left out."""
    unique = list(dict.fromkeys(refs))
    if not unique:
        return {}
    with ThreadPoolExecutor(min(LOOKUPS_AT_ONCE, len(unique))) as pool:
        digests = list(pool.map(lambda r: manifest_digest(r, environ), unique))
    found = dict(zip(unique, digests, strict=True))
    return {ref: digest for ref, digest in found.items() if digest}
