"""The gate and sign phases in a run, with a fake gater and a fake seal: a failing
gate fails its target in phase `gate` naming the gate, the finding and the platforms,
blocks its children and moves none of its names; a signed target is in the registry
under its key tag alone when it is signed, and its release tags come after."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.backend.base import Backend, BuildResult, OnLine
from orchestrator.backend.fake import FakeBackend
from orchestrator.build.gating import EarlyGates, ImageGates
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.status import GateResult
from orchestrator.hierarchy.project import load_project
from orchestrator.spec.model import Target
from tests.helpers import execute_plan, write_tree

SPEC = """\
version: 1
defaults:
  tags: ["r.example/acme/${target}:1"]
  platforms: [linux/amd64, linux/arm64]
  gates: {max_size: 500MB}
targets:
  base: {context: base, sign: {key: cosign.key}}
  py: {context: py}
  app: {context: app}
"""
FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "FROM alpine\n",
    "py/Dockerfile": "FROM r.example/acme/base:1\n",
    "app/Dockerfile": "FROM r.example/acme/py:1\n",
    "cosign.key": "not read: the seal is a fake\n",
}
TOO_BIG = ("612 MB > 500 MB",)


@dataclass
class FakeGater:
    """py is too big on every platform; the images the gates were given, recorded."""

    images: dict[str, str | None] = field(default_factory=dict)

    def __call__(
        self, target: Target, image: str | None, on_line: OnLine, cancel: CancelToken
    ) -> tuple[GateResult, ...]:
        self.images[target.name] = image
        bad = target.name == "py"
        return tuple(
            GateResult("max_size", p, not bad, TOO_BIG if bad else ()) for p in target.platforms
        )


@dataclass
class FakeSeal:
    registry: dict[str, str]
    seen: list[tuple[str, list[str]]]

    def __call__(self, source: str, on_line: OnLine, cancel: CancelToken) -> BuildResult:
        self.seen.append((source, sorted(self.registry)))
        return BuildResult(True)


def run(tmp_path: Path, backend: FakeBackend, gater: FakeGater, push: bool = False) -> dict:
    write_tree(tmp_path, FILES)
    project = load_project(None, cwd=tmp_path, environ={})
    seen: list[tuple[str, list[str]]] = []

    def sealer(b: Backend, target: Target, sboms: Mapping[str, Path], key: str | None) -> FakeSeal:
        return FakeSeal(backend.registry, seen)

    options = BuildOptions(mode=OutputMode(push=push), jobs=1, retries=2, retry_base_s=0.001)
    done = execute_plan(project, backend, options, gater=gater, sealer=sealer)
    final = {e[1]: e[2:6] for e in done.events if e[0] == "finished"}
    return {"final": final, "events": done.events, "seen": seen, "record": done.record}


def test_a_failing_gate_fails_in_phase_gate_and_blocks_the_children(tmp_path: Path) -> None:
    backend, gater = FakeBackend(), FakeGater()
    got = run(tmp_path, backend, gater)
    assert got["final"] == {
        "base": ("built", None, "", ()),
        "py": ("failed", "gate", "max_size: 612 MB > 500 MB on linux/amd64, linux/arm64", ()),
        "app": ("blocked", None, "", ("py",)),
    }
    assert ("started", "py", "gate", 1) in got["events"]
    assert "r.example/acme/py:1" not in backend.images, "a failed gate moved a release tag"
    assert ":stackbake-build-" in str(gater.images["py"])
    py = got["record"].targets["py"]
    assert [(g.gate, g.platform, g.passed) for g in py.gates] == [
        ("max_size", "linux/amd64", False),
        ("max_size", "linux/arm64", False),
    ]


def test_a_signed_target_is_signed_with_only_its_key_tag_pushed(tmp_path: Path) -> None:
    backend = FakeBackend()
    got = run(tmp_path, backend, FakeGater(), push=True)
    assert got["final"]["base"][0] == "built"
    assert got["final"]["py"][:2] == ("failed", "gate")
    [(source, registry)] = got["seen"]
    assert source.startswith("r.example/acme/base@sha256:")
    assert [t for t in registry if "/base:" in t] == [
        t for t in backend.registry if t.startswith("r.example/acme/base:key-")
    ]
    assert "r.example/acme/base:1" in backend.registry  # after the signature
    assert not [t for t in backend.registry if "/py:" in t or "/app:" in t]
    assert ("started", "base", "sign", 1) in got["events"]


@dataclass
class ThreadedGater(FakeGater):
    """Which thread gated which target: the early gates' pool, or a runner."""

    threads: list[tuple[str, str]] = field(default_factory=list)

    def __call__(
        self, target: Target, image: str | None, on_line: OnLine, cancel: CancelToken
    ) -> tuple[GateResult, ...]:
        self.threads.append((target.name, threading.current_thread().name))
        on_line(f"gated {target.name}")
        return super().__call__(target, image, on_line, cancel)


def test_in_a_session_each_image_is_gated_once_as_soon_as_it_is_exported(
    tmp_path: Path,
) -> None:
    write_tree(tmp_path, FILES)
    project = load_project(None, cwd=tmp_path, environ={})
    backend, gater = FakeBackend(), ThreadedGater()
    options = BuildOptions(jobs=2, retries=2, retry_base_s=0.001)
    done = execute_plan(project, backend, options, gater=gater)
    assert done.plan.session == ("base", "py", "app")
    assert sorted(n for n, _ in gater.threads) == ["app", "base", "py"]
    assert all(t.startswith("early-gates") for _, t in gater.threads), gater.threads
    final = {e[1]: e[2:4] for e in done.events if e[0] == "finished"}
    assert final == {"base": ("built", None), "py": ("failed", "gate"), "app": ("blocked", None)}
    assert ("log", "py", "gated py") in done.events  # its lines reach its log


def test_early_gates_of_another_image_are_dropped_and_stopped(tmp_path: Path) -> None:
    """The image the session exported was built again (its lineage): those gates are
    cancelled, and the runner runs its own on the new image."""
    write_tree(tmp_path, FILES)
    targets = load_project(None, cwd=tmp_path, environ={}).spec.targets
    release = threading.Event()
    seen: list[CancelToken] = []

    def gater(
        target: Target, image: str | None, on_line: OnLine, cancel: CancelToken
    ) -> tuple[GateResult, ...]:
        seen.append(cancel)
        release.wait(5)
        return ()

    early = EarlyGates(gater, targets, lambda t: f"staging/{t.name}")
    early.exported("py", BuildResult(True, digest="sha256:old"))
    assert early.take("py", "sha256:new", lambda line: None, CancelToken()) is None
    release.set()
    early.close()
    assert [c.cancelled for c in seen] == [True]
    assert early.take("py", "sha256:old", lambda line: None, CancelToken()) is None


def test_no_image_in_the_store_means_every_gate_is_skipped_saying_why(tmp_path: Path) -> None:
    write_tree(tmp_path, FILES)
    project = load_project(None, cwd=tmp_path, environ={})
    gates = ImageGates(project.hierarchy, frozenset(), tmp_path / "reports")
    results = gates(project.spec.targets["py"], None, lambda line: None, CancelToken())
    assert [r.describe() for r in results] == [
        "max_size: skipped (the run's --output puts no image in the store) on linux/amd64",
        "max_size: skipped (the run's --output puts no image in the store) on linux/arm64",
    ]


def test_skip_gate_reaches_the_run_s_record(tmp_path: Path) -> None:
    write_tree(tmp_path, FILES)
    project = load_project(None, cwd=tmp_path, environ={})
    options = BuildOptions(jobs=1, retries=2, retry_base_s=0.001, skip_gates=("max_size",))
    done = execute_plan(project, FakeBackend(), options, gater=FakeGater())
    assert done.record.skipped_gates == ("max_size",)
