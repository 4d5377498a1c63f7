"""The executor through the build pipeline's wiring, each target built on its own, with
the recording fake backend: the exact events of fail-fast, an interrupt, and a worker
that raises."""

from __future__ import annotations

import threading
from pathlib import Path

from orchestrator.backend.fake import FakeBackend, Script
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.project import Project, load_project
from tests.build.test_runner import FILES, SPEC, never, project, run
from tests.helpers import write_tree

__all__ = ["project"]  # the fixture


def test_fail_fast_stops_starting_builds(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.BUILD, Script("fail"))
    assert run(project, backend, fail_fast=True) == [
        never("base"),
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
    events = run(project, backend, fail_fast=True)
    assert events[-2:] == [
        ("stopping", "fail-fast: base failed", ()),
        ("finished", "solo", "cancelled", None, "fail-fast: base failed", (), 0),
    ]


def test_interrupt_cancels_running_and_waiting(project: Project) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.BUILD, Script("hang"))
    backend.script("node", Phase.BUILD, Script("hang"))
    interrupted = threading.Event()
    started: list[object] = []

    def on_event(event: tuple[object, ...]) -> None:
        if event[0] == "started":
            started.append(event[1])
            if len(started) == 3:
                interrupted.set()

    events = run(project, backend, jobs=2, interrupted=interrupted, on_event=on_event)
    events = [e for e in events if e[0] != "log"]
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

    assert run(project, Broken()) == [
        never("base"),
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
