"""The command line end to end (no engine): outputs, exit codes, no tracebacks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.helpers import Result, run_cli, write_tree

Run = Callable[..., Result]

SPEC = """\
version: 1
variables:
  REG: r.example/acme
defaults:
  tags: ["${REG}/${target}:1"]
  platforms: [linux/amd64]
targets:
  base: {context: base, description: company base, platforms: [linux/amd64, linux/arm64]}
  py: {context: py, platforms: [linux/amd64, linux/arm64]}
  app: {context: app, target: runtime, test: test, depends_on: [base]}
groups:
  apps: [app]
"""

FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "ARG BASE=alpine:3.20\nFROM $BASE\n",
    "py/Dockerfile": "FROM r.example/acme/base:1\n",
    "app/Dockerfile": (
        "FROM r.example/acme/py:1 AS build\nFROM build AS test\nFROM build AS runtime\n"
    ),
}


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    write_tree(tmp_path, FILES)
    for name in ("REG", "BASE"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Result:
        return run_cli(list(args), tmp_path, capsys, monkeypatch)

    return run


def test_plan_text(cli: Run) -> None:
    result = cli("plan")
    assert (result.code, result.err) == (0, "")
    assert (
        result.out
        == """\
Plan for builds.yaml: 3 targets in 3 levels
  1. base  [level 0]
       external:  alpine:3.20 (base/Dockerfile:2 FROM $BASE)
       platforms: linux/amd64, linux/arm64
       tags:      r.example/acme/base:1
  2. py  [level 1]
       from:      base (py/Dockerfile:1 FROM r.example/acme/base:1)
       platforms: linux/amd64, linux/arm64
       tags:      r.example/acme/py:1
  3. app  [level 2, stage runtime, test stage test]
       after:     base (declared in builds.yaml:10)
       from:      py (app/Dockerfile:1 FROM r.example/acme/py:1)
       platforms: linux/amd64
       tags:      r.example/acme/app:1
"""
    )


def test_plan_selection_marks_needed_parents(cli: Run) -> None:
    result = cli("plan", "py")
    assert result.out.splitlines()[:3] == [
        "Plan for builds.yaml: 2 targets in 2 levels",
        "  1. base  [level 0, needed by the selection]",
        "       external:  alpine:3.20 (base/Dockerfile:2 FROM $BASE)",
    ]


def test_a_var_that_renames_the_parent_tag_cuts_the_edge(cli: Run) -> None:
    # py's Dockerfile hard-codes r.example/acme/base:1: once base is tagged elsewhere,
    # that reference is an external image, not the base target.
    result = cli("plan", "py", "--var", "REG=x.example/y")
    assert result.out.splitlines()[:4] == [
        "Plan for builds.yaml: 1 target in 1 level",
        "Variables not from the spec: REG=x.example/y (--var)",
        "  1. py  [level 0]",
        "       external:  r.example/acme/base:1 (py/Dockerfile:1 FROM r.example/acme/base:1)",
    ]


def test_plan_json_is_stable_and_matches_its_schema(cli: Run) -> None:
    result = cli("plan", "apps", "--format", "json")
    data = json.loads(result.out)
    schema = json.loads((Path(__file__).parents[2] / "schemas/plan.schema.json").read_text())
    Draft202012Validator(schema).validate(data)
    assert [(t["name"], t["level"], t["requested"]) for t in data["targets"]] == [
        ("base", 0, False),
        ("py", 1, False),
        ("app", 2, True),
    ]
    assert data["targets"][2] == {
        "name": "app",
        "level": 2,
        "requested": True,
        "context": "app",
        "dockerfile": "app/Dockerfile",
        "target": "runtime",
        "test": "test",
        "platforms": ["linux/amd64"],
        "tags": ["r.example/acme/app:1"],
        "args": {},
        "labels": {},
        "cache_from": [],
        "cache_to": [],
        "secrets": [],
        "depends_on": ["base"],
        "parents": [
            {
                "name": "base",
                "kind": "declared",
                "origins": [
                    {"kind": "declared", "file": "builds.yaml", "line": 10, "detail": "depends_on"}
                ],
            },
            {
                "name": "py",
                "kind": "from",
                "origins": [
                    {
                        "kind": "dockerfile",
                        "file": "app/Dockerfile",
                        "line": 1,
                        "detail": "FROM r.example/acme/py:1",
                        "ref": "r.example/acme/py:1",
                        "base": True,
                    }
                ],
            },
        ],
        "external_bases": [],
    }


def test_graph_tree(cli: Run) -> None:
    assert (
        cli("graph").out
        == """\
[alpine:3.20]
base (r.example/acme/base:1)
└── py (r.example/acme/py:1)
    └── app (r.example/acme/app:1)  (also: base declared)
"""
    )


def test_graph_mermaid_is_paste_ready(cli: Run) -> None:
    assert (
        cli("graph", "--format", "mermaid").out
        == """\
```mermaid
graph TD
    ext_0["alpine:3.20"]:::external
    t_base["base<br>r.example/acme/base:1"]
    t_py["py<br>r.example/acme/py:1"]
    t_app["app<br>r.example/acme/app:1"]
    ext_0 -.-> t_base
    t_base --> t_py
    t_base -.->|depends_on| t_app
    t_py --> t_app
    classDef external stroke-dasharray: 5 5
```
"""
    )


def test_graph_dot(cli: Run) -> None:
    assert (
        cli("graph", "py", "--format", "dot").out
        == """\
digraph stackbake {
  rankdir=TB;
  node [shape=box];
  "alpine:3.20" [style=dashed];
  "base" [label="base\\nr.example/acme/base:1"];
  "py" [label="py\\nr.example/acme/py:1"];
  "alpine:3.20" -> "base" [style=dashed];
  "base" -> "py";
}
"""
    )


def test_graph_json(cli: Run) -> None:
    data = json.loads(cli("graph", "--format", "json").out)
    assert [(e["parent"], e["child"]) for e in data["edges"]] == [
        ("base", "py"),
        ("base", "app"),
        ("py", "app"),
    ]
    assert [n["name"] for n in data["nodes"]] == ["base", "py", "app"]


def test_ls(cli: Run) -> None:
    assert (
        cli("ls").out
        == """\
TARGET  CONTEXT  DOCKERFILE  STAGE    GROUPS  DESCRIPTION
base    base     Dockerfile  -        -       company base
py      py       Dockerfile  -        -
app     app      Dockerfile  runtime  apps

GROUP  TARGETS
apps   app
"""
    )


def test_schema_command_prints_the_shipped_schema(cli: Run) -> None:
    source = (Path(__file__).parents[2] / "schemas/builds.schema.json").read_text()
    assert cli("schema").out == source


@pytest.mark.parametrize(
    ("args", "err"),
    [
        (
            ["plan", "--with-dependent"],
            "error: unrecognized arguments: --with-dependent; did you mean '--with-dependents'?\n"
            "run 'stackbake --help' for usage\n",
        ),
        (
            ["plan", "nope"],
            "error: unknown target or group 'nope'; run 'stackbake ls' to see targets and groups\n",
        ),
        (["plan", "--var", "1=2"], "error: --var '1=2': write --var NAME=VALUE\n"),
        (
            ["graph", "--format", "svg"],
            "error: argument --format: invalid choice: 'svg' (choose from 'tree', 'mermaid', "
            "'dot', 'json')\nrun 'stackbake graph --help' for usage\n",
        ),
        (["plan", "-f", "missing.yaml"], "missing.yaml: no such file; pass -f with a spec file\n"),
    ],
)
def test_usage_errors_exit_2(cli: Run, args: list[str], err: str) -> None:
    result = cli(*args)
    assert (result.code, result.out, result.err) == (2, "", err)


def test_options_before_or_after_the_command(cli: Run) -> None:
    before = cli("--var", "REG=a.example/b", "-f", "builds.yaml", "plan", "--format", "json")
    after = cli("plan", "--format", "json", "-f", "builds.yaml", "--var", "REG=a.example/b")
    assert before.out == after.out
    assert json.loads(before.out)["targets"][0]["tags"] == ["a.example/b/base:1"]


def test_missing_default_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    assert (result.code, result.err) == (
        2,
        "builds.yaml: no such file; create it (see builds.yaml.example) or pass -f FILE\n",
    )


def test_internal_error_exit_3_with_traceback_in_a_log(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setenv("STACKBAKE_DEBUG_CRASH", "1")
    result = cli("validate")
    assert result.code == 3
    assert result.err.startswith("internal error: stackbake hit a bug; the traceback is in ")
    assert "Traceback" not in result.err
    log = Path(result.err.split(" is in ", 1)[1].split(" (please", 1)[0])
    assert "ZeroDivisionError" in log.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["build", "--shard", "1/2", "--with-dependents"],
            "error: --shard builds its part of the matrix's selection: give it the matrix's "
            "targets, without --with-dependents or --changed-since\n",
        ),
        (
            ["build", "--atomic"],
            "error: --atomic moves release tags in the registry: use it with --push\n",
        ),
        (
            ["build", "--push", "--atomic", "--platform", "linux/arm64"],
            "error: --atomic is for one machine; shards and --platform builds are published "
            "together by 'stackbake publish'\n",
        ),
    ],
)
def test_shard_flags_that_do_not_go_together(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    write_tree(
        tmp_path,
        {"builds.yaml": "version: 1\ntargets:\n  a: {context: .}\n", "Dockerfile": "FROM alpine\n"},
    )
    result = run_cli(args, tmp_path, capsys, monkeypatch)
    assert (result.code, result.err) == (2, message)


def test_a_shard_k_above_n_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_cli(["build", "--shard", "3/2"], tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert "argument --shard: write K/N with 1 <= K <= N, for example 2/3" in result.err
