"""A run over builders (`builders:`) with the recording fake: each platform on its place
(a docker context is another fake engine sharing the registry), merged, published all
or nothing."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from orchestrator.backend.fake import FakeBackend, Script
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.build.pipeline import run_build
from orchestrator.errors import EngineError, UsageError
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.project import Project, load_project
from tests.helpers import write_tree

SPEC = """\
version: 1
builders:
  linux/arm64: {context: arm-node}
  linux/s390x: big-iron
defaults:
  tags: ["r.example/acme/${target}:1"]
  platforms: [linux/amd64, linux/arm64]
targets:
  base: {context: base}
  app: {context: app}
  tool: {context: tool, platforms: [linux/amd64]}
"""
FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "FROM alpine@sha256:" + "ab" * 32 + "\n",
    "app/Dockerfile": "FROM r.example/acme/base:1\n",
    "tool/Dockerfile": "FROM r.example/acme/base:1\n",
}
RELEASE = ["r.example/acme/app:1", "r.example/acme/base:1", "r.example/acme/tool:1"]


def checkout(root: Path, spec: str = SPEC) -> Project:
    write_tree(root, {**FILES, "builds.yaml": spec})
    return load_project(None, cwd=root, environ={})


def build(project: Project, backend: FakeBackend, **options: object) -> tuple[int, str]:
    mode = options.pop("mode", OutputMode())
    opts = BuildOptions(mode=mode, jobs=1, retries=0, retry_base_s=0.001, **options)  # type: ignore[arg-type]
    out = io.StringIO()
    code = run_build(project, opts, backend, stream=out, interrupted=threading.Event())
    return code, out.getvalue()


def built(backend: FakeBackend) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.target, r.platforms) for r in backend.requests if r.phase is Phase.BUILD]


def test_each_platform_builds_on_its_place_then_one_index_per_target(tmp_path: Path) -> None:
    here = FakeBackend()
    code, out = build(checkout(tmp_path), here)
    assert code == 0, out
    arm = here.contexts["arm-node"]
    assert built(here) == [
        ("base", ("linux/amd64",)),
        ("app", ("linux/amd64",)),
        ("tool", ("linux/amd64",)),
    ]
    assert built(arm) == [("base", ("linux/arm64",)), ("app", ("linux/arm64",))]
    assert all(r.builder is None for r in here.requests + arm.requests)
    lines = out.splitlines()
    assert (
        lines[0] == "builders: linux/amd64 on the current builder; linux/arm64 on docker "
        "context 'arm-node'"
    )
    assert lines[-1] == "no release tag moved (without --push); stackbake publish moves them"
    # every target's key holds both of its platforms; no release tag moved
    keyed = [line.split(": ", 1)[1] for line in lines if line.startswith(("base: ", "app: "))]
    for ref in keyed:
        assert sorted(here.platforms[here.registry[ref]]) == ["linux/amd64", "linux/arm64/v8"]
    assert [t for t in RELEASE if t in here.registry] == []
    # app's arm64 build on the other engine was pinned to base's arm64 digest pushed there
    app = next(r for r in arm.requests if r.target == "app")
    ((pin,),) = [app.contexts.values()]
    repository, _, digest = pin.removeprefix("docker-image://").partition("@")
    assert repository == "r.example/acme/base"
    assert digest in [d for t, d in here.registry.items() if t.startswith(f"{repository}:key-")]
    assert list(here.platforms[digest]) == ["linux/arm64/v8"]


def test_with_push_every_release_tag_moves_once_every_part_passed(tmp_path: Path) -> None:
    here = FakeBackend()
    project = checkout(tmp_path)
    code, out = build(project, here, mode=OutputMode(push=True))
    assert code == 0, out
    assert sorted(t for t in RELEASE if t in here.registry) == RELEASE
    assert out.splitlines()[-3:] == [
        f"published base: r.example/acme/base:1 ({here.registry['r.example/acme/base:1']})",
        f"published app: r.example/acme/app:1 ({here.registry['r.example/acme/app:1']})",
        f"published tool: r.example/acme/tool:1 ({here.registry['r.example/acme/tool:1']})",
    ]
    # run again: every part finds its keys in the registry, nothing builds
    before = len(here.requests), len(here.contexts["arm-node"].requests)
    code, out = build(project, here, mode=OutputMode(push=True))
    assert code == 0, out
    assert (len(here.requests), len(here.contexts["arm-node"].requests)) == before
    assert out.count("already there") == 3


def test_a_failed_part_merges_nothing_and_moves_no_release_tag(tmp_path: Path) -> None:
    here = FakeBackend()
    here.script("app", Phase.BUILD, Script("fail", lines=("boom",)))  # on both engines
    code, out = build(checkout(tmp_path), here, mode=OutputMode(push=True))
    assert code == 1
    assert out.splitlines()[-1] == (
        "builders: linux/amd64, linux/arm64 did not build; nothing merged, no release tag "
        "moved; fix it and build again (what was pushed is reused)"
    )
    assert [c for c in here.calls if c[0] in ("merge", "copy")] == []
    assert [t for t in RELEASE if t in here.registry] == []


def test_every_builder_is_checked_before_anything_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    here = FakeBackend(missing={"arm-node"})
    with pytest.raises(EngineError) as caught:
        build(checkout(tmp_path), here)
    assert str(caught.value) == "builders.linux/arm64 (builds.yaml:3): 'arm-node' not found"
    assert built(here) == []
    assert here.contexts == {}


def test_one_place_builds_there_without_a_farm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    here = FakeBackend()
    code, out = build(checkout(tmp_path), here, platforms=("linux/arm64",))
    assert code == 0, out
    assert built(here) == []
    assert built(here.contexts["arm-node"]) == [
        ("base", ("linux/arm64",)),
        ("app", ("linux/arm64",)),
    ]
    assert [c[1] for c in here.calls if c[0] == "check_builders"] == []
    assert [c[1] for c in here.contexts["arm-node"].calls if c[0] == "check_builders"] == [
        "builders.linux/arm64 (builds.yaml:3)"
    ]


def test_a_buildx_builder_named_for_a_platform_is_used_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = SPEC.replace("[linux/amd64, linux/arm64]", "[linux/s390x]").replace(
        "platforms: [linux/amd64]}", "platforms: [linux/s390x], builder: own}"
    )
    here = FakeBackend()
    code, out = build(checkout(tmp_path, spec), here)
    assert code == 0, out
    assert [(r.target, r.builder) for r in here.requests] == [
        ("base", "big-iron"),
        ("app", "big-iron"),
        ("tool", "own"),  # a target's own builder wins
    ]
    assert [c[1] for c in here.calls if c[0] == "check_builders"] == [
        "builders.linux/s390x (builds.yaml:4),tool.builder (builds.yaml:11)"
    ]


def test_a_farm_refuses_to_load_and_a_shard_over_two_builders(tmp_path: Path) -> None:
    project = checkout(tmp_path)
    with pytest.raises(UsageError) as caught:
        build(project, FakeBackend(), mode=OutputMode(load=True))
    assert str(caught.value) == (
        "--load: builders: spreads this run over builders that share only a registry, so "
        "its images cannot reach this engine; drop the flag, or build the platforms of one "
        "builder (--platform)"
    )
    with pytest.raises(UsageError) as caught:
        build(project, FakeBackend(), mode=OutputMode(key_only=True), shard=(1, 1))
    assert str(caught.value) == (
        "shard 1/1: builders: puts its platforms on 2 builders; cut the shards by platform "
        "(--split platforms), so that each builds on one"
    )
