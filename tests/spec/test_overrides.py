from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import SpecError, UsageError
from orchestrator.hierarchy.project import load_project
from orchestrator.spec.model import Spec
from tests.helpers import write_tree

SPEC = """\
version: 1
defaults:
  platforms: [linux/amd64]
  tags: ["r.example/${target}:1"]
targets:
  base: {context: base}
  shop-api: {context: api, args: {A: "1"}}
  shop-web: {context: web}
"""
FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "FROM alpine\n",
    "api/Dockerfile": "FROM r.example/base:1\n",
    "web/Dockerfile": "FROM alpine\n",
}


def load(tmp_path: Path, *sets: str) -> Spec:
    write_tree(tmp_path, FILES)
    return load_project(None, cwd=tmp_path, environ={}, sets=list(sets)).spec


def test_set_overrides_fields_with_globs(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        "*.platforms=linux/amd64,linux/arm64",
        "shop-*.args.B=$HOME",
        "shop-api.cache_to=type=registry,ref=r/c,mode=max",
        "base.no_cache=true",
        "shop-web.tags=a.example/w:1,a.example/w:latest",
    )
    assert spec.targets["base"].platforms == ("linux/amd64", "linux/arm64")
    assert spec.targets["base"].no_cache is True
    assert spec.targets["shop-api"].args == {"A": "1", "B": "$HOME"}
    assert spec.targets["shop-api"].cache_to[0].to_flag() == "type=registry,ref=r/c,mode=max"
    assert spec.targets["shop-web"].tags == ("a.example/w:1", "a.example/w:latest")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "base.platfroms=linux/amd64",
            "--set 'base.platfroms=linux/amd64': unknown key "
            "'platfroms'; did you mean 'platforms'?",
        ),
        ("nope.tags=x", "--set 'nope.tags=x': no target matches 'nope'"),
        ("bsae.tags=x", "--set 'bsae.tags=x': no target matches 'bsae'; did you mean 'base'?"),
        ("base=x", "--set 'base=x': write --set TARGET.KEY=VALUE (TARGET may be a glob)"),
        ("base.pull=maybe", "--set 'base.pull=maybe': pull is true or false"),
        ("base.args=1", "--set 'base.args=1': write --set TARGET.args.NAME=VALUE"),
    ],
)
def test_bad_set(tmp_path: Path, raw: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        load(tmp_path, raw)
    assert str(info.value) == message


def test_set_values_are_validated_like_the_spec(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load(tmp_path, "shop-web.platforms=linux/amd46")
    assert info.value.render() == (
        "--set shop-web.platforms=linux/amd46: unknown architecture 'amd46' in 'linux/amd46'; "
        "did you mean 'amd64'?"
    )


def test_child_platforms_must_be_built_by_the_parent(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load(tmp_path, "shop-api.platforms=linux/amd64,linux/arm64")
    assert info.value.render() == (
        "--set shop-api.platforms=linux/amd64,linux/arm64: linux/arm64 not built by parent "
        f"'base' (platforms: linux/amd64; {tmp_path}/builds.yaml:3); add it to the parent or "
        "drop it here"
    )
