"""Every kind of bad input gets one exact message at FILE:LINE:COL, exit code 2,
no traceback, nothing run. One case per distinct mistake a spec author makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli, write_tree

DOCKERFILES = {
    "base/Dockerfile": "ARG BASE_IMAGE=seed.example/base:1\nFROM ${BASE_IMAGE}\nRUN true\n",
    "py/Dockerfile": "FROM acme/base:1\nRUN true\n",
    "app/Dockerfile": (
        "FROM acme/py:1 AS build\nRUN make\n"
        "FROM build AS test\nRUN make test\n"
        "FROM acme/py:1 AS runtime\nCOPY --from=build /out /app\n"
    ),
}

GOOD = """\
version: 1
variables:
  REG: acme
targets:
  base:
    context: base
    tags: ["${REG}/base:1"]
  py:
    context: py
    tags: ["${REG}/py:1"]
  app:
    context: app
    target: runtime
    test: test
    tags: ["${REG}/app:1"]
groups:
  all: [base, py, app]
"""

CASES: list[tuple[str, str, dict[str, str], str]] = [
    (
        "yaml-syntax",
        "version: 1\ntargets:\n  base: {context: base\n",
        {},
        # libyaml's wording (PyYAML's wheels carry it; stackbake uses it when present)
        "builds.yaml:4:1: invalid YAML: while parsing a flow mapping, did not find expected "
        "',' or '}'",
    ),
    (
        "duplicate-key",
        GOOD.replace('    tags: ["${REG}/py:1"]\n', '    tags: ["${REG}/py:1"]\n    context: py\n'),
        {},
        "builds.yaml:11:5: targets.py.context: duplicate key (first defined on line 9); "
        "remove one of them",
    ),
    (
        "empty-file",
        "# nothing yet\n",
        {},
        "builds.yaml:1:1: the file is empty; start with 'version: 1'",
    ),
    ("not-a-mapping", "- base\n- py\n", {}, "builds.yaml:1:1: must be a mapping, not a list"),
    (
        "wrong-version",
        GOOD.replace("version: 1", "version: 2"),
        {},
        "builds.yaml:1:10: version: must be 1, not 2",
    ),
    (
        "missing-version",
        GOOD.replace("version: 1\n", ""),
        {},
        "builds.yaml:1:1: missing required key 'version'; add 'version: 1' at the top",
    ),
    (
        "unknown-key",
        GOOD.replace("    context: py\n", "    context: py\n    platfroms: [linux/amd64]\n"),
        {},
        "builds.yaml:10:5: targets.py.platfroms: unknown key; did you mean 'platforms'?",
    ),
    (
        "unknown-top-level-key",
        GOOD.replace("groups:", "group:"),
        {},
        "builds.yaml:16:1: group: unknown key; did you mean 'groups'?",
    ),
    (
        "depends-on-in-defaults",
        GOOD.replace("targets:", "defaults:\n  depends_on: [base]\ntargets:"),
        {},
        "builds.yaml:5:3: defaults.depends_on: unknown key; depends_on belongs in a target, "
        "not in defaults",
    ),
    (
        "wrong-type",
        GOOD.replace("    context: py\n", "    context: py\n    platforms: linux/amd64\n"),
        {},
        "builds.yaml:10:16: targets.py.platforms: must be a list, not a string "
        "(write [linux/amd64] for a single item)",
    ),
    (
        "bad-enum",
        GOOD.replace("    context: py\n", "    context: py\n    network: hots\n"),
        {},
        "builds.yaml:10:14: targets.py.network: 'hots' is not allowed; use one of: default, "
        "none, host; did you mean 'host'?",
    ),
    (
        "bad-target-name",
        GOOD.replace("  py:\n", "  Py:\n"),
        {},
        "builds.yaml:8:3: targets.Py: invalid name: a name is lower-case letters, digits, '.', "
        "'_' and '-', starting with a letter or digit",
    ),
    (
        "gate-unknown",
        GOOD.replace("    context: py\n", "    context: py\n    gates: {max_sise: 1MB}\n"),
        {},
        "builds.yaml:10:13: targets.py.gates.max_sise: unknown key; did you mean 'max_size'?",
    ),
    (
        "gate-scan-key-unknown",
        GOOD.replace(
            "    context: py\n", "    context: py\n    gates: {scan: {scaners: [vuln]}}\n"
        ),
        {},
        "builds.yaml:10:20: targets.py.gates.scan.scaners: unknown key; did you mean 'scanners'?",
    ),
    (
        "gate-severity-case",
        GOOD.replace(
            "    context: py\n", "    context: py\n    gates: {scan: {severity: [critical]}}\n"
        ),
        {},
        "builds.yaml:10:31: targets.py.gates.scan.severity[0]: 'critical' is not allowed; use "
        "one of: UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL; did you mean 'CRITICAL'?",
    ),
    (
        "gate-size",
        GOOD.replace("    context: py\n", "    context: py\n    gates: {max_size: 5 parsecs}\n"),
        {},
        "builds.yaml:10:23: targets.py.gates.max_size: is a size: bytes, or a number with kB, "
        "MB, GB (powers of 1000) or KiB, MiB, GiB, or false",
    ),
    (
        "gate-user",
        GOOD.replace("    context: py\n", "    context: py\n    gates: {user: nonroot}\n"),
        {},
        "builds.yaml:10:19: targets.py.gates.user: 'nonroot' is not allowed; use one of: "
        "non-root, false; did you mean 'non-root'?",
    ),
    (
        "sign-without-key",
        GOOD.replace("    context: py\n", "    context: py\n    sign: {password_env: PW}\n"),
        {},
        "builds.yaml:10:11: targets.py.sign: missing required key 'key'",
    ),
    (
        "sign-true",
        GOOD.replace("    context: py\n", "    context: py\n    sign: true\n"),
        {},
        "builds.yaml:10:11: targets.py.sign: must be false, not true",
    ),
    (
        "secret-src-and-env",
        GOOD.replace(
            "    context: py\n", "    context: py\n    secrets: [{id: tok, src: t.txt, env: TOK}]\n"
        ),
        {},
        "builds.yaml:10:15: targets.py.secrets[0]: needs exactly one of 'src' (a file) or 'env' "
        "(an environment variable)",
    ),
    (
        "bad-cache-string",
        GOOD.replace(
            "    context: py\n", "    context: py\n    cache_to: ['type=local,,dest=x']\n"
        ),
        {},
        "builds.yaml:10:16: targets.py.cache_to[0]: 'type=local,,dest=x' is not a buildx cache "
        "string; write type=registry,ref=REF[,mode=max] or an object",
    ),
    (
        "bad-platform-pattern",
        GOOD.replace("    context: py\n", "    context: py\n    platforms: [linux]\n"),
        {},
        "builds.yaml:10:17: targets.py.platforms[0]: 'linux' is not a platform; write "
        "os/arch[/variant], for example linux/amd64 or linux/arm/v7",
    ),
    (
        "unknown-arch",
        GOOD.replace("    context: py\n", "    context: py\n    platforms: [linux/amd46]\n"),
        {},
        "builds.yaml:10:17: targets.py.platforms[0]: unknown architecture 'amd46' in "
        "'linux/amd46'; did you mean 'amd64'?",
    ),
    (
        "duplicate-platform",
        GOOD.replace(
            "    context: py\n", "    context: py\n    platforms: [linux/arm64, linux/arm64]\n"
        ),
        {},
        "builds.yaml:10:16: targets.py.platforms: lists 'linux/arm64' more than once",
    ),
    (
        "builders-not-a-platform",
        GOOD.replace("targets:\n", "builders:\n  arm64: native\ntargets:\n"),
        {},
        "builds.yaml:5:3: builders.arm64: invalid name: is not a platform; write "
        "os/arch[/variant], for example linux/arm64",
    ),
    (
        "builders-unknown-architecture",
        GOOD.replace("targets:\n", "builders:\n  linux/amd46: native\ntargets:\n"),
        {},
        "builds.yaml:5:3: builders.linux/amd46: unknown architecture 'amd46' in "
        "'linux/amd46'; did you mean 'amd64'?",
    ),
    (
        "builders-same-platform-twice",
        GOOD.replace("targets:\n", "builders:\n  linux/arm64: a\n  linux/arm64/v8: b\ntargets:\n"),
        {},
        "builds.yaml:6:3: builders.linux/arm64/v8: linux/arm64/v8 is linux/arm64 again; "
        "keep one of them",
    ),
    (
        "builders-builder-and-context",
        GOOD.replace(
            "targets:\n", "builders:\n  linux/arm64: {builder: a, context: b}\ntargets:\n"
        ),
        {},
        "builds.yaml:5:16: builders.linux/arm64: name one place to build: {builder: NAME} "
        "or {context: NAME}",
    ),
    (
        "builders-unknown-key",
        GOOD.replace("targets:\n", "builders:\n  linux/arm64: {node: a}\ntargets:\n"),
        {},
        "builds.yaml:5:16: builders.linux/arm64: must be a buildx builder's name, "
        "{builder: NAME} or {context: NAME}",
    ),
    (
        "unknown-depends-on",
        GOOD.replace("    context: py\n", "    context: py\n    depends_on: [bsae]\n"),
        {},
        "builds.yaml:10:18: targets.py.depends_on[0]: unknown target 'bsae'; did you mean 'base'?",
    ),
    (
        "self-depends-on",
        GOOD.replace("    context: py\n", "    context: py\n    depends_on: [py]\n"),
        {},
        "builds.yaml:10:18: targets.py.depends_on[0]: a target cannot depend on itself; remove it",
    ),
    (
        "unknown-group-member",
        GOOD.replace("all: [base, py, app]", "all: [base, pyy, app]"),
        {},
        "builds.yaml:17:15: groups.all[1]: unknown target or group 'pyy'; did you mean 'py'?",
    ),
    (
        "group-glob-matches-nothing",
        GOOD.replace("all: [base, py, app]", "all: [base, 'shop-*']"),
        {},
        "builds.yaml:17:15: groups.all[1]: 'shop-*' matches no target; targets: app, base, py",
    ),
    (
        "group-named-like-target",
        GOOD.replace("  all: [base, py, app]", "  py: [base]"),
        {},
        "builds.yaml:17:3: groups.py: a group cannot share its name with the target defined at "
        "builds.yaml:8; rename the group",
    ),
    (
        "missing-context",
        GOOD.replace("context: py", "context: pyy"),
        {},
        "builds.yaml:9:14: targets.py.context: context pyy does not exist; fix 'context' "
        "(relative to builds.yaml's folder)",
    ),
    (
        "missing-dockerfile",
        GOOD.replace("    context: py\n", "    context: py\n    dockerfile: Dockerfle\n"),
        {},
        "builds.yaml:10:17: targets.py.dockerfile: Dockerfile py/Dockerfle does not exist; did "
        "you mean 'Dockerfile'?; fix 'dockerfile' (relative to the context)",
    ),
    (
        "context-outside-spec-folder",
        GOOD.replace("context: py", "context: ../outside"),
        {},
        "builds.yaml:9:14: targets.py.context: context ../outside is outside the folder "
        "of builds.yaml; move it inside or pass --allow-outside-context",
    ),
    (
        "unknown-stage",
        GOOD.replace("target: runtime", "target: runtme"),
        {},
        "builds.yaml:13:13: targets.app.target: stage 'runtme' is not defined in "
        "app/Dockerfile; did you mean 'runtime'? (stages: build, test, runtime)",
    ),
    (
        "unknown-test-stage",
        GOOD.replace("test: test", "test: tests"),
        {},
        "builds.yaml:14:11: targets.app.test: stage 'tests' is not defined in app/Dockerfile; "
        "did you mean 'test'? (stages: build, test, runtime)",
    ),
    (
        "tag-owned-twice",
        GOOD.replace('tags: ["${REG}/py:1"]', 'tags: ["docker.io/acme/base:1"]'),
        {},
        "builds.yaml:10:12: targets.py.tags[0]: tag 'docker.io/acme/base:1' is also produced by "
        "target 'base' (builds.yaml:7); each tag must belong to one target",
    ),
    (
        "invalid-tag",
        GOOD.replace('tags: ["${REG}/py:1"]', 'tags: ["Acme/Py:1"]'),
        {},
        "builds.yaml:10:12: targets.py.tags[0]: tag 'Acme/Py:1' has upper-case letters; "
        "repository names must be lower-case",
    ),
    (
        "tag-renders-empty",
        GOOD.replace('"${REG}/py:1"', '"${PY_TAG:-}"'),
        {},
        "builds.yaml:10:12: targets.py.tags[0]: tag '' (from template '${PY_TAG:-}') is empty",
    ),
    (
        "tag-renders-invalid",
        GOOD.replace('"${REG}/py:1"', '"${REG}/py:${PY_TAG:-}"'),
        {},
        "builds.yaml:10:12: targets.py.tags[0]: tag 'acme/py:' (from template "
        "'${REG}/py:${PY_TAG:-}') is not a valid image reference; write "
        "[registry/]name[:tag][@sha256:digest] with a lower-case name",
    ),
    (
        "unknown-variable",
        GOOD.replace('"${REG}/py:1"', '"${RGE}/py:1"'),
        {},
        "builds.yaml:10:12: targets.py.tags[0]: unknown variable ${RGE}; did you mean 'REG'?",
    ),
    (
        "required-variable",
        GOOD.replace('"${REG}/py:1"', '"${PY_VERSION_X:?set it with --var PY_VERSION_X=3.12}"'),
        {},
        "builds.yaml:10:12: targets.py.tags[0]: ${PY_VERSION_X}: set it with --var "
        "PY_VERSION_X=3.12",
    ),
    (
        "lone-dollar",
        GOOD.replace('"${REG}/py:1"', '"acme/py:$V"'),
        {},
        "builds.yaml:10:12: targets.py.tags[0]: a lone '$' in 'acme/py:$V'; write '$$' for a "
        "literal '$' or ${NAME} for a variable",
    ),
    (
        "variable-loop",
        GOOD.replace("  REG: acme\n", "  REG: ${OTHER}\n  OTHER: ${REG}\n"),
        {},
        "builds.yaml:3:3: variables.REG: variables refer to each other in a loop: "
        "REG -> OTHER -> REG",
    ),
    (
        "unknown-instruction",
        GOOD,
        {"py/Dockerfile": "FROM acme/base:1\nRUM true\n"},
        "py/Dockerfile:2:1: unknown instruction RUM; did you mean 'RUN'? (target 'py')",
    ),
    (
        "from-expands-to-nothing",
        GOOD,
        {"py/Dockerfile": "ARG PARENT\nFROM ${PARENT}\n"},
        "py/Dockerfile:2:1: FROM ${PARENT} expands to nothing; give the ARG a default or set it "
        "in the target's args (target 'py')",
    ),
    (
        "bad-image-reference",
        GOOD,
        {"py/Dockerfile": "FROM acme//base:1\n"},
        "py/Dockerfile:1:1: image 'acme//base:1' is not a valid image reference; write "
        "[registry/]name[:tag][@sha256:digest] with a lower-case name (target 'py')",
    ),
    (
        "include-missing",
        GOOD.replace("variables:", "include: [more.yaml]\nvariables:"),
        {},
        "builds.yaml:2:11: include[0]: included file 'more.yaml' does not exist; fix the path "
        "(relative to this file)",
    ),
    (
        "duplicate-target-across-files",
        GOOD.replace("variables:", "include: [more.yaml]\nvariables:"),
        {"more.yaml": "version: 1\ntargets:\n  py:\n    context: py\n"},
        "more.yaml:3:3: targets.py: target 'py' is already defined in builds.yaml:9; "
        "rename one of them",
    ),
    (
        "include-loop",
        GOOD.replace("variables:", "include: [more.yaml]\nvariables:"),
        {"more.yaml": "version: 1\ninclude: [builds.yaml]\ntargets: {}\n"},
        "more.yaml:2:11: include[0]: include loop: builds.yaml -> more.yaml -> builds.yaml; "
        "remove one",
    ),
]


@pytest.mark.parametrize(
    ("spec", "extra", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_exact_message(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    spec: str,
    extra: dict[str, str],
    expected: str,
) -> None:
    root = tmp_path / "proj"
    write_tree(root, {**DOCKERFILES, **extra, "builds.yaml": spec})
    result = run_cli(["validate"], root, capsys, monkeypatch)
    assert result.err.rstrip("\n") == expected
    assert result.code == 2
    assert result.out == ""
    assert "Traceback" not in result.err


def test_the_good_spec_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {**DOCKERFILES, "builds.yaml": GOOD})
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    assert (result.code, result.err) == (0, "")
    assert result.out == ("builds.yaml: valid: 3 targets, 1 group, 3 levels, 1 external base\n")


def test_all_problems_of_a_file_at_once_sorted_by_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = (
        GOOD.replace("version: 1", "version: 3")
        .replace("    context: app\n", "    context: app\n    platfroms: [linux/amd64]\n")
        .replace("    context: py\n", "    context: py\n    network: hots\n")
    )
    write_tree(tmp_path, {**DOCKERFILES, "builds.yaml": spec})
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert result.err == (
        "builds.yaml:1:10: version: must be 1, not 3\n"
        "builds.yaml:10:14: targets.py.network: 'hots' is not allowed; use one of: default, "
        "none, host; did you mean 'host'?\n"
        "builds.yaml:14:5: targets.app.platfroms: unknown key; did you mean 'platforms'?\n"
        "3 problems found; nothing was run.\n"
    )
