"""`stackbake archive` on the real engine: a two-platform image built by stackbake is
archived with its record, loaded into a second engine and run there on both platforms;
`--remove` then takes its local tags. A target whose image is not in the store writes
nothing, and a byte flipped in a real archive is found."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from orchestrator.distribution.archive_file import ArchiveError, verify_archive
from tests.e2e.hierarchy import (
    MACHINE,
    Hierarchy,
    build,
    docker,
    image_inspect,
    images_removed_after,
    local_images,
    new_prefix,
    run_stackbake,
    stackbake_env,
    write_mini,
)

pytestmark = pytest.mark.engine

PLATFORMS = ("linux/amd64", "linux/arm64")


def stackbake(
    h: Hierarchy, *args: str, host: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`stackbake ARGS` on the spec, against this host's engine or the one at `host`."""
    env = stackbake_env({"DOCKER_HOST": host} if host else None)
    return run_stackbake(h.folder, *args, "-f", str(h.spec), *h.var_args(), env=env)


def tiny(tmp_path: Path, prefix: str, seed: str) -> Hierarchy:
    return write_mini(
        tmp_path,
        prefix,
        seed,
        {
            "app": (
                "platforms: [linux/amd64, linux/arm64]\n"
                'tags: ["${REG}/app:1", "${REG}/app:latest"]',
                "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
                'RUN echo "app @MARKER@ $(uname -m)" > /app.txt\n',
            ),
            "other": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"),
        },
    )


def test_an_archive_loads_and_runs_on_another_engine_and_remove_takes_the_tags(
    tmp_path: Path, registry: str, seed_image: str, second_engine: str
) -> None:
    with images_removed_after(new_prefix(registry), second_engine) as prefix:
        mini = tiny(tmp_path, prefix, seed_image)
        built = build(mini, "app")
        assert built.code == 0, built.explain()
        tags = [f"{prefix}/app:1", f"{prefix}/app:latest"]
        digest = image_inspect(tags[0])["Id"]
        out = tmp_path / "archives"

        done = stackbake(mini, "archive", "app", "--to", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        archive = out / "app-1.tar"
        data = archive.read_bytes()
        record = json.loads((out / "app-1.tar.json").read_text(encoding="utf-8"))
        assert record["sha256"] == hashlib.sha256(data).hexdigest()
        assert record["size"] == len(data)
        assert record["digest"] == digest
        assert record["platforms"] == list(PLATFORMS)
        assert (record["name"], record["tag"], record["tags"]) == (f"{prefix}/app", "1", tags)
        assert record["path"] == str(archive)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["date"])
        line = done.stdout.splitlines()[0]
        assert re.fullmatch(
            rf"archived app: {re.escape(str(archive))}, \d+\.\d MB, sha256 "
            rf"{record['sha256'][:12]}, linux/amd64 linux/arm64, \d+\.\d s",
            line,
        ), done.stdout
        assert done.stdout.splitlines()[1].startswith(f"1 archive in {out}: ")

        loaded = docker("load", "-i", str(archive), host=second_engine, timeout=300)
        assert f"Loaded image: {tags[0]}" in loaded
        again = json.loads(docker("image", "inspect", tags[1], host=second_engine))[0]
        assert again["Id"] == digest
        for platform in PLATFORMS:
            ran = docker(
                "run", "--rm", "--pull", "never", "--platform", platform, tags[0],
                "cat", "/app.txt", host=second_engine, timeout=180,
            )  # fmt: skip
            assert ran.strip() == f"app {mini.marker} {MACHINE[platform]}"
        there = stackbake(mini, "archive", "app", "--to", str(tmp_path / "b"), host=second_engine)
        assert there.returncode == 0, there.stdout + there.stderr
        from_b = json.loads((tmp_path / "b/app-1.tar.json").read_text(encoding="utf-8"))
        same = ("digest", "platforms", "tags", "sha256", "size")
        assert {k: from_b[k] for k in same} == {k: record[k] for k in same}  # the same file

        removed = stackbake(mini, "archive", "app", "--to", str(out), "--remove")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        said = removed.stdout.splitlines()
        assert said[1] == f"removed app: {', '.join(tags)} (from the local store)"
        assert said[2].endswith("each verified; 2 local tags removed"), removed.stdout
        assert [t for t in local_images(prefix) if t in tags] == []
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == record["sha256"]


def test_a_target_not_in_the_store_archives_nothing_and_a_flipped_byte_is_found(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = tiny(tmp_path, prefix, seed_image)
        built = build(mini, "app")
        assert built.code == 0, built.explain()

        missing = stackbake(mini, "archive", "app", "other", "--to", str(tmp_path / "none"))
        assert missing.returncode == 2, missing.stdout + missing.stderr
        assert missing.stderr == (
            f"error: nothing was archived: other: {prefix}/other:1 is not in the engine's "
            "image store (build it first: stackbake build other)\n"
        )
        assert not (tmp_path / "none").exists()

        out = tmp_path / "archives"
        done = stackbake(mini, "archive", "app", "--to", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        archive = out / "app-1.tar"
        record = json.loads((out / "app-1.tar.json").read_text(encoding="utf-8"))
        assert (
            verify_archive(
                archive, record["digest"], record["tags"], written=record["sha256"]
            ).platforms
            == PLATFORMS
        )
        corrupt, blob = _flip_a_layer_byte(archive, tmp_path / "corrupt.tar")
        written = hashlib.sha256(corrupt.read_bytes()).hexdigest()
        with pytest.raises(ArchiveError) as caught:
            verify_archive(corrupt, record["digest"], record["tags"], written=written)
        assert str(caught.value) == f"{corrupt}: blob {blob} does not match its content"


def _flip_a_layer_byte(archive: Path, to: Path) -> tuple[Path, str]:
    """A copy of the archive with one byte changed in its largest blob (a layer)."""
    with tarfile.open(archive) as tar:
        largest = max(tar.getmembers(), key=lambda m: m.size)
    data = bytearray(archive.read_bytes())
    data[largest.offset_data + largest.size // 2] ^= 0x01
    to.write_bytes(bytes(data))
    return to, "sha256:" + largest.name.removeprefix("blobs/sha256/")
