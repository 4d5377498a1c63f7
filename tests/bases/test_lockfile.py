"""builds.lock: where it lives, its text (sorted, stable), and damaged files."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.bases.lockfile import Lock, LockedImage, load_lock, lock_path
from orchestrator.errors import SpecError

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def test_lock_path_sits_beside_the_spec() -> None:
    assert lock_path(Path("/x/builds.yaml")) == Path("/x/builds.lock")
    assert lock_path(Path("/x/builds.yaml.example")) == Path("/x/builds.lock")
    assert lock_path(Path("/x/ci.yml")) == Path("/x/ci.lock")


def test_text_is_sorted_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "builds.lock"
    lock = Lock(
        path,
        {
            "docker.io/library/debian:12": LockedImage(B),
            "docker.io/library/alpine:3.20": LockedImage(A, {"linux/arm64": B, "linux/amd64": A}),
        },
    )
    lock.save()
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[2:] == [
        "version: 1",
        "images:",
        "  docker.io/library/alpine:3.20:",
        f"    digest: {A}",
        "    platforms:",
        f"      linux/amd64: {A}",
        f"      linux/arm64: {B}",
        "  docker.io/library/debian:12:",
        f"    digest: {B}",
        "    platforms: {}",
    ]
    again = load_lock(path)
    assert again.exists
    assert again.images == lock.images
    assert again.text() == text


def test_no_lock_is_an_empty_one(tmp_path: Path) -> None:
    lock = load_lock(tmp_path / "builds.lock")
    assert (lock.exists, dict(lock.images)) == (False, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nimages: {a: [}\n",
            "builds.lock:2:14: expected the node content, but found '}'; restore it from "
            "version control, or delete it and run 'stackbake lock'",
        ),
        (
            "version: 1\nimages: [a, b]\n",
            "builds.lock:1: not a version 1 stackbake lock; restore it from version control, "
            "or delete it and run 'stackbake lock'",
        ),
        (
            "version: 2\n",
            "builds.lock:1: not a version 1 stackbake lock; restore it from version control, "
            "or delete it and run 'stackbake lock'",
        ),
        (
            "version: 1\nimages:\n  alpine:3.20: {platforms: {}}\n",
            "builds.lock: images.alpine:3.20: needs a digest string; restore it from version "
            "control, or delete it and run 'stackbake lock'",
        ),
    ],
)
def test_damaged_lock_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "builds.lock").write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_lock(tmp_path / "builds.lock")
    assert str(info.value) == message


def test_an_unreadable_lock_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "builds.lock").write_bytes(b"version: 1\n\xff\xfe\n")
    with pytest.raises(SpecError) as info:
        load_lock(tmp_path / "builds.lock")
    assert str(info.value).startswith("builds.lock: cannot read it (")
    assert str(info.value).endswith(
        "; restore it from version control, or delete it and run 'stackbake lock'"
    )
