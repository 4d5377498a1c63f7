"""`stackbake validate` with quality gates: hadolint's findings (real hadolint), bases
the gate does not allow and missing gate files, each at FILE:LINE:COL, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Result, run_cli, write_tree

SPEC = """\
version: 1
defaults:
  gates:
    hadolint: {threshold: error}
    bases: ["localhost:5000/seed/*"]
targets:
  base:
    context: base
    tags: [localhost:5000/acme/base:1]
  app:
    context: app
    tags: [localhost:5000/acme/app:1]
"""

FILES = {
    "base/Dockerfile": "FROM localhost:5000/seed/busybox:1.35\nRUN true\n",
    "app/Dockerfile": "FROM localhost:5000/acme/base:1\nRUN cd /srv && true\nMAINTAINER me\n",
}


def validate(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spec: str = SPEC,
    files: dict[str, str] | None = None,
) -> Result:
    write_tree(tmp_path, {**FILES, **(files or {}), "builds.yaml": spec})
    return run_cli(["validate"], tmp_path, capsys, monkeypatch)


def test_a_dockerfile_hadolint_rejects_fails_validate_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = validate(tmp_path, capsys, monkeypatch)
    assert (result.code, result.out) == (2, "")
    assert result.err == "app/Dockerfile:3:1: hadolint DL4000: MAINTAINER is deprecated\n"


def test_the_ignore_list_lets_it_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SPEC.replace("{threshold: error}", "{threshold: error, ignore: [DL4000]}")
    result = validate(tmp_path, capsys, monkeypatch, spec)
    assert (result.code, result.err) == (0, "")
    assert result.out == "builds.yaml: valid: 2 targets, 0 groups, 2 levels, 1 external base\n"


def test_a_lower_threshold_reports_warnings_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SPEC.replace("{threshold: error}", "{threshold: warning}")
    result = validate(tmp_path, capsys, monkeypatch, spec)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "app/Dockerfile:2:1: hadolint DL3003: Use WORKDIR to switch to a directory\n"
        "app/Dockerfile:3:1: hadolint DL4000: MAINTAINER is deprecated\n"
        "2 problems found; nothing was run.\n"
    )


def test_a_base_the_gate_does_not_allow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SPEC.replace("    hadolint: {threshold: error}\n", "")
    files = {"base/Dockerfile": "ARG BASE=alpine:3.20\nFROM ${BASE}\n"}
    result = validate(tmp_path, capsys, monkeypatch, spec, files)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "base/Dockerfile:2:1: base docker.io/library/alpine:3.20 is not allowed "
        "(gates.bases: localhost:5000/seed/*)\n"
    )


def test_a_missing_structure_test_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SPEC.replace("    context: app\n", "    context: app\n    gates:\n").replace(
        "    gates:\n    tags", "    gates:\n      structure_tests: [structure.yaml]\n    tags"
    )
    result = validate(tmp_path, capsys, monkeypatch, spec)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "app/Dockerfile:3:1: hadolint DL4000: MAINTAINER is deprecated\n"
        "builds.yaml:13:24: targets.app.gates.structure_tests: structure test "
        "app/structure.yaml does not exist; fix the path (relative to the target's context)\n"
        "2 problems found; nothing was run.\n"
    )
