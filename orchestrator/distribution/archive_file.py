"""One archive on disk, as `stackbake archive` writes it: the tar `docker save` makes on
the containerd image store (an OCI image layout: `oci-layout`, `index.json` naming the
image, `blobs/sha256/*`), checked by reading it back whole, and its JSON record.

The check reads the file once, as a stream: the SHA-256 of the whole file, and of every
blob against its name. Then `index.json` must name each saved reference with the image's
digest, and every platform image the image's index lists that is in the file must hold
its config and each layer, at the sizes its manifest gives. An index entry whose
manifest is absent is a platform the store did not have (`docker save` lists it
anyway): not in the archive, and not in the record's platforms.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from orchestrator.atomic import write_atomic
from orchestrator.backend.manifests import platform_of
from orchestrator.errors import EngineError, display_path
from orchestrator.refs import BadReference, normalize

IMAGE_NAME = "io.containerd.image.name"  # docker save's annotation: the full reference
BLOBS = "blobs/sha256/"
CHUNK = 1 << 20
JSON_MAX = 4 << 20  # registries refuse manifests over 4 MiB: larger blobs are layers
RECORD_SCHEMA = "stackbake.archive/v1"


class ArchiveError(EngineError):
    """The archive is not what was saved; nothing of it may be trusted or kept."""


@dataclass(frozen=True)
class Verified:
    """What reading the archive back found."""

    sha256: str  # hex, as sha256sum prints it
    size: int
    platforms: tuple[str, ...]


class _Hashing:
    """A file read through SHA-256: every byte the tar reader takes, and the rest."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.hash, self.size = handle, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.handle.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


@dataclass(frozen=True)
class _Contents:
    sizes: Mapping[str, int]  # digest -> bytes, for every blob whose content matched it
    small: Mapping[str, bytes]  # index.json and blobs that may be JSON: their bytes


def _read(handle: BinaryIO, name: str) -> tuple[_Contents, _Hashing]:
    """Every member once, in order; a blob whose content does not match its name fails."""
    reader = _Hashing(handle)
    sizes: dict[str, int] = {}
    small: dict[str, bytes] = {}
    try:
        stream = cast(BinaryIO, reader)  # a stream's tar reader only ever calls read()
        with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as tar:
            for member in tar:
                source = tar.extractfile(member) if member.isfile() else None
                if source is None:
                    continue
                digest, kept = hashlib.sha256(), bytearray()
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    if member.size <= JSON_MAX and (kept or chunk[:1] == b"{"):
                        kept += chunk
                if member.name.startswith(BLOBS):
                    blob = "sha256:" + member.name.removeprefix(BLOBS)
                    if blob != "sha256:" + digest.hexdigest():
                        raise ArchiveError(f"{name}: blob {blob} does not match its content")
                    sizes[blob] = member.size
                if kept:
                    small[member.name] = bytes(kept)
        reader.drain()
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"{name}: not a readable tar ({exc})") from None
    return _Contents(sizes, small), reader


def _json(contents: _Contents, member: str, name: str) -> dict[str, Any]:
    data = contents.small.get(member)
    try:
        parsed = json.loads(data) if data is not None else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ArchiveError(f"{name}: {member} is missing or not JSON")
    return parsed


def _same(a: str, b: str) -> bool:
    try:
        return normalize(a) == normalize(b)
    except BadReference:
        return a == b


def _named(index: Mapping[str, Any], refs: Sequence[str], digest: str, name: str) -> None:
    """index.json names every reference that was saved, each with the image's digest."""
    entries = [m for m in index.get("manifests", []) if isinstance(m, dict)]
    for ref in refs:
        if not any(
            m.get("digest") == digest
            and _same(str((m.get("annotations") or {}).get(IMAGE_NAME, "")), ref)
            for m in entries
        ):
            raise ArchiveError(f"{name}: index.json does not name {ref} at {digest}")


def _blob(contents: _Contents, descriptor: Mapping[str, Any], what: str, name: str) -> bool:
    """True when the blob is in the archive at the size its descriptor gives."""
    digest = str(descriptor.get("digest", ""))
    size = contents.sizes.get(digest)
    if size is None:
        return False
    if size != descriptor.get("size"):
        said = descriptor.get("size")
        raise ArchiveError(f"{name}: {what} {digest} is {size} bytes, its descriptor says {said}")
    return True


def _platform(contents: _Contents, descriptor: Mapping[str, Any], name: str) -> str | None:
    """The platform of one image manifest (None: an attestation), after checking that
    its config and every layer are in the archive."""
    manifest = _json(contents, BLOBS + str(descriptor["digest"]).removeprefix("sha256:"), name)
    platform = platform_of(descriptor.get("platform") or {})
    config = manifest.get("config") or {}
    if not platform:  # a manifest named on its own (no index): its config says
        hexdigest = str(config.get("digest", "")).removeprefix("sha256:")
        platform = platform_of(_json(contents, BLOBS + hexdigest, name))
    shown = platform if not platform.startswith("unknown") else "attestation"
    for what, blob in [("config", config), *(("layer", x) for x in manifest.get("layers", []))]:
        if not _blob(contents, blob, what, name):
            raise ArchiveError(f"{name}: {shown}: {what} {blob.get('digest')} is missing")
    return None if shown == "attestation" else platform


def _platforms(contents: _Contents, digest: str, name: str) -> tuple[str, ...]:
    top = {"digest": digest, "size": contents.sizes.get(digest)}
    if not _blob(contents, top, "image", name):
        raise ArchiveError(f"{name}: the image {digest} is missing")
    image = _json(contents, BLOBS + digest.removeprefix("sha256:"), name)
    listed = image.get("manifests")
    if not isinstance(listed, list):
        one = _platform(contents, {"digest": digest}, name)
        return (one,) if one else ()
    found: list[str] = []
    for entry in listed:
        if isinstance(entry, dict) and _blob(contents, entry, "manifest", name):
            platform = _platform(contents, entry, name)
            if platform and platform not in found:
                found.append(platform)
    return tuple(found)


def verify_archive(
    path: Path, digest: str, refs: Sequence[str], *, written: str, shown: Path | None = None
) -> Verified:
    """Read the archive at `path` back whole; ArchiveError (named after `shown`) unless
    it is the file `written` (the SHA-256 of what was written) holding the image
    `digest` under every one of `refs`, each platform complete."""
    name = display_path(shown or path)
    with path.open("rb") as handle:
        contents, reader = _read(handle, name)
    if reader.hash.hexdigest() != written:
        raise ArchiveError(
            f"{name}: reads back with sha256 {reader.hash.hexdigest()}, but {written} was "
            "written; the disk did not keep it"
        )
    _named(_json(contents, "index.json", name), refs, digest, name)
    platforms = _platforms(contents, digest, name)
    if not platforms:
        raise ArchiveError(f"{name}: holds no platform of {digest}")
    return Verified(written, reader.size, platforms)


@dataclass(frozen=True)
class Record:
    """The JSON file beside an archive (`NAME.tar.json`): what it holds and its SHA-256."""

    target: str
    name: str  # the image's repository, `localhost:5000/acme/app`
    tag: str
    tags: tuple[str, ...]  # every reference the archive loads as
    digest: str
    platforms: tuple[str, ...]
    date: str  # UTC, RFC 3339
    path: Path
    sha256: str
    size: int
    version: str  # stackbake's

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": RECORD_SCHEMA,
            "target": self.target,
            "name": self.name,
            "tag": self.tag,
            "tags": list(self.tags),
            "digest": self.digest,
            "platforms": list(self.platforms),
            "date": self.date,
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "stackbake_version": self.version,
        }

    def write(self) -> Path:
        where = record_path(self.path)
        write_atomic(where, json.dumps(self.to_json(), indent=2) + "\n")
        return where


def record_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".json")


def recorded_digest(archive: Path) -> str | None:
    """The digest an existing record beside `archive` names; None without a record;
    "" for a record that cannot be read as one."""
    where = record_path(archive)
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return ""
    return str(data.get("digest", "")) if isinstance(data, dict) else ""
