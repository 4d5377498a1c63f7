from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from orchestrator.spec.variables import (
    GitFacts,
    InterpolationError,
    Variables,
    parse_assignments,
)


def make(
    block: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
    folder: Path = Path("/nonexistent"),
) -> Variables:
    return Variables(block or {}, overrides or {}, environ or {}, GitFacts(folder))


def test_precedence_var_then_environment_then_block() -> None:
    block = {"A": "block", "B": "block", "C": "block"}
    v = make(block, overrides={"A": "flag"}, environ={"A": "env", "B": "env"})
    assert v.interpolate("${A} ${B} ${C}", None) == "flag env block"


def test_block_values_use_other_variables_and_see_overrides() -> None:
    v = make({"REG": "r.example/acme", "IMAGE": "${REG}/base"}, overrides={"REG": "x"})
    assert v.interpolate("${IMAGE}:1", None) == "x/base:1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${UNSET:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${SET:-fallback}", "value"),
        ("${UNSET:-${SET}-x}", "value-x"),
        ("cost: $$5 ($${SET})", "cost: $5 (${SET})"),
        ("${SET:?must be set}", "value"),
        ("${target}-${date}", "web-20261129"),
    ],
)
def test_forms(text: str, expected: str) -> None:
    v = make({"SET": "value", "EMPTY": ""})
    v.today = "20261129"
    assert v.interpolate(text, "web") == expected


def test_date_is_utc_yyyymmdd() -> None:
    assert re.fullmatch(r"20\d{6}", make().today)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "${NOPE}",
            "unknown variable ${NOPE}; define it under 'variables', pass --var NAME=VALUE, "
            "or set it in the environment",
        ),
        ("${SETT}", "unknown variable ${SETT}; did you mean 'SET'?"),
        ("${EMPTY:?give EMPTY a value}", "${EMPTY}: give EMPTY a value"),
        ("${UNSET:?}", "${UNSET}: is required"),
        (
            "${A B}",
            "'${A B}' is not a placeholder; write ${NAME}, ${NAME:-default} or ${NAME:?message}",
        ),
        ("${SET", "unclosed '${' in '${SET'; add the missing '}'"),
        ("$SET", "a lone '$' in '$SET'; write '$$' for a literal '$' or ${NAME} for a variable"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as info:
        make({"SET": "value", "EMPTY": ""}).interpolate(text, "web")
    assert str(info.value) == message


def test_target_outside_a_target() -> None:
    with pytest.raises(InterpolationError) as info:
        make().interpolate("${target}", None)
    assert str(info.value) == "${target} is only defined inside a target or defaults"


def test_error_inside_a_block_variable_names_it() -> None:
    with pytest.raises(InterpolationError) as info:
        make({"IMAGE": "${MISSING}/x"}).interpolate("${IMAGE}", None)
    assert info.value.variable == "IMAGE"


def test_git_builtins(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q", "-b", "trunk")
    git(
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.invalid",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "x",
    )
    v = make(folder=tmp_path)
    sha = git("rev-parse", "HEAD")
    assert v.interpolate("${git.sha} ${git.short_sha} ${git.branch}", None) == (
        f"{sha} {sha[:12]} trunk"
    )


def test_git_builtins_outside_a_checkout(tmp_path: Path) -> None:
    with pytest.raises(InterpolationError) as info:
        make(folder=tmp_path).interpolate("${git.sha}", None)
    assert str(info.value) == (
        f"${{git.sha}} needs a git checkout with at least one commit, and {tmp_path} is not "
        "one; use ${git.sha:-VALUE} or --var git.sha=VALUE"
    )
    assert make(folder=tmp_path).interpolate("${git.short_sha:-dev}", None) == "dev"
    pinned = make(overrides={"git.sha": "abc", "date": "20260101"}, folder=tmp_path)
    assert pinned.interpolate("${git.sha}-${date}", None) == "abc-20260101"


def test_parse_assignments() -> None:
    assert parse_assignments(["A=1", "B=x=y", "C=", "git.sha=f00"], "--var") == {
        "A": "1",
        "B": "x=y",
        "C": "",
        "git.sha": "f00",
    }
    with pytest.raises(ValueError, match=r"--var '1A=2': write --var NAME=VALUE"):
        parse_assignments(["1A=2"], "--var")
