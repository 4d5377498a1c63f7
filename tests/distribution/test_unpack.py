"""A bundle is checked whole before anything is loaded: each way of changing one is
refused with a message naming what changed."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from orchestrator.distribution.layout import blob_path
from orchestrator.distribution.record import Bundled
from orchestrator.distribution.unpack import BundleRefused, unpack
from orchestrator.errors import UsageError
from tests.distribution.layouts import INDEX, bundle_of, flip_byte, image, put, write_index

REF = "localhost:5000/acme/app:1.2"
DAMAGED = "the bundle was changed or damaged after it was made; nothing was loaded"


@pytest.fixture
def made(tmp_path: Path) -> tuple[Path, str, str]:
    """A bundle of one image: (its path, the index digest, the manifest digest)."""
    root = tmp_path / "layout"
    index, manifest = image(root)
    write_index(root, {REF: (index, INDEX)})
    (root / "builds.lock").write_text("version: 1\nimages: {}\n")
    images = [Bundled("app", REF, index, {"linux/amd64": manifest})]
    bundle_of(root, images, tmp_path / "tree.tar")
    return tmp_path / "tree.tar", index, manifest


def refused(bundle: Path, into: Path) -> str:
    into.mkdir()
    with pytest.raises(BundleRefused) as caught:
        unpack(bundle, into)
    return str(caught.value)


def test_an_intact_bundle_unpacks_with_its_manifest(made: tuple[Path, str, str], tmp_path: Path):
    bundle, index, _ = made
    (tmp_path / "out").mkdir()
    manifest = unpack(bundle, tmp_path / "out")
    assert [(i.target, i.ref, i.digest) for i in manifest.images] == [("app", REF, index)]
    assert sorted(manifest.files) == ["builds.lock", "index.json", "oci-layout"]
    assert len(manifest.blobs) == 4
    assert (tmp_path / "out/builds.lock").read_text() == "version: 1\nimages: {}\n"


def test_one_flipped_byte_of_a_layer_names_the_blob(made: tuple[Path, str, str], tmp_path: Path):
    bundle, _, _ = made
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    layer = next(
        n
        for n in names
        if n.startswith("blobs/")
        and (tmp_path / "layout" / n).read_bytes().startswith(b"layer bytes")
    )
    flip_byte(bundle, layer, at=5)
    digest = "sha256:" + layer.rsplit("/", 1)[1]
    message = refused(bundle, tmp_path / "out")
    assert message.startswith(f"{bundle}: blob {digest} does not match its checksum (its ")
    assert message.endswith(f"): {DAMAGED}")


def test_a_changed_index_json_is_refused(made: tuple[Path, str, str], tmp_path: Path):
    bundle, _, _ = made
    flip_byte(bundle, "index.json", at=3)
    assert refused(bundle, tmp_path / "out") == (
        f"{bundle}: index.json does not match the checksum stackbake-bundle.json records: {DAMAGED}"
    )


def rewritten(bundle: Path, drop: str = "", add: tuple[str, bytes] | None = None) -> None:
    """The bundle without member `drop`, with member `add` appended."""
    with tarfile.open(bundle) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar if m.name != drop]  # type: ignore[union-attr]
    with tarfile.open(bundle, "w") as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data))
        if add:
            info = tarfile.TarInfo(add[0])
            info.size = len(add[1])
            tar.addfile(info, io.BytesIO(add[1]))


def test_a_missing_blob_is_refused(made: tuple[Path, str, str], tmp_path: Path):
    bundle, _, manifest = made
    rewritten(bundle, drop=str(blob_path(Path(), manifest)))
    assert refused(bundle, tmp_path / "out") == f"{bundle}: blob {manifest} is missing: {DAMAGED}"


def test_an_extra_blob_is_refused(made: tuple[Path, str, str], tmp_path: Path):
    bundle, _, _ = made
    extra = put(tmp_path / "elsewhere", b"smuggled")
    rewritten(bundle, add=(str(blob_path(Path(), extra)), b"smuggled"))
    assert refused(bundle, tmp_path / "out") == (
        f"{bundle}: blob {extra} is not one stackbake-bundle.json lists: {DAMAGED}"
    )
    assert not blob_path(tmp_path / "out", extra).exists()  # refused before it was written


def test_a_path_outside_and_a_link_are_refused(made: tuple[Path, str, str], tmp_path: Path):
    bundle, _, _ = made
    rewritten(bundle, add=("../evil", b"x"))
    assert refused(bundle, tmp_path / "a") == (
        f"{bundle}: it holds '../evil' (file), which no bundle has; nothing was loaded"
    )
    assert not (tmp_path / "evil").exists()
    rewritten(bundle, drop="../evil")
    with tarfile.open(bundle, "a") as tar:
        link = tarfile.TarInfo("blobs/sha256/" + "0" * 64)
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    assert refused(bundle, tmp_path / "b") == (
        f"{bundle}: it holds 'blobs/sha256/{'0' * 64}' (link or folder), which no bundle has; "
        "nothing was loaded"
    )


def test_not_a_bundle(tmp_path: Path):
    (tmp_path / "plain.tar").write_bytes(b"not a tar at all" * 100)
    assert refused(tmp_path / "plain.tar", tmp_path / "a").startswith(
        f"{tmp_path / 'plain.tar'}: it cannot be read as a tar ("
    )
    with tarfile.open(tmp_path / "layout.tar", "w") as tar:
        info = tarfile.TarInfo("oci-layout")
        tar.addfile(info, io.BytesIO(b""))
    assert refused(tmp_path / "layout.tar", tmp_path / "b") == (
        f"{tmp_path / 'layout.tar'}: not a stackbake bundle (no stackbake-bundle.json): make one "
        "with 'stackbake bundle'; nothing was loaded"
    )
    (tmp_path / "c").mkdir()
    with pytest.raises(UsageError, match=r"absent.tar: no such file$"):
        unpack(tmp_path / "absent.tar", tmp_path / "c")


def relabelled(bundle: Path, root: Path, change) -> None:  # type: ignore[no-untyped-def]
    """The bundle rewritten with index.json changed by `change` and the manifest's
    checksum of it made to match: only what the checks of names can catch."""
    import hashlib
    import json

    index = json.loads((root / "index.json").read_text())
    change(index)
    text = json.dumps(index).encode()
    (root / "index.json").write_bytes(text)
    manifest = json.loads((root / "stackbake-bundle.json").read_text())
    manifest["files"]["index.json"] = "sha256:" + hashlib.sha256(text).hexdigest()
    (root / "stackbake-bundle.json").write_text(json.dumps(manifest))
    with tarfile.open(bundle, "w") as tar:
        for name in ["stackbake-bundle.json", "oci-layout", "index.json", "builds.lock"]:
            tar.add(root / name, arcname=name)
        for blob in sorted((root / "blobs/sha256").iterdir()):
            tar.add(blob, arcname=f"blobs/sha256/{blob.name}")


def test_index_json_names_exactly_the_bundled_images(made: tuple[Path, str, str], tmp_path: Path):
    bundle, index, _ = made
    root = tmp_path / "layout"
    ann = "org.opencontainers.image.ref.name"

    def extra(i: dict) -> None:  # type: ignore[type-arg]
        i["manifests"].append({**i["manifests"][0], "annotations": {ann: "evil.example/x:1"}})

    relabelled(bundle, root, extra)
    assert refused(bundle, tmp_path / "a") == (
        f"{bundle}: index.json names evil.example/x:1 as {index}, which stackbake-bundle.json "
        f"does not: {DAMAGED}"
    )

    def twice(i: dict) -> None:  # type: ignore[type-arg]
        i["manifests"] = [i["manifests"][0], {**i["manifests"][0], "annotations": {ann: REF}}]

    relabelled(bundle, root, twice)
    assert refused(bundle, tmp_path / "b") == f"{bundle}: index.json names {REF} twice: {DAMAGED}"

    def foreign_signature(i: dict) -> None:  # type: ignore[type-arg]
        sig = f"localhost:5000/acme/app:sha256-{'0' * 64}.sig"
        i["manifests"] = [i["manifests"][0], {**i["manifests"][0], "annotations": {ann: sig}}]

    relabelled(bundle, root, foreign_signature)
    assert refused(bundle, tmp_path / "c") == (
        f"{bundle}: index.json names localhost:5000/acme/app:sha256-{'0' * 64}.sig, which signs "
        f"or attests no image of the bundle: {DAMAGED}"
    )

    relabelled(bundle, root, lambda i: i.update(manifests="not a list"))
    assert refused(bundle, tmp_path / "d").startswith(
        f"{bundle}: its index.json is not one a bundle has ("
    )
