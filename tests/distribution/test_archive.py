"""`stackbake archive` without an engine: archives built by hand as `docker save` writes
them on the containerd store (an OCI layout in a tar), checked by `verify_archive`, and
the whole command run against a fake image store."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from orchestrator import __version__
from orchestrator.distribution.archive import archive_targets
from orchestrator.distribution.archive_file import ArchiveError, verify_archive
from orchestrator.errors import EngineError, UsageError
from orchestrator.hierarchy.project import Project, load_project
from tests.helpers import write_tree

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REF = "registry.test/acme/app:1.2"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Layout:
    """An OCI layout being written: blobs by digest, then a tar of it."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, str] = field(default_factory=dict)  # platform -> manifest digest
    layers: dict[str, str] = field(default_factory=dict)  # platform -> its layer's digest

    def put(self, data: bytes) -> dict[str, Any]:
        self.blobs[sha(data)] = data
        return {"digest": sha(data), "size": len(data)}

    def put_json(self, value: Any, media_type: str) -> dict[str, Any]:
        return {"mediaType": media_type, **self.put(json.dumps(value).encode())}

    def manifest(self, platform: str) -> dict[str, Any]:
        os_name, arch = platform.split("/")
        config = self.put_json({"os": os_name, "architecture": arch}, "config")
        layer = self.put(f"layer of {platform} ".encode() * 50)
        self.layers[platform] = layer["digest"]
        return self.put_json({"schemaVersion": 2, "config": config, "layers": [layer]}, MANIFEST)

    def image(self, platforms: Sequence[str] = ("linux/amd64", "linux/arm64")) -> str:
        """An index of one manifest per platform and an attestation for the first."""
        entries = []
        for platform in platforms:
            entry = self.manifest(platform)
            self.manifests[platform] = entry["digest"]
            os_name, arch = platform.split("/")
            entries.append({**entry, "platform": {"os": os_name, "architecture": arch}})
        attestation = self.put_json(
            {"schemaVersion": 2, "config": self.put(b"{}"), "layers": [self.put(b'{"x":1}')]},
            MANIFEST,
        )
        entries.append({**attestation, "platform": {"os": "unknown", "architecture": "unknown"}})
        index = self.put_json({"schemaVersion": 2, "manifests": entries}, INDEX)
        return str(index["digest"])

    def tar(self, digest: str, refs: Sequence[str] = (REF,), skip: Sequence[str] = ()) -> bytes:
        """docker save's file: the blobs (without those in `skip`), index.json naming
        `digest` under each of `refs`, oci-layout."""
        size = len(self.blobs[digest])
        named = [
            {"mediaType": INDEX, "digest": digest, "size": size, "annotations": {
                "io.containerd.image.name": ref,
                "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
            }}
            for ref in refs
        ]  # fmt: skip
        files = {f"blobs/sha256/{d[7:]}": b for d, b in sorted(self.blobs.items()) if d not in skip}
        files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": named}).encode()
        files["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return out.getvalue()


def written(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "app-1.2.tar"
    path.write_bytes(data)
    return path


def check(path: Path, digest: str, refs: Sequence[str] = (REF,)) -> Any:
    return verify_archive(path, digest, refs, written=hashlib.sha256(path.read_bytes()).hexdigest())


def test_a_complete_archive_reads_back_with_its_platforms_hash_and_size(tmp_path: Path) -> None:
    layout = Layout()
    digest = layout.image()
    data = layout.tar(digest, refs=(REF, "registry.test/acme/app:latest"))
    path = written(tmp_path, data)
    checked = check(path, digest, (REF, "registry.test/acme/app:latest"))
    assert checked.platforms == ("linux/amd64", "linux/arm64")  # the attestation is none
    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    assert checked.size == len(data)


def test_a_platform_the_store_lacks_is_not_in_the_archive(tmp_path: Path) -> None:
    layout = Layout()
    digest = layout.image()
    arm = layout.manifests["linux/arm64"]
    path = written(tmp_path, layout.tar(digest, skip=[arm, layout.layers["linux/arm64"]]))
    assert check(path, digest).platforms == ("linux/amd64",)


def test_a_manifest_without_its_layer_is_refused_naming_platform_and_blob(tmp_path: Path) -> None:
    layout = Layout()
    digest = layout.image()
    layer = layout.layers["linux/arm64"]
    path = written(tmp_path, layout.tar(digest, skip=[layer]))
    with pytest.raises(ArchiveError) as caught:
        check(path, digest)
    assert str(caught.value) == f"{path}: linux/arm64: layer {layer} is missing"


def test_a_flipped_byte_in_a_blob_is_refused_naming_the_blob(tmp_path: Path) -> None:
    layout = Layout()
    digest = layout.image()
    layer = layout.layers["linux/amd64"]
    data = bytearray(layout.tar(digest))
    at = data.index(layout.blobs[layer])
    data[at + 10] ^= 0x01
    path = written(tmp_path, bytes(data))
    with pytest.raises(ArchiveError) as caught:
        check(path, digest)
    assert str(caught.value) == f"{path}: blob {layer} does not match its content"


def test_a_file_that_reads_back_otherwise_than_written_is_refused(tmp_path: Path) -> None:
    layout = Layout()
    digest = layout.image()
    path = written(tmp_path, layout.tar(digest))
    on_disk = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ArchiveError) as caught:
        verify_archive(path, digest, [REF], written="0" * 64, shown=tmp_path / "final.tar")
    assert str(caught.value) == (
        f"{tmp_path / 'final.tar'}: reads back with sha256 {on_disk}, but {'0' * 64} was "
        "written; the disk did not keep it"
    )


def test_an_index_json_that_does_not_name_the_reference_is_refused(tmp_path: Path) -> None:
    layout = Layout()
    digest = layout.image()
    path = written(tmp_path, layout.tar(digest, refs=["registry.test/acme/other:1"]))
    with pytest.raises(ArchiveError) as caught:
        check(path, digest)
    assert str(caught.value) == f"{path}: index.json does not name {REF} at {digest}"


def test_a_descriptor_size_that_is_not_the_blobs_is_refused(tmp_path: Path) -> None:
    layout = Layout()
    config = layout.put(b'{"os":"linux","architecture":"amd64"}')
    layer = layout.put(b"x" * 300)
    manifest = layout.put_json(
        {"schemaVersion": 2, "config": config, "layers": [{**layer, "size": 299}]}, MANIFEST
    )
    path = written(tmp_path, layout.tar(manifest["digest"]))
    with pytest.raises(ArchiveError) as caught:
        check(path, manifest["digest"])
    assert str(caught.value) == (
        f"{path}: layer {layer['digest']} is 300 bytes, its descriptor says 299"
    )


def test_a_single_manifest_image_has_its_configs_platform(tmp_path: Path) -> None:
    layout = Layout()
    manifest = layout.manifest("linux/arm64")
    path = written(tmp_path, layout.tar(manifest["digest"]))
    assert check(path, manifest["digest"]).platforms == ("linux/arm64",)


def test_an_archive_without_any_platform_image_is_refused(tmp_path: Path) -> None:
    layout = Layout()
    digest = layout.image(platforms=["linux/amd64"])
    skip = [layout.manifests["linux/amd64"]]
    path = written(tmp_path, layout.tar(digest, skip=skip))
    with pytest.raises(ArchiveError) as caught:
        check(path, digest)
    assert str(caught.value) == f"{path}: holds no platform of {digest}"


def test_a_file_that_is_not_a_tar_is_refused(tmp_path: Path) -> None:
    path = written(tmp_path, b"\x00" * 100 + b"not a tar")
    with pytest.raises(ArchiveError) as caught:
        check(path, "sha256:" + "a" * 64)
    assert str(caught.value).startswith(f"{path}: not a readable tar (")


# --- the command, on a fake store --------------------------------------------------


@dataclass
class FakeStore:
    """Names -> digests; `save` writes the tar of the image a name names."""

    names: dict[str, str]
    tars: dict[str, bytes]
    saved: list[tuple[str, ...]] = field(default_factory=list)
    removed: list[tuple[str, ...]] = field(default_factory=list)
    interrupt: bool = False
    moved_before_remove: dict[str, str] = field(default_factory=dict)

    def digests(self, refs: Sequence[str]) -> Mapping[str, str | None]:
        if self.saved:
            self.names.update(self.moved_before_remove)
        return {r: self.names.get(r) for r in refs}

    def save(self, refs: Sequence[str], out: BinaryIO) -> str:
        self.saved.append(tuple(refs))
        data = self.tars[self.names[refs[0]]]
        out.write(data[: len(data) // 2])
        if self.interrupt:
            raise KeyboardInterrupt
        out.write(data[len(data) // 2 :])
        return hashlib.sha256(data).hexdigest()

    def remove(self, refs: Sequence[str]) -> None:
        self.removed.append(tuple(refs))
        for ref in refs:
            self.names.pop(ref)


def project(tmp_path: Path) -> Project:
    write_tree(
        tmp_path / "spec",
        {
            "builds.yaml": """
                version: 1
                targets:
                  app:
                    context: app
                    platforms: [linux/amd64, linux/arm64]
                    tags: ["registry.test/acme/app:1.2", "registry.test/acme/app:latest"]
                  job:
                    context: job
                    tags: ["registry.test/acme/job:7"]
            """,
            "app/Dockerfile": "FROM scratch\n",
            "job/Dockerfile": "FROM scratch\n",
        },
    )
    return load_project(str(tmp_path / "spec/builds.yaml"))


def store_of(missing: Sequence[str] = ()) -> tuple[FakeStore, Layout, str, str]:
    layout = Layout()
    app = layout.image()
    job = layout.image(platforms=["linux/amd64"])
    both = (REF, "registry.test/acme/app:latest")
    tars = {
        app: layout.tar(app, refs=both),
        job: layout.tar(job, refs=["registry.test/acme/job:7"]),
    }
    names = {REF: app, "registry.test/acme/app:latest": app, "registry.test/acme/job:7": job}
    return FakeStore({k: v for k, v in names.items() if k not in missing}, tars), layout, app, job


def test_each_target_goes_to_its_file_with_a_record_of_what_it_holds(tmp_path: Path) -> None:
    store, _, app, _job = store_of()
    lines: list[str] = []
    out = tmp_path / "archives"
    done = archive_targets(
        project(tmp_path), ["app", "job"], out, remove=False, store=store, say=lines.append
    )
    data = (out / "app-1.2.tar").read_bytes()
    record = json.loads((out / "app-1.2.tar.json").read_text())
    date = record.pop("date")
    assert date.endswith("Z")
    assert date[10] == "T"
    assert record == {
        "schema": "stackbake.archive/v1",
        "target": "app",
        "name": "registry.test/acme/app",
        "tag": "1.2",
        "tags": [REF, "registry.test/acme/app:latest"],
        "digest": app,
        "platforms": ["linux/amd64", "linux/arm64"],
        "path": str(out / "app-1.2.tar"),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "stackbake_version": __version__,
    }
    assert json.loads((out / "job-7.tar.json").read_text())["platforms"] == ["linux/amd64"]
    assert sorted(p.name for p in out.iterdir()) == [
        "app-1.2.tar", "app-1.2.tar.json", "job-7.tar", "job-7.tar.json"
    ]  # fmt: skip
    mb, short = f"{len(data) / 1e6:.1f}", record["sha256"][:12]
    seconds = f"{done.archives[0].seconds:.1f}"
    assert lines[0] == (
        f"archived app: {out}/app-1.2.tar, {mb} MB, sha256 {short}, "
        f"linux/amd64 linux/arm64, {seconds} s"
    )
    assert lines[1].startswith(f"archived job: {out}/job-7.tar, ")
    total = sum(a.record.size for a in done.archives) / 1e6
    assert done.summary() == (
        f"2 archives in {out}: {total:.1f} MB in {done.seconds:.1f} s, each verified"
    )
    assert store.removed == []


def test_a_missing_image_stops_everything_before_anything_is_written(tmp_path: Path) -> None:
    store, *_ = store_of(missing=["registry.test/acme/job:7"])
    out = tmp_path / "archives"
    with pytest.raises(UsageError) as caught:
        archive_targets(project(tmp_path), ["app", "job"], out, remove=True, store=store, say=print)
    assert str(caught.value) == (
        "nothing was archived: job: registry.test/acme/job:7 is not in the engine's image "
        "store (build it first: stackbake build job)"
    )
    assert caught.value.exit_code == 2
    assert not out.exists()
    assert store.saved == []
    assert store.removed == []


def test_an_archive_of_another_image_under_the_same_name_is_not_replaced(tmp_path: Path) -> None:
    store, *_ = store_of()
    out = write_tree(tmp_path / "archives", {"job-7.tar.json": '{"digest": "sha256:old"}\n'})
    with pytest.raises(UsageError) as caught:
        archive_targets(
            project(tmp_path), ["app", "job"], out, remove=False, store=store, say=print
        )
    assert str(caught.value) == (
        f"nothing was archived: job: {out}/job-7.tar already holds another image (its "
        "record names sha256:old); move it away or archive to another folder"
    )
    assert store.saved == []


def test_remove_takes_only_the_names_still_naming_the_archived_image(tmp_path: Path) -> None:
    store, _layout, _app, job = store_of()
    store.moved_before_remove = {"registry.test/acme/app:latest": job}  # rebuilt meanwhile
    lines: list[str] = []
    archive_targets(
        project(tmp_path), ["app"], tmp_path / "a", remove=True, store=store, say=lines.append
    )
    assert store.removed == [(REF,)]
    assert lines[1] == f"removed app: {REF} (from the local store)"
    assert json.loads((tmp_path / "a/app-1.2.tar.json").read_text())["tags"] == [
        REF, "registry.test/acme/app:latest"
    ]  # fmt: skip


def test_an_archive_that_fails_its_check_is_deleted_and_nothing_removed(tmp_path: Path) -> None:
    store, layout, app, _ = store_of()
    layer = layout.layers["linux/arm64"]
    store.tars[app] = layout.tar(app, refs=[REF, "registry.test/acme/app:latest"], skip=[layer])
    out = tmp_path / "a"
    with pytest.raises(ArchiveError) as caught:
        archive_targets(project(tmp_path), ["app"], out, remove=True, store=store, say=print)
    assert str(caught.value) == f"{out}/app-1.2.tar: linux/arm64: layer {layer} is missing"
    assert list(out.iterdir()) == []
    assert store.removed == []


def test_ctrl_c_while_saving_leaves_no_file_behind(tmp_path: Path) -> None:
    store, *_ = store_of()
    store.interrupt = True
    out = tmp_path / "a"
    with pytest.raises(KeyboardInterrupt):
        archive_targets(project(tmp_path), ["app"], out, remove=True, store=store, say=print)
    assert list(out.iterdir()) == []
    assert store.removed == []


def test_a_failed_removal_says_the_archive_is_kept(tmp_path: Path) -> None:
    store, *_ = store_of()

    def refuse(refs: Sequence[str]) -> None:
        raise EngineError("docker image rm: conflict: image is being used by container 1a2b")

    store.remove = refuse  # type: ignore[method-assign]
    out = tmp_path / "a"
    with pytest.raises(EngineError) as caught:
        archive_targets(project(tmp_path), ["job"], out, remove=True, store=store, say=print)
    assert str(caught.value) == (
        f"job: archived and verified in {out}/job-7.tar, but removing "
        "registry.test/acme/job:7 failed: docker image rm: conflict: image is being used by "
        "container 1a2b"
    )
    assert (out / "job-7.tar.json").is_file()


def test_to_a_file_is_refused(tmp_path: Path) -> None:
    store, *_ = store_of()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError) as caught:
        archive_targets(
            project(tmp_path), ["app"], tmp_path / "file", remove=False, store=store, say=print
        )
    assert str(caught.value) == f"--to {tmp_path / 'file'}: is not a folder"


def test_a_platform_the_spec_builds_and_the_store_lacks_is_said(tmp_path: Path) -> None:
    store, layout, app, _ = store_of()
    arm = [layout.manifests["linux/arm64"], layout.layers["linux/arm64"]]
    store.tars[app] = layout.tar(app, refs=[REF, "registry.test/acme/app:latest"], skip=arm)
    lines: list[str] = []
    out = tmp_path / "a"
    archive_targets(project(tmp_path), ["app"], out, remove=False, store=store, say=lines.append)
    assert ", linux/amd64 (not in the store: linux/arm64), " in lines[0]
    assert json.loads((out / "app-1.2.tar.json").read_text())["platforms"] == ["linux/amd64"]


def test_two_targets_whose_archives_would_share_a_name_are_refused(tmp_path: Path) -> None:
    write_tree(
        tmp_path / "spec",
        {
            "builds.yaml": """
                version: 1
                targets:
                  api: {context: ., tags: ["registry.test/acme/api:1-beta"]}
                  api-1: {context: ., tags: ["registry.test/acme/api1:beta"]}
            """,
            "Dockerfile": "FROM scratch\n",
        },
    )
    layout = Layout()
    image = layout.image(platforms=["linux/amd64"])
    refs = ["registry.test/acme/api:1-beta", "registry.test/acme/api1:beta"]
    store = FakeStore(dict.fromkeys(refs, image), {image: layout.tar(image, refs=refs)})
    out = tmp_path / "archives"
    project = load_project(str(tmp_path / "spec/builds.yaml"))
    with pytest.raises(UsageError) as caught:
        archive_targets(project, ["api", "api-1"], out, remove=False, store=store, say=print)
    assert str(caught.value) == (
        f"nothing was archived: api-1: its archive {out.absolute() / 'api-1-beta.tar'} would be "
        "api's too; archive them to different folders"
    )
    assert store.saved == []
