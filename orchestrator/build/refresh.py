"""`stackbake refresh`: resolve every external base again, record them in the lock, and
rebuild exactly what builds on a base that moved.

The nightly job is `stackbake refresh --push`: bases are re-resolved in their
registries, the lock is rewritten, and the selection is built against it: the targets
under a changed base and their dependents have new keys (the base digest is an input)
and build; everything else is up to date and left alone.
"""

from __future__ import annotations

import threading
from typing import IO

from orchestrator.backend.base import Backend
from orchestrator.bases.resolution import affected, resolve_all
from orchestrator.build.options import BuildOptions
from orchestrator.build.pipeline import build, holding_run_lock
from orchestrator.build.plan import freshness
from orchestrator.errors import EXIT_FAILED, EXIT_OK
from orchestrator.hierarchy.project import Project
from orchestrator.hierarchy.selection import select
from orchestrator.render.plan import render_plan
from orchestrator.state import StateDir


def run_refresh(
    project: Project,
    options: BuildOptions,
    backend: Backend,
    *,
    dry_run: bool,
    stream: IO[str],
    interrupted: threading.Event,
) -> int:
    """Re-resolve the bases, write the lock, and build the selection against it: the
    targets under a moved base (and all built on them) have new keys and build, the
    rest is up to date and not sent to BuildKit. Selecting by keys rather than by the
    bases that moved tonight also retries what failed last night, whose base no longer
    "moves". `dry_run`: show what would build and why, write nothing."""
    state = StateDir(project.spec.folder)
    with holding_run_lock(state, options, stream, interrupted):
        return _refresh(
            project,
            options,
            backend,
            state,
            dry_run=dry_run,
            stream=stream,
            interrupted=interrupted,
        )


def _refresh(
    project: Project,
    options: BuildOptions,
    backend: Backend,
    state: StateDir,
    *,
    dry_run: bool,
    stream: IO[str],
    interrupted: threading.Event,
) -> int:
    h = project.hierarchy
    done = resolve_all(h, backend, stream)
    selected = select(h, list(options.targets))
    hit = affected(h, selected, done.changed_refs())
    if hit:
        stream.write(f"on a moved base: {', '.join(hit)}, and what builds on them\n")
    if not dry_run:
        done.lock.save()
        code = build(
            project,
            options,
            backend,
            state,
            stream=stream,
            interrupted=interrupted,
            lock=done.lock,
        )
        # A base that could not be resolved was not refreshed: the nightly job says so.
        return code or (EXIT_FAILED if done.unresolved else EXIT_OK)
    fresh = freshness(h, selected, options, backend, state, locked=done.lock.digests())
    rebuild = [n for n in selected if n not in fresh.up_to_date]
    if rebuild:
        stream.write(render_plan(h, rebuild, rebuild, "text", fresh) + "\n")
    else:
        stream.write("every selected target is up to date: nothing would be built\n")
    stream.write("dry run: the lock was not written, nothing was built\n")
    return EXIT_FAILED if done.unresolved else EXIT_OK
