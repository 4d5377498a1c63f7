"""container-structure-test's reports to failures, from recorded runs."""

from __future__ import annotations

from pathlib import Path

from orchestrator.gates.structure import failures, structure_argv
from orchestrator.gates.tool import Done

DATA = Path(__file__).parent / "data"
FATAL = ('time="2026-12-03T08:57:55Z" level=fatal msg=FAIL',)


def test_failures_by_test_name() -> None:
    done = Done(1, (DATA / "cst-amd64-fail.json").read_text(), FATAL)
    assert failures(done) == (
        "Command Test: arch is arm64: Expected string 'aarch64' not found in output 'x86_64\\n'",
        "Command Test: plat file: Expected string 'linux/arm64' not found in output "
        "'linux/amd64\\n'",
    )


def test_all_passed() -> None:
    out = '{"Pass":1,"Fail":0,"Total":1,"Results":[{"Name":"File Existence Test: x","Pass":true}]}'
    assert failures(Done(0, out + "\n")) == ()


def test_a_bad_config_and_a_missing_image() -> None:
    bad = (
        '{"Pass":0,"Fail":1,"Total":1,"Results":[{"Name":"","Pass":false,"Errors":["error '
        "parsing config file: error unmarshalling config: yaml: unmarshal errors:\\n  line 3: "
        'field nme not found in type v2.CommandTest"]}]}'
    )
    assert failures(Done(1, bad, FATAL)) == (
        "config: error parsing config file: error unmarshalling config: yaml: unmarshal "
        "errors:\\n line 3: field nme not found in type v2.CommandTest",
    )
    missing = (
        '{"Pass":0,"Fail":1,"Total":1,"Results":[{"Name":"arch","Pass":false,'
        '"Errors":["error setting env vars: Error creating container: no such image"]}]}'
    )
    assert failures(Done(1, missing, FATAL)) == (
        "arch: error setting env vars: Error creating container: no such image",
    )


def test_no_report_and_no_test() -> None:
    assert failures(Done(1, "", ("Error: unknown flag: --nope",))) == (
        "container-structure-test failed: Error: unknown flag: --nope",
    )
    empty = '{"Pass":0,"Fail":0,"Total":0,"Duration":0}'
    assert failures(Done(1, empty, FATAL)) == ("no test ran: the configs hold none",)
    assert failures(Done(-1, "", cancelled=True)) == ("cancelled",)


def test_argv_every_config_in_one_run() -> None:
    argv = structure_argv(
        "cst",
        "docker.io/library/app:1",
        "linux/arm64",
        [Path("a.yaml"), Path("b.yaml")],
        pull=False,
    )
    assert argv == [
        "cst",
        "test",
        "--image",
        "docker.io/library/app:1",
        "--platform",
        "linux/arm64",
        "--output",
        "json",
        "--config",
        "a.yaml",
        "--config",
        "b.yaml",
    ]
    assert structure_argv("cst", "r/app@sha256:ab", "linux/amd64", [], pull=True)[-1] == "--pull"
