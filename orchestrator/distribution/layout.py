"""An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/...`) as a
bundle holds it: its named entries, what each manifest refers to, and the SHA-256 of
every file, which is what a bundle's own manifest records and its load checks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

REF_NAME = "org.opencontainers.image.ref.name"
BLOB = re.compile(r"^blobs/sha256/([0-9a-f]{64})$")
# cosign's tag scheme: the signature (.sig) or attestations (.att) of DIGEST are the tag
# `sha256-<hex>.sig` in the image's own repository.
COSIGN_TAG = re.compile(r"^sha256-([0-9a-f]{64})\.(sig|att)$")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One named manifest of the layout's index.json."""

    ref: str  # the full name it had: localhost:5000/acme/app:1.2
    digest: str
    media_type: str

    @property
    def cosign(self) -> tuple[str, str] | None:
        """(digest it signs or attests, "sig" | "att") for one of cosign's tags."""
        tag = self.ref.rsplit(":", 1)[-1]
        found = COSIGN_TAG.match(tag)
        return (f"sha256:{found[1]}", found[2]) if found else None


def entries(index: Mapping[str, Any]) -> list[Entry]:
    return [
        Entry(str(m["annotations"][REF_NAME]), str(m["digest"]), str(m.get("mediaType", "")))
        for m in index.get("manifests", [])
        if REF_NAME in (m.get("annotations") or {})
    ]


def blob_path(root: Path, digest: str) -> Path:
    return root / "blobs" / "sha256" / digest.removeprefix("sha256:")


def read_json(root: Path, digest: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(blob_path(root, digest).read_bytes())
    return data


MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


def referenced(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(digest, media type) of what a manifest or an index names: its config and
    layers, or its manifests (platforms and attestation manifests)."""
    parts = [manifest.get("config") or {}, *manifest.get("layers", [])]
    parts += manifest.get("manifests", [])
    return [(str(p["digest"]), str(p.get("mediaType", ""))) for p in parts if p.get("digest")]


def closure(root: Path, digest: str, media_type: str) -> Iterator[str]:
    """`digest` and every blob under it, each once: an index's manifests, their configs
    and layers. A blob that is missing is yielded too (the caller checks each)."""
    seen: set[str] = set()
    todo = [(digest, media_type)]
    while todo:
        d, kind = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        yield d
        path = blob_path(root, d)
        if kind in MANIFEST_TYPES and path.is_file():
            # Not a manifest after all: its checksum is what is checked.
            with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
                todo += referenced(json.loads(path.read_bytes()))


def hash_stream(source: IO[bytes], sink: IO[bytes] | None = None) -> tuple[str, int]:
    """sha256:<hex> and size of what `source` reads, copied into `sink` on the way."""
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return f"sha256:{digest.hexdigest()}", size


def hash_file(path: Path) -> tuple[str, int]:
    with path.open("rb") as f:
        return hash_stream(f)
