"""The scheduler and the target runner with the recording fake backend: the exact
sequence of events for success, failure, blocked, fail-fast, retries, cancellation."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from orchestrator.backend.fake import FakeBackend, Script, fake_digest
from orchestrator.build.labels import RunFacts
from orchestrator.build.requests import OutputMode, RequestFactory, pin_tag
from orchestrator.build.runner import RetryPolicy, TargetRunner
from orchestrator.execution.events import Event, LogLine, Retrying, Started, Stopping
from orchestrator.execution.executor import Run
from orchestrator.execution.schedule import Schedule
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.project import Project, load_project
from tests.helpers import write_tree

SPEC = """\
version: 1
defaults:
  tags: ["r.example/acme/${target}:1"]
targets:
  base: {context: base}
  py: {context: py, test: test}
  app: {context: app}
  node: {context: node}
"""
FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "FROM alpine\n",
    "py/Dockerfile": "FROM r.example/acme/base:1 AS main\nFROM main AS test\nFROM main\n",
    "app/Dockerfile": "FROM r.example/acme/py:1\n",
    "node/Dockerfile": "FROM r.example/acme/base:1\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_tree(tmp_path, FILES)
    return load_project(None, cwd=tmp_path, environ={})


def simple(event: Event) -> tuple[object, ...]:
    if isinstance(event, Started):
        return ("started", event.target, str(event.phase), event.attempt)
    if isinstance(event, LogLine):
        return ("log", event.target, event.line)
    if isinstance(event, Retrying):
        return ("retrying", event.target, str(event.phase), event.attempt, event.reason)
    if isinstance(event, Stopping):
        return ("stopping", event.reason, event.running)
    s = event.status
    return (
        "finished",
        event.target,
        str(s.kind),
        str(s.phase) if s.phase else None,
        s.reason,
        s.blocked_by,
        event.attempts,
    )


def make_run(
    project: Project,
    backend: FakeBackend,
    *,
    jobs: int = 1,
    fail_fast: bool = False,
    push: bool = False,
    interrupted: threading.Event | None = None,
) -> Run:
    ticks = itertools.count()

    def clock() -> float:
        return float(next(ticks))

    h = project.hierarchy
    factory = RequestFactory(
        h,
        OutputMode(push=push),
        RunFacts("2026-11-29T00:00:00Z", None, None),
        project.spec.folder / ".stackbake" / "logs",
    )
    runner = TargetRunner(
        backend, factory, push=push, retry=RetryPolicy(2, base_s=0.001, cap_s=0.002), clock=clock
    )
    return Run(
        Schedule(h.dag.copy(), {}, jobs),
        runner,
        fail_fast,
        interrupted or threading.Event(),
        clock=clock,
    )


def test_success_in_build_order_with_test_stage(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.BUILD, Script(lines=("#1 FROM alpine", "#2 DONE")))
    events = [simple(e) for e in make_run(project, backend).events()]
    assert events == [
        ("started", "base", "build", 1),
        ("log", "base", "#1 FROM alpine"),
        ("log", "base", "#2 DONE"),
        ("finished", "base", "built", None, "", (), 1),
        ("started", "py", "build", 1),
        ("started", "py", "test", 1),
        ("finished", "py", "built", None, "", (), 2),
        ("started", "app", "build", 1),
        ("finished", "app", "built", None, "", (), 1),
        ("started", "node", "build", 1),
        ("finished", "node", "built", None, "", (), 1),
    ]


def test_children_are_pinned_to_the_digest_just_built(project: Project) -> None:
    backend = FakeBackend()
    list(make_run(project, backend).events())
    app = next(r for r in backend.requests if r.target == "app")
    digest = fake_digest("py/build")
    assert app.contexts == {
        "r.example/acme/py:1": f"docker-image://r.example/acme/py:stackbake-{digest[7:]}"
    }
    assert ("tag", digest, 1) in backend.calls
    assert backend.images[pin_tag(project.spec.targets["py"], digest)] == digest


def test_pushed_parents_are_pinned_by_registry_digest(project: Project) -> None:
    backend = FakeBackend()
    list(make_run(project, backend, push=True).events())
    node = next(r for r in backend.requests if r.target == "node")
    assert node.contexts == {
        "r.example/acme/base:1": f"docker-image://r.example/acme/base@{fake_digest('base/build')}"
    }
    assert backend.registry["r.example/acme/app:1"] == fake_digest("app/build")


def test_failure_blocks_descendants_and_independent_branches_go_on(project: Project) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.BUILD, Script("fail", lines=("#5 RUN make",)))
    events = [simple(e) for e in make_run(project, backend).events()]
    assert events == [
        ("started", "base", "build", 1),
        ("finished", "base", "built", None, "", (), 1),
        ("started", "py", "build", 1),
        ("log", "py", "#5 RUN make"),
        ("finished", "py", "failed", "build", "py: exit code 1", (), 1),
        ("finished", "app", "blocked", None, "", ("py",), 0),
        ("started", "node", "build", 1),
        ("finished", "node", "built", None, "", (), 1),
    ]


def test_failing_test_stage_fails_in_phase_test_and_is_not_pushed(project: Project) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.TEST, Script("fail"))
    events = [simple(e) for e in make_run(project, backend, push=True).events()]
    assert ("finished", "py", "failed", "test", "py: exit code 1", (), 2) in events
    assert ("finished", "app", "blocked", None, "", ("py",), 0) in events
    assert [c for c in backend.calls if c[0] == "push"] == [
        ("push", "base", 1),
        ("push", "node", 1),
    ]


def test_fail_fast_stops_starting_builds(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.BUILD, Script("fail"))
    write_tree(project.spec.folder, {"solo/Dockerfile": "FROM alpine\n"})
    events = [simple(e) for e in make_run(project, backend, fail_fast=True).events()]
    assert events == [
        ("started", "base", "build", 1),
        ("finished", "base", "failed", "build", "base: exit code 1", (), 1),
        ("finished", "node", "blocked", None, "", ("base",), 0),
        ("finished", "py", "blocked", None, "", ("base",), 0),
        ("finished", "app", "blocked", None, "", ("base",), 0),
        ("stopping", "fail-fast: base failed", ()),
    ]


def test_fail_fast_cancels_independent_waiting_targets(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            **FILES,
            "builds.yaml": SPEC + "  solo: {context: solo}\n",
            "solo/Dockerfile": "FROM alpine\n",
        },
    )
    project = load_project(None, cwd=tmp_path, environ={})
    backend = FakeBackend()
    backend.script("base", Phase.BUILD, Script("fail"))
    events = [simple(e) for e in make_run(project, backend, fail_fast=True).events()]
    assert events[-2:] == [
        ("stopping", "fail-fast: base failed", ()),
        ("finished", "solo", "cancelled", None, "fail-fast: base failed", (), 0),
    ]


def test_transient_errors_are_retried_permanent_ones_are_not(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.BUILD, Script("transient"), Script("transient"), Script())
    backend.script("node", Phase.BUILD, Script("fail"))
    events = [simple(e) for e in make_run(project, backend).events()]
    assert events[:6] == [
        ("started", "base", "build", 1),
        ("retrying", "base", "build", 1, "503 Service Unavailable"),
        ("started", "base", "build", 2),
        ("retrying", "base", "build", 2, "503 Service Unavailable"),
        ("started", "base", "build", 3),
        ("finished", "base", "built", None, "", (), 3),
    ]
    assert ("finished", "node", "failed", "build", "node: exit code 1", (), 1) in events


def test_retries_run_out(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.PUSH, Script("transient"))
    events = [simple(e) for e in make_run(project, backend, push=True).events()]
    assert events[:8] == [
        ("started", "base", "build", 1),
        ("started", "base", "push", 1),
        ("retrying", "base", "push", 1, "503 Service Unavailable"),
        ("started", "base", "push", 2),
        ("retrying", "base", "push", 2, "503 Service Unavailable"),
        ("started", "base", "push", 3),
        ("finished", "base", "failed", "push", "503 Service Unavailable", (), 4),
        ("finished", "node", "blocked", None, "", ("base",), 0),
    ]


def test_interrupt_cancels_running_and_waiting(project: Project) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.BUILD, Script("hang"))
    backend.script("node", Phase.BUILD, Script("hang"))
    interrupted = threading.Event()
    events = []
    for event in make_run(project, backend, jobs=2, interrupted=interrupted).events():
        events.append(simple(event))
        if len([e for e in events if e[0] == "started"]) == 3:
            interrupted.set()
    # py and node start together on two workers: their order is the threads' business.
    assert events[:2] == [
        ("started", "base", "build", 1),
        ("finished", "base", "built", None, "", (), 1),
    ]
    assert sorted(events[2:4]) == [("started", "node", "build", 1), ("started", "py", "build", 1)]
    assert events[4:6] == [
        ("stopping", "interrupted", ("node", "py")),
        ("finished", "app", "cancelled", None, "interrupted", (), 0),
    ]
    assert sorted(events[6:]) == [
        ("finished", "node", "cancelled", "build", "interrupted", (), 1),
        ("finished", "py", "cancelled", "build", "interrupted", (), 1),
    ]


def test_a_worker_that_raises_becomes_a_failure(project: Project) -> None:
    class Broken(FakeBackend):
        def build(self, request, on_line, cancel):  # type: ignore[no-untyped-def]
            raise RuntimeError("engine exploded")

    events = [simple(e) for e in make_run(project, Broken()).events()]
    assert events == [
        ("started", "base", "build", 1),
        (
            "finished",
            "base",
            "failed",
            "build",
            "internal error: RuntimeError: engine exploded",
            (),
            0,
        ),
        ("finished", "node", "blocked", None, "", ("base",), 0),
        ("finished", "py", "blocked", None, "", ("base",), 0),
        ("finished", "app", "blocked", None, "", ("base",), 0),
    ]


def test_pull_with_local_parents_fetches_external_bases_itself(tmp_path: Path) -> None:
    files = {
        **FILES,
        "node/Dockerfile": "FROM r.example/acme/base:1\nCOPY --from=tools.example/t:2 /t /t\n",
    }
    write_tree(tmp_path, files)
    project = load_project(None, cwd=tmp_path, environ={}, sets=["*.pull=true"])
    backend = FakeBackend()
    list(make_run(project, backend).events())
    requests = {r.target: r for r in backend.requests}
    assert requests["base"].pull is True  # no parents: BuildKit's own --pull
    assert requests["node"].pull is False
    assert ("pull", "tools.example/t:2 ", 1) in backend.calls
    assert [c for c in backend.calls if c[0] == "pull"] == [("pull", "tools.example/t:2 ", 1)]
