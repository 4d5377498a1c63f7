"""A registry's answer for one tag straight from its HTTP API, where that needs no
credentials: one GET of the manifest (and of the config of a single-platform image),
a few milliseconds, where `docker buildx imagetools inspect` starts two Go programs
(~0.1 s of CPU each: a shard's no-op on 30 targets was 3.5 s of lookups on 2 cores).

Only for a registry that answers without a login (a registry on this host's loopback
over plain HTTP, as docker and buildx reach it, or any registry over HTTPS that serves
anonymous pulls). Anything else, a 401 first of all, is `None`: "ask imagetools",
which reads the engine's credentials and speaks every registry's auth. So stackbake
never handles a credential here.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.backend.base import RemoteImage
from orchestrator.refs import BadReference, is_loopback, parse_ref

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
TIMEOUT_S = 10


def _base(domain: str) -> str:
    scheme = "http" if is_loopback(domain) else "https"
    return f"{scheme}://{domain}/v2"


def _get(url: str, accept: str) -> tuple[int, dict[str, Any], str]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            body = json.loads(answer.read() or b"{}")
            return answer.status, body, answer.headers.get("Docker-Content-Digest", "")
    except urllib.error.HTTPError as exc:
        return exc.code, {}, ""


def platform_of(p: Mapping[str, Any]) -> str:
    """`os/architecture[/variant]` of an OCI platform object (or an image config)."""
    parts = [p.get("os", ""), p.get("architecture", ""), p.get("variant", "")]
    return "/".join(x for x in parts if x)


def index_platforms(entries: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """An index's platforms (attestations, `unknown/unknown`, are not), each to the
    digest of its manifest, sorted."""
    platforms = {
        platform_of(m.get("platform") or {}): m["digest"]
        for m in entries
        if (m.get("platform") or {}).get("os", "unknown") != "unknown"
    }
    return dict(sorted(platforms.items()))


def fetch(ref: str) -> RemoteImage | bool | None:
    """The image `ref` names (REPO:TAG); False when the registry says it has none;
    None when this way cannot tell (ask imagetools)."""
    try:
        parsed = parse_ref(ref)
    except BadReference:
        return None
    if parsed.tag is None or parsed.digest is not None or parsed.domain == "docker.io":
        return None  # Docker Hub wants a token even for anonymous pulls: imagetools
    base = f"{_base(parsed.domain)}/{parsed.path}"
    try:
        status, body, digest = _get(f"{base}/manifests/{parsed.tag}", ACCEPT)
        if status == 404:
            return False
        if status != 200 or not digest:
            return None  # 401 (a login), 5xx, a proxy: imagetools says it properly
        if "manifests" in body:
            return RemoteImage(digest, index_platforms(body["manifests"]))
        config = (body.get("config") or {}).get("digest")
        status, image, _ = _get(f"{base}/blobs/{config}", "application/json")
        if status != 200 or not image.get("os"):
            return None
        return RemoteImage(digest, {platform_of(image): digest})
    except (OSError, ValueError, KeyError, TypeError, AttributeError, http.client.HTTPException):
        return None  # refused, reset, cut short, not JSON: imagetools, with its retries
