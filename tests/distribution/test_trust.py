"""A bundle's signatures checked offline by the real cosign (`verify-blob`), with a key
pair made for the test: signed by the key passes; another key, a payload naming
another digest, or no signature at all is a problem naming the target and the digest."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.distribution.record import Bundled, BundleManifest
from orchestrator.distribution.trust import verify_signatures
from tests.distribution.layouts import (
    INDEX,
    MANIFEST_TYPE,
    image,
    payload_for,
    signature,
    write_index,
)

REPO = "localhost:5000/acme/app"
REF = f"{REPO}:1.2"
SIGN_BLOB = ["cosign", "sign-blob", "--tlog-upload=false", "--yes"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("cosign") is None:
        if os.environ.get("CI", "") not in ("", "0", "false"):
            pytest.fail("cosign is not installed (scripts/engine-up.sh installs it)")
        pytest.skip("cosign is not installed (scripts/engine-up.sh installs it)")
    folder = tmp_path_factory.mktemp("keys")
    for name in ("ours", "theirs"):
        (folder / name).mkdir()
        subprocess.run(
            ["cosign", "generate-key-pair"],
            cwd=folder / name,
            env={**os.environ, "COSIGN_PASSWORD": ""},
            check=True,
            capture_output=True,
        )
    return folder


def signed(keys: Path, key: str, payload: bytes, tmp_path: Path) -> str:
    (tmp_path / "payload").write_bytes(payload)
    done = subprocess.run(
        [*SIGN_BLOB, "--key", str(keys / key / "cosign.key"), str(tmp_path / "payload")],
        env={**os.environ, "COSIGN_PASSWORD": ""},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def layout(tmp_path: Path, keys: Path, sign_with: dict[str, str]) -> tuple[Path, BundleManifest]:
    """One image whose digests are signed as `sign_with` says: "index" / "manifest" ->
    the key ("ours", "theirs"), or "other:<key>" for a payload naming another digest."""
    root = tmp_path / "layout"
    index, manifest = image(root)
    named = {REF: (index, INDEX)}
    for which, how in sign_with.items():
        digest = index if which == "index" else manifest
        names = ("sha256:" + "1" * 64) if how.startswith("other:") else digest
        key = how.removeprefix("other:")
        sig = signed(keys, key, payload_for(REPO, names), tmp_path)
        ref, sig_manifest = signature(root, REPO, digest, sig, payload_for(REPO, names))
        named[ref] = (sig_manifest, MANIFEST_TYPE)
    write_index(root, named)
    images = (Bundled("app", REF, index, {"linux/amd64": manifest}),)
    return root, BundleManifest("now", "0.test", images, {}, {})


def test_signed_by_the_key_verifies(tmp_path: Path, keys: Path):
    root, manifest = layout(tmp_path, keys, {"index": "ours", "manifest": "ours"})
    assert verify_signatures(root, manifest, str(keys / "ours/cosign.pub")) == []


def test_each_unverified_digest_is_named(tmp_path: Path, keys: Path):
    root, manifest = layout(tmp_path, keys, {"index": "theirs"})
    index, platform = manifest.images[0].digest, manifest.images[0].platforms["linux/amd64"]
    public = str(keys / "ours/cosign.pub")
    assert verify_signatures(root, manifest, public) == [
        f"app: {REF}: the index: no signature matches {public}",
        f"app: {REF}: manifest {platform[:19]} has no signature in the bundle",
    ]
    assert index != platform


def test_a_signed_payload_naming_another_digest_does_not_count(tmp_path: Path, keys: Path):
    root, manifest = layout(tmp_path, keys, {"index": "other:ours", "manifest": "ours"})
    public = str(keys / "ours/cosign.pub")
    assert verify_signatures(root, manifest, public) == [
        f"app: {REF}: the index: no signature matches {public}"
    ]


def test_the_signature_annotation_is_what_is_checked(tmp_path: Path, keys: Path):
    root, manifest = layout(tmp_path, keys, {"index": "ours", "manifest": "ours"})
    forged = base64.b64encode(b"\x30" * 70).decode()
    for path in (root / "blobs/sha256").iterdir():
        text = path.read_bytes()
        if b"dev.cosignproject.cosign/signature" in text and b'"layers"' in text:
            start = text.index(b'signature": "') + len(b'signature": "')
            end = text.index(b'"', start)
            path.write_bytes(text[:start] + forged.encode() + text[end:])
    problems = verify_signatures(root, manifest, str(keys / "ours/cosign.pub"))
    assert len(problems) == 2
    assert all(p.endswith(f"no signature matches {keys / 'ours/cosign.pub'}") for p in problems)


def test_the_bundle_manifest_is_signed_and_any_change_to_it_is_caught(tmp_path: Path, keys: Path):
    from orchestrator.distribution.seal import manifest_verified, sign_manifest
    from orchestrator.spec.gates import Signing

    manifest = tmp_path / "stackbake-bundle.json"
    manifest.write_text('{"images": [{"target": "app"}]}\n')
    ours, theirs = str(keys / "ours/cosign.pub"), str(keys / "theirs/cosign.pub")
    assert manifest_verified(tmp_path, manifest, ours) == (
        f"its stackbake-bundle.json is not signed (a bundle of targets with sign: is): {ours} "
        "cannot vouch for it"
    )
    signing = Signing(key=str(keys / "ours/cosign.key"))
    assert sign_manifest(manifest, signing, {**os.environ, "COSIGN_PASSWORD": ""}).is_file()
    assert manifest_verified(tmp_path, manifest, ours) == ""
    assert manifest_verified(tmp_path, manifest, theirs) == (
        f"its stackbake-bundle.json is not signed by {theirs}"
    )
    manifest.write_text('{"images": [{"target": null}]}\n')  # a target passed off as a base
    assert manifest_verified(tmp_path, manifest, ours) == (
        f"its stackbake-bundle.json is not signed by {ours}"
    )
