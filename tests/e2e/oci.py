"""Read images back from a registry over its HTTP API (plain HTTP, no auth), to
check what a build really pushed: index -> per-platform manifest -> layers."""

from __future__ import annotations

import io
import json
import tarfile
import urllib.error
import urllib.request
from typing import Any

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def split_ref(image: str) -> tuple[str, str, str]:
    """'host:port/repo/name:tag' -> (host:port, repo/name, tag)."""
    host, _, rest = image.partition("/")
    repo, _, tag = rest.rpartition(":")
    return host, repo, tag


def fetch_manifest(image: str, ref: str | None = None) -> tuple[str, dict[str, Any]]:
    """The manifest (or index) of IMAGE, or of digest `ref` in its repository, with
    its media type. Every index and manifest type is accepted: a registry answers
    404 for a stored type the Accept header leaves out."""
    host, repo, tag = split_ref(image)
    request = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{ref or tag}",
        headers={"Accept": ", ".join(INDEX_TYPES + MANIFEST_TYPES)},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        doc: dict[str, Any] = json.load(response)
        return doc.get("mediaType") or response.headers.get_content_type(), doc


def has_index(image: str) -> bool:
    """True when the registry holds IMAGE as a multi-platform index."""
    try:
        media_type, _ = fetch_manifest(image)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return False
        raise
    return media_type in INDEX_TYPES


def platform_layers(image: str, platform: str) -> list[str]:
    """Layer digests, bottom first, of IMAGE's manifest for `platform` ('os/arch')."""
    media_type, index = fetch_manifest(image)
    assert media_type in INDEX_TYPES, f"{image} is a single {media_type}, not an index"
    os_name, arch = platform.split("/")[:2]
    digests = [
        entry["digest"]
        for entry in index["manifests"]
        if entry.get("platform", {}).get("os") == os_name
        and entry.get("platform", {}).get("architecture") == arch
    ]
    assert len(digests) == 1, f"{image}: {len(digests)} manifests for {platform}"
    media_type, manifest = fetch_manifest(image, digests[0])
    assert media_type in MANIFEST_TYPES, f"{image} for {platform}: unexpected {media_type}"
    return [layer["digest"] for layer in manifest["layers"]]


def top_layer_file(image: str, platform: str, path: str) -> str:
    """The text of `path` as IMAGE's top layer for `platform` holds it, read from the
    registry's blob (no pull, nothing left in any engine)."""
    host, repo, _ = split_ref(image)
    top = platform_layers(image, platform)[-1]
    with urllib.request.urlopen(f"http://{host}/v2/{repo}/blobs/{top}", timeout=30) as blob:
        data = blob.read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as layer:
        member = layer.extractfile(path.lstrip("/"))
        assert member is not None, f"{image} for {platform}: {path} is not a file"
        return member.read().decode()
