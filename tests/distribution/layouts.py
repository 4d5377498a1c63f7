"""Small OCI layouts written by hand for the bundle tests: one image (a config and a
layer under a manifest, under an index), and cosign-style `.sig` images."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

from orchestrator.distribution.layout import REF_NAME, blob_path
from orchestrator.distribution.record import MANIFEST, Bundled, BundleManifest

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def put(root: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(root, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def put_json(root: Path, value: Any) -> tuple[str, int]:
    data = json.dumps(value).encode()
    return put(root, data), len(data)


def descriptor(media_type: str, digest: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def image(root: Path, layer: bytes = b"layer bytes " * 100) -> tuple[str, str]:
    """A one-platform image under an index: (index digest, manifest digest)."""
    config, csize = put_json(root, {"os": "linux", "architecture": "amd64"})
    layer_digest = put(root, layer)
    manifest, msize = put_json(
        root,
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config, csize),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer_digest, 12)],
        },
    )
    platform = {"os": "linux", "architecture": "amd64"}
    index, _ = put_json(
        root,
        {
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [descriptor(MANIFEST_TYPE, manifest, msize, platform=platform)],
        },
    )
    return index, manifest


def signature(
    root: Path, repository: str, signed: str, sig_b64: str, payload: bytes
) -> tuple[str, str]:
    """A cosign `.sig` image of `signed`: its layer the payload, the signature its
    annotation. Its index.json name and its manifest's digest."""
    layer = put(root, payload)
    config, csize = put_json(root, {"architecture": "", "os": ""})
    annotations = {"dev.cosignproject.cosign/signature": sig_b64}
    manifest, _ = put_json(
        root,
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config, csize),
            "layers": [
                descriptor(
                    "application/vnd.dev.cosign.simplesigning.v1+json",
                    layer,
                    len(payload),
                    annotations=annotations,
                )
            ],
        },
    )
    return f"{repository}:sha256-{signed.removeprefix('sha256:')}.sig", manifest


def payload_for(repository: str, digest: str) -> bytes:
    critical = {
        "identity": {"docker-reference": repository},
        "image": {"docker-manifest-digest": digest},
        "type": "cosign container image signature",
    }
    return json.dumps({"critical": critical, "optional": None}).encode()


def write_index(root: Path, named: dict[str, tuple[str, str]]) -> None:
    """index.json naming each ref -> (digest, media type); and oci-layout."""
    manifests = []
    for ref, (digest, media_type) in named.items():
        size = blob_path(root, digest).stat().st_size
        manifests.append(descriptor(media_type, digest, size, annotations={REF_NAME: ref}))
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def bundle_of(root: Path, images: list[Bundled], out: Path) -> BundleManifest:
    """The layout at `root` as a bundle at `out`, as `stackbake bundle` writes one."""
    manifest = BundleManifest.of(root, images, "0.test")
    (root / MANIFEST).write_text(json.dumps(manifest.to_json()))
    with tarfile.open(out, "w") as tar:
        for name in manifest.member_names():
            tar.add(root / name, arcname=name)
    return manifest


def flip_byte(bundle: Path, member: str, at: int = 0) -> None:
    with tarfile.open(bundle) as tar:
        offset = tar.getmember(member).offset_data
    with bundle.open("r+b") as f:
        f.seek(offset + at)
        byte = f.read(1)
        f.seek(offset + at)
        f.write(bytes([byte[0] ^ 1]))
