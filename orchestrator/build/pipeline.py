"""`stackbake build`, in three phases, one run at a time in a spec's folder (its run
lock, state.py):

1. prepare (build/plan.py): the selection and its checks (outputs, secrets), the lock
   completed with missing bases, build keys and what is already up to date, the engine's
   pre-flight when something builds, and how each target builds (in one BuildKit
   session or alone, named by its build or staged): a `Plan`. Bad input ends here.
2. execute: the plan's targets scheduled (parents first, longest chains first) and run,
   each through build -> test -> gates -> release -> push (build/runner.py), in the
   session or alone; every event applied to the run's record and shown as it happens.
3. finish (build/finishing.py): durations kept for the next schedule, the summary, the
   reports (JSON, JUnit, GitHub step summary) and the exit code; with --atomic, when
   everything passed, the release tags of the whole selection moved at once
   (build/promotion.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO

from rich.console import Console

from orchestrator.backend.base import Backend
from orchestrator.bases.lockfile import Lock
from orchestrator.build.alone import AloneBuilder
from orchestrator.build.attempts import RetryPolicy
from orchestrator.build.builders import settle, spread
from orchestrator.build.farm import run_farm
from orchestrator.build.finishing import finish, new_record
from orchestrator.build.gating import EarlyGates, Gater, default_gater
from orchestrator.build.lineage import Lineage
from orchestrator.build.options import BuildOptions
from orchestrator.build.plan import Plan, prepare
from orchestrator.build.promotion import run_publish
from orchestrator.build.requests import RequestFactory
from orchestrator.build.runner import TargetRunner
from orchestrator.build.sealing import MakeSeal
from orchestrator.build.session import SessionBuilder, open_session
from orchestrator.build.shards import Scope, narrow
from orchestrator.build.tags import RunTags
from orchestrator.errors import (
    EXIT_OK,
    display_path,
)
from orchestrator.execution.events import Event
from orchestrator.execution.executor import Executor
from orchestrator.execution.schedule import Schedule
from orchestrator.hierarchy.project import Project
from orchestrator.report.display import choose_display
from orchestrator.report.record import RunRecord
from orchestrator.state import Holder, StateDir


def run_build(
    project: Project,
    options: BuildOptions,
    backend: Backend,
    *,
    stream: IO[str],
    interrupted: threading.Event,
    environ: Mapping[str, str] | None = None,
    lock: Lock | None = None,
) -> int:
    """Build the selection under the spec folder's run lock: prepare, execute, finish
    (see the module docstring). `lock`: the base digests to pin to (default:
    builds.lock, completed)."""
    state = StateDir(project.spec.folder)
    with holding_run_lock(state, options, stream, interrupted):
        return build(
            project,
            options,
            backend,
            state,
            stream=stream,
            interrupted=interrupted,
            environ=environ,
            lock=lock,
        )


@contextlib.contextmanager
def holding_run_lock(
    state: StateDir, options: BuildOptions, stream: IO[str], interrupted: threading.Event
) -> Iterator[None]:
    """One run at a time in a spec's folder: another one there is waited for (saying
    whom), or with --no-wait the run ends at once naming it (exit 1)."""

    def waiting(holder: Holder | None) -> None:
        who = holder.describe() if holder else "another run"
        stream.write(f"waiting: {display_path(state.root.parent)} is in use by {who}\n")
        stream.flush()

    with state.run_lock(
        shlex.join(["stackbake", *sys.argv[1:]]),
        wait=not options.no_wait,
        on_wait=waiting,
        stop=interrupted,
    ):
        yield


def build(
    project: Project,
    options: BuildOptions,
    backend: Backend,
    state: StateDir,
    *,
    stream: IO[str],
    interrupted: threading.Event,
    environ: Mapping[str, str] | None = None,
    lock: Lock | None = None,
) -> int:
    """The three phases, in a folder whose run lock the caller holds; a run spread over
    builders runs as a farm of parts, each of them this again, from the whole project
    and the options as asked (a shard's part works out its shard)."""
    environ = os.environ if environ is None else environ
    scope = narrow(project, options, backend, state, stream)
    if scope is None:
        return EXIT_OK
    cut = scope.options
    if not cut.part and (project.spec.builders or len(cut.platforms) > 1):
        cut, farm = spread(scope.project.hierarchy, cut)
        if len(farm) > 1 or len(cut.platforms) > 1:  # one part per platform

            def part(
                own: BuildOptions, there: Backend, at: StateDir, out: IO[str], lk: Lock
            ) -> int:
                return build(
                    project,
                    own,
                    there,
                    at,
                    stream=out,
                    interrupted=interrupted,
                    environ=environ,
                    lock=lk,
                )

            return run_farm(
                project,
                options,
                backend,
                farm,
                selected=cut.targets,
                stream=stream,
                lock=lock,
                part=part,
            )
        cut, backend = settle(cut, backend, next(iter(farm)))
    scope = dataclasses.replace(scope, options=cut)
    return run_plan(
        scope, backend, state, stream=stream, interrupted=interrupted, environ=environ, lock=lock
    )


def run_plan(
    scope: Scope,
    backend: Backend,
    state: StateDir,
    *,
    stream: IO[str],
    interrupted: threading.Event,
    environ: Mapping[str, str],
    lock: Lock | None,
) -> int:
    """prepare -> execute -> finish on one builder; with --atomic, then every release
    tag of the selection moved at once when everything passed."""
    project, options = scope.project, scope.options
    plan = prepare(
        project,
        options,
        backend,
        state,
        stream=stream,
        environ=environ,
        lock=lock,
        elsewhere=scope.elsewhere,
        known=scope.known,
        published=scope.published,
    )
    console = Console(file=stream, highlight=False)
    if not console.is_terminal:  # CI logs: whole tags and digests, never "…"
        console = Console(file=stream, highlight=False, width=200)
    record = new_record(plan, state)
    with choose_display(options.progress, console, record, stream) as display:
        execute(
            plan, backend, state, record=record, on_event=display.handle, interrupted=interrupted
        )
    code = finish(plan, record, state, console, environ)
    if not options.atomic:
        return code
    if code != EXIT_OK:  # a target failed: its tree keeps the release it had
        stream.write("atomic: no release tag moved; fix what failed and build again\n")
        return code
    return run_publish(project, list(plan.selected), backend, partial=False, stream=stream)


def execute(
    plan: Plan,
    backend: Backend,
    state: StateDir,
    *,
    record: RunRecord,
    on_event: Callable[[Event], None],
    interrupted: threading.Event,
    clock: Callable[[], float] = time.time,
    gater: Gater | None = None,
    sealer: MakeSeal | None = None,
) -> None:
    """Run the plan: each event is applied to `record`, then given to `on_event`; `gater`
    and `sealer` stand in for the real gates and signing (in tests)."""
    h, options = plan.hierarchy, plan.options
    tags = RunTags(backend)
    keys = {n: plan.fresh.key(n) for n in plan.selected}
    factory = RequestFactory(
        h, options.mode, plan.provenance, state, keys, plan.locked, options.platforms
    )
    alone = AloneBuilder(backend, factory, tags, plan.named_by_build)
    reports = state.reports(options.reports)
    gater = gater or default_gater(h, plan.selected, options, reports)
    early = None
    if gater and plan.session and options.mode.names_images:  # gated as they are exported
        early = EarlyGates(gater, h.spec.targets, tags.staging)
    builder: AloneBuilder | SessionBuilder = alone
    if plan.session:
        done = early.exported if early else None
        builder = SessionBuilder(
            open_session(plan, factory, tags, backend, state, on_done=done), alone
        )
    retry = RetryPolicy(options.retries, options.retry_timeout_s, options.retry_base_s)
    lineage = Lineage(backend, h, pushed=options.mode.pushes)
    runner = TargetRunner(
        plan, builder, backend, factory, tags, state, lineage, retry, clock, gater, reports
    )
    runner.sealer, runner.early = sealer or runner.sealer, early
    schedule = Schedule(h.dag.subgraph(plan.selected).copy(), state.durations(), options.jobs)
    try:
        with builder:
            executor = Executor(schedule, runner, options.fail_fast, interrupted, clock)
            for event in executor.events():
                record.apply(event)
                on_event(event)
    finally:
        if early:
            early.close()
        record.finished = clock()
        record.interrupted = interrupted.is_set()
        tags.remove()  # staging and pin tags served this run's children: drop the names
