"""CI shards with the recording fake: two runners (two fake engines) sharing one
registry; what each builds, where its parents come from, what is pushed."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest

from orchestrator.backend.fake import FakeBackend, fake_digest
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.build.pipeline import run_build
from orchestrator.build.shards import MatrixRequest, placed_targets, read_durations, shards_of
from orchestrator.errors import UsageError
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.project import Project, load_project
from orchestrator.state import StateDir
from tests.helpers import write_tree

SPEC = """\
version: 1
defaults:
  tags: ["r.example/acme/${target}:1"]
  platforms: [linux/amd64, linux/arm64]
targets:
  base: {context: base}
  rt: {context: rt}
  app1: {context: app1}
  app2: {context: app2}
  lib: {context: lib}
"""
FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "FROM alpine@sha256:" + "ab" * 32 + "\n",
    "rt/Dockerfile": "FROM r.example/acme/base:1\n",
    "app1/Dockerfile": "FROM r.example/acme/rt:1\n",
    "app2/Dockerfile": "FROM r.example/acme/rt:1\n",
    "lib/Dockerfile": "FROM alpine@sha256:" + "ab" * 32 + "\n",
}
# base 1+rt 1+app 1 on shard 1 (3 s); lib 2 then app2 1 on shard 2
DURATIONS = {"base": 1.0, "rt": 1.0, "app1": 1.0, "app2": 1.0, "lib": 2.0}


def checkout(root: Path, *, platforms: str = "") -> Project:
    spec = SPEC.replace("[linux/amd64, linux/arm64]", platforms) if platforms else SPEC
    write_tree(root, {**FILES, "builds.yaml": spec, "durations.json": json.dumps(DURATIONS)})
    return load_project(None, cwd=root, environ={})


def shard(project: Project, backend: FakeBackend, k: int, **options: object) -> tuple[int, dict]:
    report = project.spec.folder / f"report-{k}.json"
    opts = BuildOptions(
        mode=OutputMode(key_only=True),
        jobs=1,
        retries=0,
        retry_base_s=0.001,
        report=report,
        shard=(k, 2),
        durations=(project.spec.folder / "durations.json",),
        **options,  # type: ignore[arg-type]
    )
    code = run_build(project, opts, backend, stream=io.StringIO(), interrupted=threading.Event())
    return code, json.loads(report.read_text())


def statuses(report: dict) -> dict[str, str]:
    return {
        t["name"]: t["status"] + (f"/{t['phase']}" if t["phase"] else "") for t in report["targets"]
    }


def built(backend: FakeBackend) -> list[str]:
    return [r.target for r in backend.requests if r.phase is Phase.BUILD]


def test_the_matrix_follows_the_graph_and_the_durations(tmp_path: Path) -> None:
    project = checkout(tmp_path)
    request = MatrixRequest(shards=2, durations=(tmp_path / "durations.json",))
    placed = placed_targets(
        project, request, FakeBackend(), StateDir(tmp_path), stream=io.StringIO(), wait_s=0
    )
    shards = shards_of(project, placed.placed, request)
    assert [(s.targets, s.needs, s.estimate_s) for s in shards] == [
        (("base", "rt", "app1"), (), 3.0),
        (("lib", "app2"), (1,), 3.0),
    ]


def test_two_shards_build_each_target_once_and_move_no_release_tag(tmp_path: Path) -> None:
    a, b = FakeBackend(), FakeBackend()
    b.registry = a.registry  # the runners share only the registry
    first, second = checkout(tmp_path / "a"), checkout(tmp_path / "b")
    code_a, _ = shard(first, a, 1)
    code_b, report_b = shard(second, b, 2)
    assert (code_a, code_b) == (0, 0)
    assert built(a) == ["base", "rt", "app1"]
    assert sorted(built(b)) == ["app2", "lib"]
    assert statuses(report_b) == {
        "base": "up-to-date",
        "rt": "up-to-date",
        "lib": "built",
        "app2": "built",
    }
    # app2, on engine B, is pinned to the rt engine A pushed, by its registry digest
    app2 = next(r for r in b.requests if r.target == "app2")
    rt = fake_digest("rt/build")
    assert app2.contexts == {"r.example/acme/rt:1": f"docker-image://r.example/acme/rt@{rt}"}
    assert not [t for t in a.registry if not t.rsplit(":", 1)[1].startswith("key-")]
    assert len(a.registry) == 5
    # every local name a shard made for its push is gone
    assert not [t for t in (*a.images, *b.images) if ":key-" in t]


def test_a_shard_rerun_after_success_builds_nothing(tmp_path: Path) -> None:
    backend = FakeBackend()
    project = checkout(tmp_path)
    shard(project, backend, 1)
    code, report = shard(project, backend, 1)
    assert code == 0
    assert built(backend) == ["base", "rt", "app1"]
    assert set(statuses(report).values()) == {"up-to-date"}


def test_a_parent_from_another_shard_that_never_comes(tmp_path: Path) -> None:
    code, report = shard(checkout(tmp_path), FakeBackend(), 2)
    assert code == 1
    assert statuses(report) == {
        "base": "failed/wait",
        "rt": "blocked",
        "lib": "built",
        "app2": "blocked",
    }
    base = next(t for t in report["targets"] if t["name"] == "base")
    assert base["reason"].startswith("base is built by another shard and r.example/acme/base:key-")
    assert base["reason"].endswith(
        "is not in the registry (--wait 0); check that shard, or give it longer with --wait SECONDS"
    )


def test_a_platform_build_builds_that_platform_under_its_own_key(tmp_path: Path) -> None:
    backend = FakeBackend()
    project = checkout(tmp_path)
    opts = BuildOptions(
        mode=OutputMode(key_only=True), jobs=1, retries=0, platforms=("linux/arm64",)
    )
    assert (
        run_build(project, opts, backend, stream=io.StringIO(), interrupted=threading.Event()) == 0
    )
    assert {r.platforms for r in backend.requests} == {("linux/arm64",)}
    keys = sorted(t for t in backend.registry)
    assert len(keys) == 5
    assert all(":key-" in t for t in keys)
    # the whole target's key is another one: the arm64 build is not mistaken for it
    whole = FakeBackend(registry=dict(backend.registry))
    assert (
        run_build(
            project,
            BuildOptions(mode=OutputMode(key_only=True), jobs=1, retries=0),
            whole,
            stream=io.StringIO(),
            interrupted=threading.Event(),
        )
        == 0
    )
    assert sorted(built(whole)) == ["app1", "app2", "base", "lib", "rt"]


def test_durations_from_reports_and_files(tmp_path: Path) -> None:
    report = {
        "targets": [
            {"name": "a", "status": "built", "duration_s": 3.5},
            {"name": "b", "status": "up-to-date", "duration_s": 0.0},
        ]
    }
    write_tree(tmp_path, {"r.json": json.dumps(report), "d.json": '{"b": 2}', "bad.json": "[1]"})
    assert read_durations([tmp_path / "r.json", tmp_path / "d.json"]) == {"a": 3.5, "b": 2.0}
    with pytest.raises(UsageError) as info:
        read_durations([tmp_path / "bad.json"])
    assert str(info.value).endswith(
        "bad.json: write an object of target names to seconds, for example "
        '{"base": 12.5}, or give a report of stackbake build'
    )


def test_a_platform_build_has_registry_caches_of_its_own(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            **FILES,
            "builds.yaml": SPEC.replace(
                '  tags: ["r.example/acme/${target}:1"]\n',
                '  tags: ["r.example/acme/${target}:1"]\n'
                '  cache_from: ["type=registry,ref=r.example/cache/${target}"]\n'
                '  cache_to: ["type=registry,ref=r.example/cache/${target}:main,mode=max"]\n',
            ),
        },
    )
    project = load_project(None, cwd=tmp_path, environ={})
    backend = FakeBackend()
    opts = BuildOptions(
        mode=OutputMode(key_only=True), jobs=1, retries=0, platforms=("linux/arm64",)
    )
    assert (
        run_build(project, opts, backend, stream=io.StringIO(), interrupted=threading.Event()) == 0
    )
    base = next(r for r in backend.requests if r.target == "base")
    assert base.cache_from == ("type=registry,ref=r.example/cache/base:linux-arm64",)
    assert base.cache_to == ("type=registry,ref=r.example/cache/base:main-linux-arm64,mode=max",)


def test_a_registry_cache_ref_targets_share_gets_one_per_target(tmp_path: Path) -> None:
    shared = '  cache_to: ["type=registry,ref=r.example/cache,mode=max"]\n'
    write_tree(
        tmp_path,
        {
            **FILES,
            "builds.yaml": SPEC.replace(
                '  tags: ["r.example/acme/${target}:1"]\n',
                '  tags: ["r.example/acme/${target}:1"]\n' + shared,
            ),
        },
    )
    project = load_project(None, cwd=tmp_path, environ={})
    for platforms, suffix in (((), ""), (("linux/arm64",), "-linux-arm64")):
        backend = FakeBackend()
        opts = BuildOptions(mode=OutputMode(key_only=True), jobs=1, retries=0, platforms=platforms)
        assert (
            run_build(project, opts, backend, stream=io.StringIO(), interrupted=threading.Event())
            == 0
        )
        refs = {r.target: r.cache_to for r in backend.requests}
        assert refs["base"] == (f"type=registry,ref=r.example/cache:base{suffix},mode=max",)
        assert refs["lib"] == (f"type=registry,ref=r.example/cache:lib{suffix},mode=max",)


def test_one_target_reading_and_writing_one_registry_cache_keeps_its_ref(tmp_path: Path) -> None:
    own = (
        '  cache_from: ["type=registry,ref=r.example/cache/${target}"]\n'
        '  cache_to: ["type=registry,ref=r.example/cache/${target},mode=max"]\n'
    )
    tags = '  tags: ["r.example/acme/${target}:1"]\n'
    write_tree(tmp_path, {**FILES, "builds.yaml": SPEC.replace(tags, tags + own)})
    backend = FakeBackend()
    opts = BuildOptions(jobs=1, retries=0)
    project = load_project(None, cwd=tmp_path, environ={})
    assert (
        run_build(project, opts, backend, stream=io.StringIO(), interrupted=threading.Event()) == 0
    )
    base = next(r for r in backend.requests if r.target == "base")
    assert base.cache_from == ("type=registry,ref=r.example/cache/base",)
    assert base.cache_to == ("type=registry,ref=r.example/cache/base,mode=max",)


def test_platform_shards_pin_published_parents_to_their_published_image(tmp_path: Path) -> None:
    from orchestrator.build.promotion import run_publish

    backend = FakeBackend()
    project = checkout(tmp_path)
    whole = BuildOptions(mode=OutputMode(key_only=True), jobs=1, retries=0)
    assert (
        run_build(project, whole, backend, stream=io.StringIO(), interrupted=threading.Event()) == 0
    )
    assert run_publish(project, [], backend, partial=False, stream=io.StringIO()) == 0
    (tmp_path / "app2/Dockerfile").write_text("FROM r.example/acme/rt:1\nRUN true\n")
    project = load_project(None, cwd=tmp_path, environ={})
    for k, engine in ((1, "a"), (2, "b")):
        shard = FakeBackend(engine=engine, registry=backend.registry, platforms=backend.platforms)
        opts = BuildOptions(
            mode=OutputMode(key_only=True), jobs=1, retries=0, shard=(k, 2), split="platforms"
        )
        out = io.StringIO()
        assert run_build(project, opts, shard, stream=out, interrupted=threading.Event()) == 0, (
            out.getvalue()
        )
        (app2,) = [r for r in shard.requests if r.phase is Phase.BUILD]
        rt = backend.registry["r.example/acme/rt:1"]
        assert app2.target == "app2"
        assert app2.contexts == {"r.example/acme/rt:1": f"docker-image://r.example/acme/rt@{rt}"}
    out = io.StringIO()
    assert run_publish(project, [], backend, partial=False, stream=out) == 0, out.getvalue()
    assert out.getvalue().count("already there") == 4


def test_arm64_and_arm64_v8_are_one_platform_shard(tmp_path: Path) -> None:
    spec = SPEC.replace(
        "  lib: {context: lib}", "  lib: {context: lib, platforms: [linux/arm64/v8]}"
    )
    write_tree(tmp_path, {**FILES, "builds.yaml": spec})
    project = load_project(None, cwd=tmp_path, environ={})
    request = MatrixRequest(shards=2, split="platforms", everything=True)
    shards = shards_of(project, list(project.spec.targets), request)
    assert sorted((s.platforms, sorted(s.targets)) for s in shards) == [
        (("linux/amd64",), ["app1", "app2", "base", "rt"]),
        (("linux/arm64",), ["app1", "app2", "base", "lib", "rt"]),
    ]
