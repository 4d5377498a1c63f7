"""A bundle read back and checked, before anything of it is loaded: every member is one
a bundle may hold (no link, no path outside), every blob hashes to its own name and is
the size `stackbake-bundle.json` records, every other file matches the checksum it
records, nothing is missing that index.json needs, and nothing is there that it does
not list. Any difference refuses the whole bundle, naming what differs."""

from __future__ import annotations

import json
import tarfile
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
    try:
        with tarfile.open(bundle, "r:") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile() or not is_member(name):
                    kind = "file" if member.isfile() else "link or folder"
                    raise BundleRefused(bundle, f"it holds {name!r} ({kind}), which no bundle has")
                if name in hashes:
                    raise BundleRefused(bundle, f"it holds {name!r} twice")
                source = tar.extractfile(member)
                assert source is not None  # a regular file
                dest = into / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with dest.open("wb") as sink:
                    hashes[name] = hash_stream(source, sink)
    except FileNotFoundError:
        raise UsageError(f"{display_path(bundle)}: no such file") from None
    except (tarfile.TarError, EOFError) as exc:
        raise BundleRefused(bundle, f"it cannot be read as a tar ({exc})") from None
    return hashes


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
        if digest not in manifest.blobs:
            raise BundleRefused(bundle, f"blob {digest} is not one {MANIFEST} lists: {DAMAGED}")
        if manifest.blobs[digest] != size:
            why = f"blob {digest} is {size} bytes, {MANIFEST} says {manifest.blobs[digest]}"
            raise BundleRefused(bundle, f"{why}: {DAMAGED}")
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
    """Every image the manifest names is in index.json by that digest, and every blob
    under index.json's entries is there."""
    index = json.loads((root / "index.json").read_bytes())
    named = {e.ref: e for e in entries(index)}
    for image in manifest.images:
        entry = named.get(image.ref)
        if entry is None or entry.digest != image.digest:
            why = f"index.json does not name {image.ref} as {image.digest}"
            raise BundleRefused(bundle, f"{why}: {DAMAGED}")
    for entry in named.values():
        for digest in closure(root, entry.digest, entry.media_type):
            if digest not in manifest.blobs:
                why = f"blob {digest} of {entry.ref} is missing"
                raise BundleRefused(bundle, f"{why}: {DAMAGED}")
