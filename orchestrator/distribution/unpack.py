"""A bundle read back and checked, before anything of it is loaded: every member is one
a bundle may hold (no link, no path outside), every blob hashes to its own name and is
the size `stackbake-bundle.json` records, every other file matches the checksum it
records, nothing is missing that index.json needs, and nothing is there that it does
not list. Any difference refuses the whole bundle, naming what differs."""

from __future__ import annotations

import contextlib
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

from orchestrator.distribution.layout import (
    BLOB,
    blob_path,
    closure,
    entries,
    hash_stream,
)
from orchestrator.distribution.record import MANIFEST, BundleManifest, is_member
from orchestrator.errors import UsageError, display_path
from orchestrator.refs import BadReference, parse_ref

DAMAGED = "the bundle was changed or damaged after it was made"


class BundleRefused(UsageError):
    """A bundle that is not exactly what `stackbake bundle` wrote: nothing is loaded."""

    def __init__(self, bundle: Path, why: str) -> None:
        super().__init__(f"{display_path(bundle)}: {why}; nothing was loaded")


def unpack(bundle: Path, into: Path) -> BundleManifest:
    """The bundle extracted into `into` (an empty folder) and checked whole; its manifest.
    BundleRefused naming the first member, blob or file that is not as recorded."""
    hashes = _extract(bundle, into)
    try:
        manifest = BundleManifest.from_json(json.loads((into / MANIFEST).read_bytes()))
    except FileNotFoundError:
        why = f"not a stackbake bundle (no {MANIFEST}): make one with 'stackbake bundle'"
        raise BundleRefused(bundle, why) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BundleRefused(bundle, f"its {MANIFEST} cannot be read ({exc})") from None
    _check(bundle, into, manifest, hashes)
    return manifest


def _extract(bundle: Path, into: Path) -> dict[str, tuple[str, int]]:
    """Each member to its place, hashed on the way: name -> (sha256:<hex>, size)."""
    hashes: dict[str, tuple[str, int]] = {}
    listed: Mapping[str, int] | None = None  # the manifest's blobs, once it is read (first)
    try:
        with tarfile.open(bundle, "r:") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile() or not is_member(name):
                    kind = "file" if member.isfile() else "link or folder"
                    shown = name if len(name) <= 120 else f"{name[:117]}..."
                    raise BundleRefused(bundle, f"it holds {shown!r} ({kind}), which no bundle has")
                if name in hashes:
                    raise BundleRefused(bundle, f"it holds {name!r} twice")
                _listed(bundle, name, member.size, listed)  # before a byte of it is written
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                dest = into / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with dest.open("wb") as sink:
                    hashes[name] = hash_stream(source, sink)
                if name == MANIFEST and len(hashes) == 1:
                    listed = _blobs_of(dest)
    except FileNotFoundError:
        raise UsageError(f"{display_path(bundle)}: no such file") from None
    except (tarfile.TarError, EOFError) as exc:
        raise BundleRefused(bundle, f"it cannot be read as a tar ({exc})") from None
    return hashes


def _blobs_of(manifest: Path) -> Mapping[str, int] | None:
    try:
        return BundleManifest.from_json(json.loads(manifest.read_bytes())).blobs
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # said once the whole bundle is read


def _listed(bundle: Path, name: str, size: int, listed: Mapping[str, int] | None) -> None:
    """A blob the manifest (read first) does not list, or lists with another size, is
    refused before it is extracted: a bundle cannot fill the disk with what it lacks."""
    blob = BLOB.match(name)
    if listed is None or blob is None:
        return
    digest = f"sha256:{blob[1]}"
    if digest not in listed:
        raise BundleRefused(bundle, f"blob {digest} is not one {MANIFEST} lists: {DAMAGED}")
    if listed[digest] != size:
        why = f"blob {digest} is {size} bytes, {MANIFEST} says {listed[digest]}"
        raise BundleRefused(bundle, f"{why}: {DAMAGED}")


def _check(
    bundle: Path, root: Path, manifest: BundleManifest, hashes: dict[str, tuple[str, int]]
) -> None:
    for name, (actual, size) in sorted(hashes.items()):
        blob = BLOB.match(name)
        if blob is None:
            continue
        digest = f"sha256:{blob[1]}"
        if actual != digest:
            why = f"blob {digest} does not match its checksum (its content hashes to {actual})"
            raise BundleRefused(bundle, f"{why}: {DAMAGED}")
        _listed(bundle, name, size, manifest.blobs)
    for digest in manifest.blobs:
        if str(blob_path(Path(), digest)) not in hashes:
            raise BundleRefused(bundle, f"blob {digest} is missing: {DAMAGED}")
    for name, recorded in manifest.files.items():
        if name not in hashes:
            raise BundleRefused(bundle, f"{name} is missing: {DAMAGED}")
        if hashes[name][0] != recorded:
            why = f"{name} does not match the checksum {MANIFEST} records"
            raise BundleRefused(bundle, f"{why}: {DAMAGED}")
    _check_index(bundle, root, manifest)


def _check_index(bundle: Path, root: Path, manifest: BundleManifest) -> None:
    """index.json names exactly the images the manifest does, by the same digests, each
    once, plus cosign's signatures and attestations of those images' own digests, and
    nothing else; every blob under each entry is there."""
    try:
        index = json.loads((root / "index.json").read_bytes())
        named = entries(index)
        if len(named) != len(index["manifests"]):
            raise ValueError("an entry has no name")
        repositories = {e.ref: parse_ref(e.ref).repository for e in named}
    except (ValueError, KeyError, TypeError, AttributeError, BadReference) as exc:
        raise BundleRefused(bundle, f"its index.json is not one a bundle has ({exc})") from None
    refs = [e.ref for e in named]
    twice = next((r for r in refs if refs.count(r) > 1), None)
    if twice:
        raise BundleRefused(bundle, f"index.json names {twice} twice: {DAMAGED}")
    images = {i.ref: i.digest for i in manifest.images}
    for entry in named:
        if entry.cosign is None and images.get(entry.ref) != entry.digest:
            why = f"index.json names {entry.ref} as {entry.digest}, which {MANIFEST} does not"
            raise BundleRefused(bundle, f"{why}: {DAMAGED}")
    loaded = {e.ref for e in named if e.cosign is None}
    for image in manifest.images:
        if image.ref not in loaded:
            why = f"index.json does not name {image.ref} as {image.digest}"
            raise BundleRefused(bundle, f"{why}: {DAMAGED}")
    own = _own_digests(root, manifest, repositories)
    for entry in named:
        if entry.cosign and (repositories[entry.ref], entry.cosign[0]) not in own:
            why = f"index.json names {entry.ref}, which signs or attests no image of the bundle"
            raise BundleRefused(bundle, f"{why}: {DAMAGED}")
        for digest in closure(root, entry.digest, entry.media_type):
            if digest not in manifest.blobs:
                why = f"blob {digest} of {entry.ref} is missing"
                raise BundleRefused(bundle, f"{why}: {DAMAGED}")


def _own_digests(
    root: Path, manifest: BundleManifest, repositories: dict[str, str]
) -> set[tuple[str, str]]:
    """(repository, digest) of each image's index and of every manifest it lists: what
    a signature or an attestation in the bundle may be of."""
    own = set()
    for image in manifest.images:
        repository = repositories.get(image.ref) or parse_ref(image.ref).repository
        own.add((repository, image.digest))
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            listed = json.loads(blob_path(root, image.digest).read_bytes()).get("manifests", [])
            own |= {(repository, str(m["digest"])) for m in listed}
    return own
