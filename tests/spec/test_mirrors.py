"""`mirrors:`: which name a base has at its mirror, and each way of writing an entry
wrong, at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.spec.mirrors import mirrored
from orchestrator.spec.model import Mirror
from tests.helpers import run_cli, write_tree

MIRRORS = (
    Mirror("docker.io/library/*", "registry.internal/mirror/library/*"),
    Mirror("alpine", "registry.internal/alpine-only"),
    Mirror("localhost:5000/seed/*", "localhost:5000/e2e/mirror/*"),
    Mirror("localhost:5000/seed/deep/*", "localhost:5000/deeper/*"),
)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("docker.io/library/debian:12", "registry.internal/mirror/library/debian:12"),
        ("docker.io/library/alpine:3.20", "registry.internal/alpine-only:3.20"),  # repository wins
        ("localhost:5000/seed/busybox:1.35", "localhost:5000/e2e/mirror/busybox:1.35"),
        ("localhost:5000/seed/deep/x:1", "localhost:5000/deeper/x:1"),  # the longer prefix
        (
            "localhost:5000/seed/busybox:1.35@sha256:" + "a" * 64,
            "localhost:5000/e2e/mirror/busybox:1.35@sha256:" + "a" * 64,
        ),
        ("localhost:5000/seedling/x:1", None),  # a prefix is whole path components
        ("quay.io/org/app:1", None),
    ],
)
def test_the_name_at_the_mirror(ref: str, expected: str | None):
    assert mirrored(ref, MIRRORS) == expected


def test_a_whole_registry_keeps_every_path_under_it():
    hub = (Mirror("docker.io/*", "reg.internal/hub/*"),)
    assert mirrored("docker.io/bitnami/redis:7", hub) == "reg.internal/hub/bitnami/redis:7"
    assert mirrored("docker.io/library/alpine:3.20", hub) == (
        "reg.internal/hub/library/alpine:3.20"
    )
    assert mirrored("quay.io/a/b:1", hub) is None


SPEC = "version: 1\nmirrors:\n{}\ntargets:\n  a: {{context: .}}\n"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            '  "localhost:5000/seed/*": localhost:5000/mirror',
            "builds.yaml:3:28: mirrors.localhost:5000/seed/*: 'localhost:5000/seed/*' and "
            "'localhost:5000/mirror': a prefix (/*) mirrors to a prefix, a repository to a "
            "repository",
        ),
        (
            "  alpine: docker.io/library/alpine",
            "builds.yaml:3:11: mirrors.alpine: 'alpine' mirrors to itself; remove it",
        ),
        (
            "  alpine: Registry/UPPER",
            "builds.yaml:3:11: mirrors.alpine: 'Registry/UPPER' is not a repository; write a "
            "repository (localhost:5000/seed/busybox) or a prefix (docker.io/library/*)",
        ),
        (
            "  alpine: r.internal/a\n  docker.io/library/alpine: r.internal/b",
            "builds.yaml:4:29: mirrors.docker.io/library/alpine: docker.io/library/alpine "
            "already has a mirror at builds.yaml:3; keep one",
        ),
        (
            "  alpine:3.20: r.internal/a",
            "builds.yaml:3:16: mirrors.alpine:3.20: 'alpine:3.20' is not a repository; write a "
            "repository (localhost:5000/seed/busybox) or a prefix (docker.io/library/*)",
        ),
    ],
)
def test_a_bad_entry_is_named_at_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    entries: str,
    message: str,
):
    write_tree(tmp_path, {"builds.yaml": SPEC.format(entries), "Dockerfile": "FROM alpine\n"})
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    assert (result.code, result.err.strip()) == (2, message)
