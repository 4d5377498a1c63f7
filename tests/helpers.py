"""Small helpers shared by the unit tests: write a tree of files, run the CLI, run the
build pipeline's own wiring with a recording backend."""

from __future__ import annotations

import io
import itertools
import textwrap
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.backend.base import Backend
from orchestrator.build.finishing import new_record
from orchestrator.build.options import BuildOptions
from orchestrator.build.pipeline import execute
from orchestrator.build.plan import Plan, prepare
from orchestrator.cli.main import main
from orchestrator.execution.events import Event, LogLine, Retrying, Started, Stopping
from orchestrator.hierarchy.naming import pin_tag
from orchestrator.hierarchy.project import Project
from orchestrator.report.record import RunRecord
from orchestrator.state import StateDir

SEED = "seed.example/base:1"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (path -> text, dedented) under root; returns root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(
    args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Result:
    monkeypatch.chdir(cwd)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def ticks() -> Callable[[], float]:
    """A clock that says 0, 1, 2...: events carry no wall-clock time."""
    count = itertools.count()
    return lambda: float(next(count))


def simple(event: Event) -> tuple[object, ...]:
    """An event as a tuple to compare: kind, target, phase, attempt, status, reasons."""
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


@dataclass
class Executed:
    """What a run of the build pipeline's prepare and execute phases gave."""

    plan: Plan
    record: RunRecord
    events: list[tuple[object, ...]]
    output: str  # what prepare wrote (lock changes, warnings)
    state: StateDir  # the run's state folder, with its run id

    def pin(self, target: str, digest: str) -> str:
        """The pin tag this run gave `target`'s image `digest`."""
        return pin_tag(self.plan.project.spec.targets[target], digest, self.state.run_id)


def execute_plan(
    project: Project,
    backend: Backend,
    options: BuildOptions | None = None,
    *,
    interrupted: threading.Event | None = None,
    on_event: Callable[[tuple[object, ...]], None] = lambda event: None,
    environ: Mapping[str, str] | None = None,
    **fakes: Any,
) -> Executed:
    """The build pipeline's own wiring (prepare, then execute) with a recording backend;
    each event also goes to `on_event` as it happens (to interrupt at a given point).
    Default options: targets one at a time (-j 1), retries without waiting."""
    options = options or BuildOptions(jobs=1, retries=2, retry_base_s=0.001)
    state = StateDir(project.spec.folder)
    out = io.StringIO()
    plan = prepare(project, options, backend, state, stream=out, environ=environ or {})
    record = new_record(plan, state)
    events: list[tuple[object, ...]] = []

    def seen(event: Event) -> None:
        events.append(simple(event))
        on_event(simple(event))

    execute(
        plan,
        backend,
        state,
        record=record,
        on_event=seen,
        interrupted=interrupted or threading.Event(),
        clock=ticks(),
        **fakes,  # gater=, sealer=: the gates and the signing, recorded
    )
    return Executed(plan, record, events, out.getvalue(), state)
