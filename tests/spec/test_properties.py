"""Properties of the loader and the validator over generated input (hypothesis): any
YAML text gives a valid spec or problems (exit 2), never a crash; and the fast schema
check agrees with jsonschema on every generated document."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from orchestrator.errors import SpecError, UsageError
from orchestrator.hierarchy.project import load_project
from orchestrator.spec.schema import schema
from orchestrator.spec.validate import fast_check

FIELDS = (
    "context",
    "dockerfile",
    "target",
    "test",
    "description",
    "args",
    "labels",
    "tags",
    "platforms",
    "cache_from",
    "cache_to",
    "secrets",
    "ssh",
    "network",
    "no_cache",
    "pull",
    "reproducible",
    "builder",
    "depends_on",
    "x-note",
    "bogus",
)
names = st.text(string.ascii_lowercase + string.digits + "-._", min_size=1, max_size=6)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["app", ".", "linux/amd64", "linux/arm64/v8", "host", "none", "${A}"]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(names, st.sampled_from(FIELDS)), inner, max_size=3),
    ),
    max_leaves=8,
)
targets = st.dictionaries(
    names, st.dictionaries(st.sampled_from(FIELDS), values, max_size=5), max_size=3
)
documents = st.fixed_dictionaries(
    {"version": st.one_of(st.just(1), values)},
    optional={
        "targets": st.one_of(targets, values),
        "defaults": st.dictionaries(st.sampled_from(FIELDS), values, max_size=4),
        "variables": st.dictionaries(st.sampled_from(["A", "B", "a-b"]), values, max_size=3),
        "groups": st.dictionaries(
            names, st.one_of(st.lists(names, max_size=3), values), max_size=2
        ),
        "include": values,
        "x-extra": values,
        "bogus": values,
    },
)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_the_fast_check_agrees_with_jsonschema(data: dict[str, Any]) -> None:
    valid = not any(True for _ in Draft202012Validator(schema()).iter_errors(data))
    assert fast_check(data) is valid


def mutate(text: str, cut: int, insert: str) -> str:
    at = cut % (len(text) + 1)
    return text[:at] + insert + text[at:]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    documents,
    st.integers(0, 10_000),
    st.sampled_from(
        ["", ":", "- ", "&a ", "*a", "!x ", "<<: *a\n", "{", "]", "\t", "'", '"', "\0"]
    ),
)
def test_any_yaml_gives_a_spec_or_problems_never_a_crash(
    tmp_path: Path, data: dict[str, Any], cut: int, insert: str
) -> None:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app/Dockerfile").write_text("FROM alpine\n")
    text = mutate(yaml.safe_dump(data, sort_keys=False), cut, insert)
    (tmp_path / "builds.yaml").write_text(text, encoding="utf-8")
    try:
        load_project(None, cwd=tmp_path, environ={})
    except (SpecError, UsageError) as exc:
        rendered = str(exc)
        assert rendered, "a problem with no words"
        assert "Traceback" not in rendered


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].glob("examples/**/*.yaml")))
def test_the_examples_pass_both_checks(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    assert fast_check(data)
    assert not list(Draft202012Validator(schema()).iter_errors(data))
