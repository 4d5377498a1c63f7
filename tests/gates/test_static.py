"""The gates checked before anything builds: external bases against `gates.bases` (on
the graph, ARGs expanded), the files the structure-test and scan gates will read, and
a build that refuses before its first step."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.backend.fake import FakeBackend
from orchestrator.errors import SpecError
from orchestrator.gates.static import check_gates, static_problems
from orchestrator.hierarchy.project import Project, load_project
from tests.helpers import execute_plan, write_tree

SPEC = """\
version: 1
defaults:
  gates:
    bases: ["localhost:5000/seed/*", "alpine:*"]
targets:
  base:
    context: base
    tags: [acme/base:1]
    args: {BASE: docker.io/library/debian:12}
  app:
    context: app
    gates:
      structure_tests: [tests/structure.yaml, tests]
      scan: {ignore_file: .trivyignore}
  plain:
    context: app
    gates: {bases: false}
"""

FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "ARG BASE=localhost:5000/seed/busybox:1.35\nFROM ${BASE}\n",
    "app/Dockerfile": (
        "FROM alpine:3.20 AS tools\n"
        "FROM acme/base:1\n"
        "COPY --from=tools /bin/sh /bin/sh\n"
        "COPY --from=docker.io/library/busybox:1.36 /bin/ls /bin/ls\n"
    ),
    "app/tests/.keep": "",
}


def project(tmp_path: Path, files: dict[str, str] | None = None) -> Project:
    write_tree(tmp_path, {**FILES, **(files or {})})
    return load_project(None, cwd=tmp_path, environ={})


def rendered(p: Project, names: tuple[str, ...] = ("base", "app", "plain")) -> list[str]:
    return sorted(problem.render() for problem in static_problems(p, names))


def test_each_disallowed_external_base_at_its_line_and_missing_gate_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """base's FROM ${BASE} is debian (its args); app's alpine matches `alpine:*` as
    written, its parent acme/base is no external base; plain has no bases gate."""
    monkeypatch.chdir(tmp_path)
    assert rendered(project(tmp_path)) == [
        "app/Dockerfile:4:1: base docker.io/library/busybox:1.36 is not allowed "
        "(gates.bases: localhost:5000/seed/*, alpine:*)",
        "base/Dockerfile:2:1: base docker.io/library/debian:12 is not allowed "
        "(gates.bases: localhost:5000/seed/*, alpine:*)",
        "builds.yaml:13:24: targets.app.gates.structure_tests: structure test app/tests is "
        "a folder, not a file; fix the path (relative to the target's context)",
        "builds.yaml:13:24: targets.app.gates.structure_tests: structure test "
        "app/tests/structure.yaml does not exist; fix the path (relative to the target's "
        "context)",
        "builds.yaml:14:13: targets.app.gates.scan: scan ignore_file app/.trivyignore does "
        "not exist; fix the path (relative to the target's context)",
    ]


def test_nothing_to_say_when_the_bases_match_and_the_files_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fixed = SPEC.replace("tests]", "tests/more.yaml]").replace(
        '"alpine:*"]', '"alpine:*", "docker.io/library/*"]'
    )
    files = {
        "builds.yaml": fixed,
        "app/tests/structure.yaml": "schemaVersion: 2.0.0\n",
        "app/tests/more.yaml": "schemaVersion: 2.0.0\n",
        "app/.trivyignore": "",
    }
    assert rendered(project(tmp_path, files)) == []


def test_a_defaults_gate_file_is_looked_for_in_each_target_s_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = """\
    version: 1
    defaults:
      gates: {structure_tests: [st.yaml]}
    targets:
      one: {context: one}
      two: {context: two}
    """
    files = {
        "builds.yaml": spec,
        "one/Dockerfile": "FROM busybox:1\n",
        "two/Dockerfile": "FROM busybox:1\n",
        "two/st.yaml": "schemaVersion: 2.0.0\n",
    }
    assert rendered(project(tmp_path, files), ("one", "two")) == [
        "builds.yaml:3:28: defaults.gates.structure_tests: structure test one/st.yaml does not "
        "exist; fix the path (relative to the target's context)"
    ]


def test_check_gates_raises_every_problem_of_the_targets_asked_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    p = project(tmp_path)
    with pytest.raises(SpecError) as caught:
        check_gates(p)
    assert len(caught.value.problems) == 5
    with pytest.raises(SpecError) as caught:
        check_gates(p, ["base"])
    assert [x.render() for x in caught.value.problems] == [
        "base/Dockerfile:2:1: base docker.io/library/debian:12 is not allowed "
        "(gates.bases: localhost:5000/seed/*, alpine:*)"
    ]
    check_gates(p, ["plain"])  # no problem: returns


def test_a_build_checks_the_gates_before_anything_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    backend = FakeBackend()
    with pytest.raises(SpecError, match="debian:12 is not allowed"):
        execute_plan(project(tmp_path), backend)
    assert backend.calls == []
