"""`stackbake build`: select, check, schedule, run, report, and decide the exit code."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from rich.console import Console

from orchestrator.backend.base import Backend
from orchestrator.bases.lockfile import Lock, load_lock, lock_path
from orchestrator.bases.resolution import resolve
from orchestrator.build.labels import RunFacts
from orchestrator.build.options import BuildOptions
from orchestrator.build.requests import OutputMode, RequestFactory, image_names, output_kind
from orchestrator.build.runner import RetryPolicy, TargetRunner
from orchestrator.build.session import open_session
from orchestrator.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, display_path
from orchestrator.execution.executor import Run
from orchestrator.execution.schedule import Schedule
from orchestrator.execution.status import Kind
from orchestrator.freshness.uptodate import Freshness, assess
from orchestrator.hierarchy.project import Project
from orchestrator.hierarchy.selection import expand_names, select
from orchestrator.report.display import Display, LiveDisplay, PlainDisplay, QuietDisplay
from orchestrator.report.files import append_step_summary, write_junit, write_report
from orchestrator.report.record import RunRecord, TargetRecord
from orchestrator.report.summary import print_summary
from orchestrator.spec.checks import check_secrets
from orchestrator.state import STATE_DIR, Durations

IMAGE_OUTPUTS = ("image", "registry", "docker")


def check_outputs(project: Project, selected: list[str], mode: OutputMode) -> None:
    """A parent must end up as an image somewhere its children can be pinned to, and a
    pushed target needs a tag to push to."""
    untagged = [n for n in selected if not project.spec.targets[n].tags]
    if mode.pushes and untagged:
        raise UsageError(
            f"{', '.join(untagged)} {'has' if len(untagged) == 1 else 'have'} no tags, so "
            "there is nothing to push to; give them tags, or leave them out of the selection"
        )
    for output in mode.outputs:
        if output_kind(output) in IMAGE_OUTPUTS:
            continue
        parents = [n for n in selected if any(c in selected for c in project.hierarchy.children(n))]
        if parents:
            raise UsageError(
                f"--output {output!r} exports no image, but {', '.join(parents)} must be an "
                "image for the targets built on it; select only leaf targets, or use "
                "type=image/registry"
            )


def forced_targets(project: Project, selected: list[str], options: BuildOptions) -> dict[str, str]:
    """Targets that build whatever their keys say, and why (shown in their log)."""
    forced = {}
    for name in selected:
        target = project.spec.targets[name]
        if options.mode.no_cache or target.no_cache:
            forced[name] = "built regardless: no cache asked (--no-cache or no_cache: true)"
        elif options.mode.pull or target.pull:
            forced[name] = "built regardless: newest bases asked (--pull or pull: true)"
    if options.force:
        for name in expand_names(project.hierarchy, list(options.force)):
            if name in selected:
                forced[name] = "built regardless: --force"
    return forced


def freshness(
    project: Project,
    selected: list[str],
    options: BuildOptions,
    backend: Backend,
    locked: Mapping[str, str],
    *,
    likely: Callable[[], None] | None = None,
) -> Freshness:
    """Keys of the selection and which are up to date where this run publishes.
    `likely`: called early when something will probably build."""
    return assess(
        project.hierarchy,
        selected,
        backend,
        project.spec.folder / STATE_DIR,
        forced=forced_targets(project, selected, options),
        remote=options.mode.pushes,
        locked=locked,
        likely=likely,
    )


def locked_bases(
    project: Project, backend: Backend, selected: list[str], stream: IO[str], lock: Lock | None
) -> dict[str, str]:
    """The digests the selected targets' external bases are pinned to. Bases missing from
    the lock are resolved now, recorded in it and reported (as cargo does for a new
    dependency); one no registry knows (an image loaded offline) is used as the engine
    has it, and said so."""
    if lock is None:
        lock = load_lock(lock_path(project.spec.path))
        done = resolve(project.hierarchy, backend, lock, selected, everything=False)
        if done.changes:
            done.lock.save()
        for change in done.changes:
            stream.write(f"{display_path(lock.path)}: {change.render()}\n")
        for ref in done.unresolved:
            stream.write(f"{ref}: not found in a registry; not pinned, used as the engine has it\n")
        lock = done.lock
    return lock.digests()


def choose_display(progress: str, console: Console, run: RunRecord, stream: IO[str]) -> Display:
    if progress == "quiet":
        return QuietDisplay()
    if progress == "tty" or (progress == "auto" and console.is_terminal):
        return LiveDisplay(console, run)
    return PlainDisplay(stream)


def run_build(
    project: Project,
    options: BuildOptions,
    backend: Backend,
    *,
    stream: IO[str],
    interrupted: threading.Event,
    environ: dict[str, str] | None = None,
    lock: Lock | None = None,
) -> int:
    """Build the selection; `lock`: the base digests to pin to (default: builds.lock,
    completed with the bases missing from it)."""
    spec, h = project.spec, project.hierarchy
    selected = select(h, list(options.targets), with_dependents=options.with_dependents)
    check_outputs(project, selected, options.mode)
    check_secrets(spec, selected, os.environ if environ is None else environ)

    locked = locked_bases(project, backend, selected, stream, lock)
    state = spec.folder / STATE_DIR
    durations = Durations(state)
    started = time.time()
    facts = RunFacts.collect(
        spec.folder,
        dt.datetime.fromtimestamp(started, dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
    )
    fresh = freshness(  # the engine's pre-flight facts come meanwhile, if needed
        project,
        selected,
        options,
        backend,
        locked,
        likely=lambda: backend.warm(options.mode.builder, pins=not options.mode.pushes),
    )
    for warning in fresh.warnings(h):
        stream.write(warning + "\n")
    building = [n for n in selected if n not in fresh.current]
    if building:  # nothing to build, nothing to ask of the engine: no pre-flight
        backend.preflight(
            multi_platform=any(len(spec.targets[n].platforms) > 1 for n in building)
            and not options.mode.pushes,
            builder=options.mode.builder,
            local_pins=any(c in building for n in selected for c in h.children(n))
            and not options.mode.pushes,
        )
    keys = {n: fresh.key(n) for n in selected}
    factory = RequestFactory(h, options.mode, facts, state / "logs", keys, locked)
    session = open_session(
        factory, fresh, backend, building, per_target=options.per_target, jobs=options.jobs
    )
    runner = TargetRunner(
        backend,
        factory,
        push=options.mode.pushes,
        retry=RetryPolicy(options.retries, options.retry_base_s),
        fresh=fresh,
        session=session,
    )
    schedule = Schedule(h.dag.subgraph(selected).copy(), durations.load(), options.jobs)
    record = RunRecord(
        display_path(spec.path),
        {
            n: TargetRecord(
                n,
                image_names(spec.targets[n]) if spec.targets[n].tags else (),
                spec.targets[n].platforms,
                factory.logs / f"{n}.log",
            )
            for n in selected
        },
        started,
    )

    console = Console(file=stream, highlight=False)
    if not console.is_terminal:  # CI logs: whole tags and digests, never "…"
        console = Console(file=stream, highlight=False, width=200)
    with choose_display(options.progress, console, record, stream) as display:
        try:
            if session is not None:
                session.start()
            for event in Run(schedule, runner, options.fail_fast, interrupted).events():
                record.apply(event)
                display.handle(event)
        finally:
            if session is not None:
                session.close()
                runner.leftovers.extend(session.leftovers())
    record.finished = time.time()
    record.interrupted = interrupted.is_set()
    if runner.leftovers:  # staging and pin tags served this run's children: drop the names
        backend.untag(sorted(set(runner.leftovers)))

    durations.save(
        {
            r.name: r.duration_s
            for r in record.targets.values()
            if r.status and r.status.kind is Kind.BUILT and r.duration_s is not None
        }
    )
    print_summary(console, record)
    if options.report:
        write_report(options.report, record)
    if options.junit:
        write_junit(options.junit, record)
    step_summary = (environ if environ is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if step_summary:
        append_step_summary(Path(step_summary), record)
    if record.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if record.ok else EXIT_FAILED
