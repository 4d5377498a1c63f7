from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.hierarchy.project import load_project
from orchestrator.spec.model import CacheEntry, Secret
from tests.helpers import write_tree

ROOT = """\
version: 1
include: [teams/data.yaml]
variables:
  REG: r.example/acme
defaults:
  platforms: [linux/amd64, linux/arm64]
  tags: ["${REG}/${target}:1"]
  labels: {org.opencontainers.image.vendor: Acme, team: platform}
  args: {REG: "${REG}"}
  cache_from: ["type=registry,ref=${REG}/cache/${target}"]
  cache_to: [{type: local, dest: "/tmp/cache/${target}", mode: max}]
x-common: &common
  network: none
targets:
  base:
    context: base
    <<: *common
    labels: {team: core}
    secrets: [{id: netrc, src: ~/.netrc}, {id: token, env: TOKEN}]
"""

TEAM = """\
version: 1
variables:
  REG: r.example/acme
defaults:
  labels: {team: data}
targets:
  etl:
    context: etl
    platforms: [linux/amd64]
groups:
  data: [etl]
"""


def test_defaults_includes_and_merges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(
        tmp_path,
        {
            "builds.yaml": ROOT,
            "teams/data.yaml": TEAM,
            "base/Dockerfile": "FROM alpine\n",
            "teams/etl/Dockerfile": "FROM r.example/acme/base:1\n",
        },
    )
    home = tmp_path / "home"
    write_tree(home, {".netrc": "machine r.example\n"})
    monkeypatch.setenv("HOME", str(home))  # ~ in a secret's src
    spec = load_project(None, cwd=tmp_path, environ={"HOME": "/home/u"}).spec
    base, etl = spec.targets["base"], spec.targets["etl"]
    assert base.labels == {"org.opencontainers.image.vendor": "Acme", "team": "core"}
    assert etl.labels == {"org.opencontainers.image.vendor": "Acme", "team": "data"}
    assert base.platforms == ("linux/amd64", "linux/arm64")
    assert etl.platforms == ("linux/amd64",)
    assert etl.context == tmp_path / "teams" / "etl"
    assert etl.tags == ("r.example/acme/etl:1",)
    assert base.network == "none"
    assert base.cache_from == (
        CacheEntry((("type", "registry"), ("ref", "r.example/acme/cache/base"))),
    )
    assert base.cache_to[0].to_flag() == "type=local,dest=/tmp/cache/base,mode=max"
    assert base.secrets[1] == Secret(id="token", env="TOKEN")
    assert base.secrets[0].src is not None
    assert base.secrets[0].src == home / ".netrc"
    assert spec.groups["data"].members == ("etl",)
    assert spec.files == (tmp_path / "builds.yaml", tmp_path / "teams" / "data.yaml")
    where = etl.at("platforms[0]")
    assert (where.file.name, where.line, where.path) == ("data.yaml", 9, "targets.etl.platforms[0]")
    where = etl.at("tags[0]")
    assert (where.file.name, where.line, where.path) == ("builds.yaml", 7, "defaults.tags[0]")


def test_conflicting_variable_across_files(tmp_path: Path) -> None:

    write_tree(
        tmp_path,
        {
            "builds.yaml": ROOT,
            "teams/data.yaml": TEAM.replace("r.example/acme", "other"),
            "base/Dockerfile": "FROM alpine\n",
            "teams/etl/Dockerfile": "FROM alpine\n",
        },
    )
    with pytest.raises(SpecError) as info:
        load_project(None, cwd=tmp_path, environ={})
    assert info.value.render() == (
        f"{tmp_path}/teams/data.yaml:3:3: variables.REG: variable also defined in "
        f"{tmp_path}/builds.yaml:4 with another value; keep one definition"
    )
