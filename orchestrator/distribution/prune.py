"""`stackbake prune`: read the streams' repositories (the registry, or with `--local`
the engine's store), decide (prune_decide), print, and unless `--dry-run` delete in
the plan's order, holding the spec folder's run lock (a build there waits, and waits
for it), so no staging or pin tag a running build needs is taken away."""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import networkx as nx

from orchestrator.bases.lockfile import load_lock, lock_path
from orchestrator.distribution.prune_decide import Rules, Verdict, decide
from orchestrator.distribution.prune_output import Shown, lines, orphan_lines, summary
from orchestrator.distribution.prune_streams import Stream, streams_of
from orchestrator.errors import EXIT_FAILED, EXIT_OK, UsageError, display_path
from orchestrator.hierarchy.project import Project
from orchestrator.hierarchy.selection import expand_names
from orchestrator.state import Holder, StateDir

Say = Callable[[str], None]


@dataclass(frozen=True)
class PruneRequest:
    targets: tuple[str, ...]
    keep: int | None
    older_than: int | None  # days
    local: bool = False
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.keep is None and self.older_than is None:
            raise UsageError(
                "prune needs --keep N, --older-than DAYS or both: what to keep of each tag stream"
            )
        for flag, value in (("--keep", self.keep), ("--older-than", self.older_than)):
            if value is not None and value < 1:
                raise UsageError(f"prune {flag} must be at least 1, not {value}")


def run_prune(project: Project, request: PruneRequest, say: Say, now: float | None = None) -> int:
    """Exit 0 when everything that should go went (or a dry run), else 1."""
    streams = _streams(project, request.targets)
    rules = Rules(request.keep, request.older_than, time.time() if now is None else now)
    locked = _locked(project)
    with _run_lock(project, say, request.dry_run):
        if request.local:
            return _prune_local(streams, rules, locked, request.dry_run, say)
        return _prune_registry(streams, rules, locked, request.dry_run, say)


def _streams(project: Project, targets: tuple[str, ...]) -> list[Stream]:
    """The selected targets' streams, and those of every target built on them (read
    only: what they build on is kept)."""
    h = project.hierarchy
    selected = expand_names(h, list(targets))
    read = set(selected)
    for name in selected:
        read |= nx.descendants(h.dag, name)
    streams = streams_of(project.spec, h.order(list(read)), selected)
    if not any(s.selected for s in streams):
        raise UsageError(
            f"nothing to prune: {', '.join(selected)} has no tags in the spec (a tag stream "
            "is the tags one tags template renders); select targets with tags"
        )
    return streams


def _locked(project: Project) -> frozenset[str]:
    """Every digest builds.lock names: each base's, and each of its platforms'."""
    lock = load_lock(lock_path(project.spec.path))
    return frozenset(
        d for image in lock.images.values() for d in (image.digest, *image.platforms.values())
    )


@contextlib.contextmanager
def _run_lock(project: Project, say: Say, dry_run: bool) -> Iterator[None]:
    if dry_run:  # deletes nothing: a build beside it changes nothing it relies on
        yield
        return
    state = StateDir(project.spec.folder)

    def waiting(holder: Holder | None) -> None:
        who = holder.describe() if holder else "another run"
        say(f"waiting: {display_path(state.root.parent)} is in use by {who}")

    with state.run_lock(shlex.join(["stackbake", *sys.argv[1:]]), wait=True, on_wait=waiting):
        yield


def _prune_registry(
    streams: list[Stream], rules: Rules, locked: frozenset[str], dry_run: bool, say: Say
) -> int:
    from orchestrator.distribution.prune_plan import registry_plan
    from orchestrator.distribution.prune_registry import delete_steps, read_registry

    images, attachments = read_registry([s.repository for s in streams])
    verdicts = decide(images, streams, rules, locked)
    plan = registry_plan(verdicts, attachments)
    failed: dict[tuple[str, str], str] = {} if dry_run else delete_steps(plan.steps, say)
    freed = {r.image.id: r.freed for r in plan.removals}
    shown = [
        Shown(v, freed.get(v.image.id, 0), failed.get(v.image.id, "")) for v in verdicts if v.shown
    ]
    for line in lines(shown, rules.now, dry_run):
        say(line)
    orphans = [
        (a.repository, a.tag, failed.get((a.repository, a.digest), "")) for a in plan.orphans
    ]
    for line in orphan_lines(orphans, dry_run):
        say(line)
    went = [r for r in plan.removals if r.image.id not in failed]
    lost = {(r.image.repository, d) for r in went for d in r.manifests}
    counts = {
        "deleted": len(went),
        "kept": sum(1 for v in verdicts if v.shown and v.kept),
        "manifests": len(lost - {(r.image.repository, r.image.digest) for r in went}),
        "attached": sum(
            1
            for s in plan.steps
            if s.what not in ("image", "manifest") and (s.repository, s.digest) not in failed
        ),
    }
    freed_total = plan.freed if not failed else sum(r.freed for r in went)
    say(summary(counts, freed_total, dry_run=dry_run, local=False, failed=len(failed)))
    return EXIT_FAILED if failed else EXIT_OK


def _prune_local(
    streams: list[Stream], rules: Rules, locked: frozenset[str], dry_run: bool, say: Say
) -> int:
    from orchestrator.distribution.prune_local import local_removals, read_local, remove_names

    images = read_local([s.repository for s in streams])
    verdicts: list[Verdict] = decide(images, streams, rules, locked)
    removals = local_removals(verdicts)
    failed: dict[tuple[str, str], str] = {} if dry_run else remove_names(removals)
    freed = {r.verdict.image.id: r.freed for r in removals}
    shown = [
        Shown(v, freed.get(v.image.id, 0), failed.get(v.image.id, "")) for v in verdicts if v.shown
    ]
    for line in lines(shown, rules.now, dry_run):
        say(line)
    went = [r for r in removals if r.verdict.image.id not in failed]
    counts = {
        "deleted": len(went),
        "kept": sum(1 for v in verdicts if v.shown and v.kept),
        "names": sum(len(r.names) for r in went),
    }
    freed_total = sum(r.freed for r in went)
    say(summary(counts, freed_total, dry_run=dry_run, local=True, failed=len(failed)))
    return EXIT_FAILED if failed else EXIT_OK
