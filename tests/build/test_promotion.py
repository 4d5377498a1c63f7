"""`stackbake publish` with the recording fake: all or nothing, per-platform images
merged, idempotent."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from orchestrator.backend.base import BuildResult
from orchestrator.backend.fake import FakeBackend, Script
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.build.pipeline import run_build
from orchestrator.build.promotion import run_publish
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.project import Project
from tests.build.test_shards import checkout

RELEASE = [f"r.example/acme/{n}:1" for n in ("base", "rt", "app1", "app2", "lib")]


def build(project: Project, backend: FakeBackend, **options: object) -> int:
    opts = BuildOptions(mode=OutputMode(key_only=True), jobs=1, retries=0, **options)  # type: ignore[arg-type]
    return run_build(project, opts, backend, stream=io.StringIO(), interrupted=threading.Event())


def publish(
    project: Project, backend: FakeBackend, *targets: str, partial: bool = False
) -> tuple[int, str]:
    out = io.StringIO()
    code = run_publish(project, list(targets), backend, partial=partial, stream=out)
    return code, out.getvalue()


def released(backend: FakeBackend) -> list[str]:
    return sorted(t for t in backend.registry if t in RELEASE)


def test_per_platform_builds_are_merged_and_then_every_release_tag_moves(tmp_path: Path) -> None:
    a, b = FakeBackend(), FakeBackend(engine="b")
    b.registry, b.platforms = a.registry, a.platforms
    project = checkout(tmp_path)
    assert build(project, a, platforms=("linux/amd64",)) == 0
    assert build(project, b, platforms=("linux/arm64",)) == 0
    assert released(a) == []
    code, out = publish(project, a)
    assert code == 0, out
    assert released(a) == sorted(RELEASE)
    app2 = a.registry["r.example/acme/app2:1"]
    assert sorted(a.platforms[app2]) == ["linux/amd64", "linux/arm64/v8"]
    merges = [c for c in a.calls if c[0] == "merge"]
    assert len(merges) == 5
    # run again: nothing left to do, nothing done
    code, out = publish(project, a)
    assert code == 0
    assert out.count("already there") == 5
    assert len([c for c in a.calls if c[0] == "merge"]) == 5


def test_a_missing_platform_moves_nothing_and_names_what_it_held_back(tmp_path: Path) -> None:
    backend = FakeBackend()
    project = checkout(tmp_path)
    assert build(project, backend, platforms=("linux/amd64",)) == 0
    code, out = publish(project, backend)
    assert code == 1
    assert released(backend) == []
    assert out.splitlines() == [
        "base: not in the registry under its key on linux/arm64",
        "lib: not in the registry under its key on linux/arm64",
        "rt: not in the registry under its key on linux/arm64",
        "app1: not in the registry under its key on linux/arm64",
        "app2: not in the registry under its key on linux/arm64",
        "publish: nothing moved; build what is missing, then run publish again",
    ]


def test_a_failed_shard_holds_back_the_whole_tree_unless_partial(tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.script("app2", Phase.BUILD, Script("fail"))
    project = checkout(tmp_path)
    assert build(project, backend) == 1
    code, out = publish(project, backend)
    assert code == 1
    assert released(backend) == []
    assert "held back (complete, but every target must be): base, lib, rt, app1\n" in out
    code, out = publish(project, backend, partial=True)
    assert code == 1
    assert released(backend) == sorted(t for t in RELEASE if "app2" not in t)
    # the fix: app2 builds; publish again does the rest
    backend.script("app2", Phase.BUILD, Script())
    assert build(project, backend) == 0
    assert publish(project, backend)[0] == 0
    assert released(backend) == sorted(RELEASE)


def test_push_atomic_moves_every_release_tag_or_none(tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.script("app2", Phase.BUILD, Script("fail"))
    project = checkout(tmp_path)
    out = io.StringIO()
    opts = BuildOptions(mode=OutputMode(push=True, key_only=True), jobs=1, retries=0, atomic=True)
    assert run_build(project, opts, backend, stream=out, interrupted=threading.Event()) == 1
    assert "atomic: no release tag moved; fix what failed and build again\n" in out.getvalue()
    assert released(backend) == []
    assert len(backend.registry) == 4  # the others pushed under their keys
    backend.script("app2", Phase.BUILD, Script())
    out = io.StringIO()
    assert run_build(project, opts, backend, stream=out, interrupted=threading.Event()) == 0
    assert released(backend) == sorted(RELEASE)
    assert sorted(built(backend)) == ["app1", "app2", "app2", "base", "lib", "rt"]


def built(backend: FakeBackend) -> list[str]:
    return [r.target for r in backend.requests if r.phase is Phase.BUILD]


def test_a_copy_failing_midway_stops_before_the_children_and_says_what_moved(
    tmp_path: Path,
) -> None:
    class Failing(FakeBackend):
        def copy(self, source, tags, on_line, cancel):  # type: ignore[no-untyped-def]
            if any("/rt:" in t for t in tags):
                return BuildResult(False, reason="denied")
            return super().copy(source, tags, on_line, cancel)

    backend = Failing()
    project = checkout(tmp_path)
    assert build(project, backend) == 0
    code, out = publish(project, backend)
    assert code == 1
    assert released(backend) == ["r.example/acme/base:1", "r.example/acme/lib:1"]
    assert out.splitlines()[-2:] == [
        "rt: moving r.example/acme/rt:1 failed: denied",
        "publish: stopped at rt; moved before it: base, lib; not moved: app1, app2; run "
        "publish again",
    ]


def test_a_shard_of_two_platforms_builds_each_under_its_own_key(tmp_path: Path) -> None:
    """Three platforms over two shards: the shard that holds two builds them one part
    each, so `publish` finds every platform's image under that platform's key."""
    project = checkout(tmp_path, platforms="[linux/amd64, linux/arm64, linux/s390x]")
    a = FakeBackend()
    for k in (1, 2):
        assert build(project, a, shard=(k, 2), split="platforms") == 0
    code, out = publish(project, a)
    assert code == 0, out
    assert released(a) == sorted(RELEASE)
    app2 = a.registry["r.example/acme/app2:1"]
    assert sorted(a.platforms[app2]) == ["linux/amd64", "linux/arm64/v8", "linux/s390x"]
