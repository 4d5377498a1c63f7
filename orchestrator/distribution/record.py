"""What a bundle holds and says about itself: `stackbake-bundle.json`, the images in it,
and the one-line accounts of writing and loading one."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.distribution.layout import BLOB, blob_path, hash_file

MANIFEST = "stackbake-bundle.json"
SIGNED = "stackbake-bundle.json.sig"  # its cosign signature (distribution/seal.py)
FORMAT = 1
LAYOUT_FILES = ("oci-layout", "index.json")
OPTIONAL_FILES = ("builds.lock",)


@dataclass(frozen=True)
class Bundled:
    """One image of a bundle: a target's (its first tag) or an external base's."""

    target: str  # "" for an external base
    ref: str  # its name in the layout: the registry name it was copied from
    digest: str
    platforms: Mapping[str, str] = field(default_factory=dict)  # platform -> manifest
    signatures: tuple[str, ...] = ()  # cosign tags in the same repository
    attestations: tuple[str, ...] = ()

    def with_cosign(self, tags: Sequence[str]) -> Bundled:
        return dataclasses.replace(
            self,
            signatures=tuple(t for t in tags if t.endswith(".sig")),
            attestations=tuple(t for t in tags if t.endswith(".att")),
        )

    def describe(self) -> str:
        """`shop-api: localhost:5000/acme/shop-api:1.4.2 (sha256:eb8b3b0f9d39) linux/amd64,
        linux/arm64, 5 signature(s), 2 attestation(s)`."""
        who = self.target or "external base"
        extra = ""
        if self.target:
            extra = (
                f", {len(self.signatures)} signature(s), {len(self.attestations)} attestation(s)"
            )
        platforms = ", ".join(self.platforms) or "no platform"
        return f"{who}: {self.ref} ({self.digest[:19]}) {platforms}{extra}"

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target or None,
            "ref": self.ref,
            "digest": self.digest,
            "platforms": dict(self.platforms),
            "signatures": list(self.signatures),
            "attestations": list(self.attestations),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bundled:
        return cls(
            str(data.get("target") or ""),
            str(data["ref"]),
            str(data["digest"]),
            {str(k): str(v) for k, v in dict(data.get("platforms") or {}).items()},
            tuple(str(t) for t in data.get("signatures") or ()),
            tuple(str(t) for t in data.get("attestations") or ()),
        )


@dataclass(frozen=True)
class BundleManifest:
    """`stackbake-bundle.json`: the images, and the SHA-256 and size of every other
    file (the layout's own files, builds.lock, each blob)."""

    created: str
    stackbake: str
    images: tuple[Bundled, ...]
    files: Mapping[str, str]  # name -> sha256:<hex>
    blobs: Mapping[str, int]  # sha256:<hex> -> size (a blob is named by its checksum)

    @classmethod
    def of(cls, root: Path, images: Sequence[Bundled], version: str) -> BundleManifest:
        names = [*LAYOUT_FILES, *(n for n in OPTIONAL_FILES if (root / n).is_file())]
        files = {name: hash_file(root / name)[0] for name in names}
        blobs = {}
        for path in sorted((root / "blobs" / "sha256").iterdir()):
            blobs[f"sha256:{path.name}"] = path.stat().st_size
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return cls(now, version, tuple(images), files, blobs)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created": self.created,
            "stackbake": self.stackbake,
            "images": [i.to_json() for i in self.images],
            "files": dict(self.files),
            "blobs": dict(self.blobs),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BundleManifest:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, this stackbake reads {FORMAT}")
        return cls(
            str(data["created"]),
            str(data["stackbake"]),
            tuple(Bundled.from_json(i) for i in data["images"]),
            {str(k): str(v) for k, v in dict(data["files"]).items()},
            {str(k): int(v) for k, v in dict(data["blobs"]).items()},
        )

    def member_names(self, *, signed: bool = False) -> list[str]:
        """Every tar member a bundle holds, its own manifest (and its signature) first."""
        blobs = [str(blob_path(Path(), d)) for d in sorted(self.blobs)]
        return [MANIFEST, *([SIGNED] if signed else []), *self.files, *blobs]


def is_member(name: str) -> bool:
    """A name a bundle may hold: anything else (a path outside, a link) is refused."""
    names = (MANIFEST, SIGNED, *LAYOUT_FILES, *OPTIONAL_FILES)
    return name in names or BLOB.match(name) is not None


@dataclass(frozen=True)
class Made:
    path: Path
    images: tuple[Bundled, ...]
    blobs: int
    size: int
    seconds: float

    def summary(self) -> str:
        targets = [i for i in self.images if i.target]
        platforms = sorted({p for i in self.images for p in i.platforms})
        sigs = sum(len(i.signatures) for i in targets)
        atts = sum(len(i.attestations) for i in targets)
        return (
            f"wrote {self.path}: {len(targets)} target(s) and {len(self.images) - len(targets)} "
            f"base(s) on {', '.join(platforms)}, {sigs} signature(s), {atts} attestation(s), "
            f"{self.blobs} blobs, {self.size / 1e6:.1f} MB in {self.seconds:.1f} s"
        )
