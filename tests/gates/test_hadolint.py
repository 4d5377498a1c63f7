"""The hadolint gate with the real hadolint (a dev dependency; ~20 ms a Dockerfile):
findings at FILE:LINE:COL, the threshold and the ignore list, parents by name left
alone, registries on `host:port` readable, each Dockerfile linted once per ignore list."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import UsageError
from orchestrator.gates import hadolint
from orchestrator.gates.hadolint import Key, Linted, lint, readable
from orchestrator.hierarchy.project import Project, load_project
from tests.helpers import write_tree

APP = """\
FROM base
RUN cd /src
MAINTAINER someone
"""


def project(tmp_path: Path, gates: str, files: dict[str, str] | None = None) -> Project:
    spec = f"""\
    version: 1
    targets:
      base:
        context: base
        tags: [acme/base:1]
      app:
        context: app
        gates: {gates}
    """
    write_tree(
        tmp_path,
        {
            "builds.yaml": spec,
            "base/Dockerfile": "FROM localhost:5000/seed/busybox:1.35\n",
            "app/Dockerfile": APP,
            **(files or {}),
        },
    )
    return load_project(None, cwd=tmp_path, environ={})


def rendered(p: Project, names: tuple[str, ...] = ("base", "app")) -> list[str]:
    return sorted(problem.render() for problem in lint(p, names))


def test_findings_at_or_above_the_threshold_at_their_dockerfile_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    p = project(tmp_path, "{hadolint: true}")  # threshold: error
    assert rendered(p) == ["app/Dockerfile:3:1: hadolint DL4000: MAINTAINER is deprecated"]
    p = project(tmp_path, "{hadolint: {threshold: warning}}")
    assert rendered(p) == [
        "app/Dockerfile:2:1: hadolint DL3003: Use WORKDIR to switch to a directory",
        "app/Dockerfile:2:1: hadolint SC2164: Use 'cd ... || exit' or 'cd ... || return' in "
        "case cd fails.",
        "app/Dockerfile:3:1: hadolint DL4000: MAINTAINER is deprecated",
    ]


def test_the_ignore_list_drops_those_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    p = project(tmp_path, "{hadolint: {threshold: style, ignore: [DL4000, DL3003]}}")
    assert rendered(p) == [
        "app/Dockerfile:2:1: hadolint SC2164: Use 'cd ... || exit' or 'cd ... || return' in "
        "case cd fails."
    ]


def test_a_from_line_naming_a_target_is_not_told_to_pin_its_tag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`FROM base` (a target's name) and `FROM acme/base:1` are parents: a build pins them
    by digest. An untagged or `latest` external image is still told off."""
    monkeypatch.chdir(tmp_path)
    dockerfile = (
        "FROM base AS one\n"
        "FROM acme/base AS two\n"  # not a tag of base: acme/base:latest
        "FROM busybox:latest AS three\n"
        "FROM alpine\n"
        "COPY --from=one /a /a\n"
    )
    p = project(tmp_path, "{hadolint: {threshold: warning}}", {"app/Dockerfile": dockerfile})
    assert rendered(p) == [
        "app/Dockerfile:2:1: hadolint DL3006: Always tag the version of an image explicitly",
        "app/Dockerfile:3:1: hadolint DL3007: Using latest is prone to errors if the image "
        "will ever update. Pin the version explicitly to a release tag",
        "app/Dockerfile:4:1: hadolint DL3006: Always tag the version of an image explicitly",
    ]
    tagged = dockerfile.replace("FROM acme/base AS two", "FROM acme/base:1 AS two")
    p = project(tmp_path, "{hadolint: {threshold: warning}}", {"app/Dockerfile": tagged})
    assert [r.split(": ", 1)[0] for r in rendered(p)] == [
        "app/Dockerfile:3:1",
        "app/Dockerfile:4:1",
    ]


def test_a_registry_on_host_port_is_read_as_a_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hadolint alone fails to parse `FROM localhost:5000/x:1` (DL1000) and lints nothing
    of the file; given `localhost.5000/x:1` it lints all of it, at the same lines."""
    monkeypatch.chdir(tmp_path)
    dockerfile = "FROM localhost:5000/seed/busybox:1.35\nMAINTAINER someone\n"
    p = project(tmp_path, "{hadolint: true}", {"app/Dockerfile": dockerfile})
    assert rendered(p) == ["app/Dockerfile:2:1: hadolint DL4000: MAINTAINER is deprecated"]
    untagged = "FROM localhost:5000/seed/busybox\n"
    p = project(tmp_path, "{hadolint: {threshold: warning}}", {"app/Dockerfile": untagged})
    assert rendered(p) == [
        "app/Dockerfile:1:1: hadolint DL3006: Always tag the version of an image explicitly"
    ]


def test_readable_renames_only_dotless_hosts_of_from_lines_keeping_every_column() -> None:
    text = (
        b"ARG X=localhost:5000/a:1\n"
        b"FROM localhost:5000/seed/busybox:1.35 AS a\n"
        b"from --platform=$BUILDPLATFORM my-host:443/x/y:2\n"
        b"FROM registry.example.com:5000/z:3\n"
        b"COPY --from=localhost:5000/a:1 /a /a\n"
    )
    out, lines = readable(text)
    assert lines == {2, 3}
    assert out.splitlines()[1:3] == [
        b"FROM localhost.5000/seed/busybox:1.35 AS a",
        b"from --platform=$BUILDPLATFORM my-host.443/x/y:2",
    ]
    assert [len(x) for x in out.splitlines()] == [len(x) for x in text.splitlines()]
    assert out.splitlines()[3:] == text.splitlines()[3:]
    assert readable(b"FROM alpine:3.20\n") == (b"FROM alpine:3.20\n", frozenset())


def test_a_file_hadolint_cannot_parse_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # hadolint 2.15 wants a blank line after a heredoc; BuildKit does not.
    heredoc = "FROM busybox:1\nRUN <<EOF\necho hi\nEOF\nUSER nobody\n"
    p = project(tmp_path, "{hadolint: true}", {"app/Dockerfile": heredoc})
    assert rendered(p) == [
        "app/Dockerfile:5:1: hadolint DL1000: unexpected 'U'; expecting a new line followed by "
        "the next instruction (hadolint cannot parse the file, BuildKit can; ignore DL1000 "
        "to skip it)"
    ]
    p = project(tmp_path, "{hadolint: {ignore: [DL1000]}}", {"app/Dockerfile": heredoc})
    assert rendered(p) == []


def test_each_dockerfile_is_linted_once_per_ignore_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = """\
    version: 1
    defaults:
      context: app
      gates: {hadolint: {threshold: warning}}
    targets:
      a: {}
      b: {gates: {hadolint: {threshold: error}}}
      c: {gates: {hadolint: {ignore: [DL4000]}}}
      d: {gates: {hadolint: {threshold: style, ignore: [DL4000]}}}
      e: {gates: {hadolint: false}}
    """
    write_tree(tmp_path, {"builds.yaml": spec, "app/Dockerfile": "FROM busybox:1\nMAINTAINER x\n"})
    p = load_project(None, cwd=tmp_path, environ={})
    runs: list[Key] = []
    real = hadolint.run_hadolint

    def counted(tool: str, key: Key, cwd: Path) -> Linted:
        runs.append(key)
        return real(tool, key, cwd)

    monkeypatch.setattr(hadolint, "run_hadolint", counted)
    monkeypatch.chdir(tmp_path)
    assert rendered(p, tuple("abcde")) == [
        "app/Dockerfile:2:1: hadolint DL4000: MAINTAINER is deprecated"
    ]
    dockerfile = tmp_path / "app" / "Dockerfile"
    assert sorted(runs) == [(dockerfile, ()), (dockerfile, ("DL4000",))]


def test_targets_without_the_gate_never_look_for_hadolint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(name: str, why: str) -> str:
        raise UsageError(f"{why} needs {name}, which is not installed")

    monkeypatch.setattr(hadolint, "need_tool", missing)
    p = project(tmp_path, "{hadolint: false}")
    assert lint(p, ("base", "app")) == []
    p = project(tmp_path, "{hadolint: true}")
    with pytest.raises(UsageError, match=r"^the hadolint gate \(gates.hadolint\) needs hadolint"):
        lint(p, ("base", "app"))
    assert lint(p, ("base",)) == []  # only the targets asked about


def test_a_hadolint_that_fails_is_a_problem_at_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hadolint, "need_tool", lambda name, why: "/bin/false")
    monkeypatch.chdir(tmp_path)
    p = project(tmp_path, "{hadolint: true}")
    assert rendered(p) == ["app/Dockerfile: hadolint could not lint it (exit 1: no output)"]
