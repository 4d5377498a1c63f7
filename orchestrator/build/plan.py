"""The first phase of `stackbake build`: from a project and the options to a `Plan` of
what will build and how, with nothing built yet. Bad input ends here (exit 2)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

import networkx as nx

from orchestrator.backend.base import Backend, RemoteImage
from orchestrator.bases.lockfile import Lock
from orchestrator.bases.resolution import complete_lock
from orchestrator.build.builders import uses
from orchestrator.build.labels import Provenance
from orchestrator.build.options import IMAGE_OUTPUTS, BuildOptions, OutputMode, output_kind
from orchestrator.errors import UsageError
from orchestrator.freshness.uptodate import Freshness, assess
from orchestrator.gates.static import check_gates
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hierarchy.project import Project
from orchestrator.hierarchy.selection import expand_names, select
from orchestrator.signing.cosign import check_signing
from orchestrator.spec.checks import check_secrets
from orchestrator.state import StateDir


@dataclass(frozen=True)
class Plan:
    project: Project
    options: BuildOptions
    selected: tuple[str, ...]  # build order: parents first
    fresh: Freshness  # keys, the targets already up to date, and why the others build
    locked: Mapping[str, str]  # external base -> the digest it is pinned to
    provenance: Provenance  # the run's created, revision and source labels
    started: float
    # Built together in one BuildKit session (parents first); empty: each on its own.
    session: tuple[str, ...] = ()
    # Named with their release tags by their build itself (see `named_by_build`).
    named_by_build: frozenset[str] = frozenset()
    # Selected for their children only: built by other shards, found in the registry.
    elsewhere: frozenset[str] = frozenset()

    @property
    def hierarchy(self) -> Hierarchy:
        return self.project.hierarchy


def prepare(
    project: Project,
    options: BuildOptions,
    backend: Backend,
    state: StateDir,
    *,
    stream: IO[str],
    environ: Mapping[str, str],
    lock: Lock | None = None,
    elsewhere: frozenset[str] = frozenset(),
    known: dict[str, RemoteImage | None] | None = None,
    published: Mapping[str, str] | None = None,
) -> Plan:
    """Selection, checks, the lock, keys and freshness, the engine's pre-flight when
    something builds, and how each target builds. `lock`: the base digests to pin to
    (default: builds.lock, completed with the bases missing from it). `elsewhere`:
    selected targets other shards build, taken from the registry; `published`: those
    published already (target -> digest), their children pinned to that image (a
    per-platform shard's own keys of them were never pushed)."""
    h = project.hierarchy
    selected = select(h, list(options.targets), with_dependents=options.with_dependents)
    check_outputs(h, selected, options.mode)
    check_secrets(project.spec, selected, environ)
    check_supply(project, selected, options, environ)  # lint, bases, gate files, signing
    if lock is None:
        lock = complete_lock(h, backend, selected, stream)
    locked = lock.digests()
    started, provenance = stamped(project)
    fresh = freshness(  # the engine's pre-flight facts come meanwhile, if needed
        h,
        selected,
        options,
        backend,
        state,
        locked=locked,
        likely=lambda: backend.warm(options.mode.builder, pins=not options.mode.pushes),
        known=known,
    )
    fresh = fresh.with_up_to_date({n: d for n, d in (published or {}).items() if n in elsewhere})
    stream.write("".join(f"{warning}\n" for warning in fresh.warnings(h)))
    building = [n for n in selected if n not in fresh.up_to_date and n not in elsewhere]
    if building:  # nothing to build, nothing to ask of the engine: no pre-flight
        check_engine(h, selected, building, options, backend)
    # A target on a parent another shard has not pushed yet builds alone, once it is
    # there: a session's members are pinned to their outside parents when it starts.
    pending = [n for n in elsewhere if n not in fresh.up_to_date]
    waits = set().union(*(nx.descendants(h.dag, n) for n in pending)) if pending else set()
    session = session_members(h, options, [n for n in building if n not in waits])
    return Plan(
        project,
        options,
        tuple(selected),
        fresh,
        locked,
        provenance,
        started,
        session,
        named_by_build(h, building, options.mode),
        elsewhere,
    )


def check_supply(
    project: Project, selected: list[str], options: BuildOptions, environ: Mapping[str, str]
) -> None:
    """The gates checked before a build (hadolint, allowed bases, the gates' files, but
    those --skip-gate bypasses) and, when pushing, what signing needs."""
    check_gates(project, selected, options.skip_gates)
    if options.mode.pushes:
        check_signing([project.spec.targets[n] for n in selected], environ)


def stamped(project: Project) -> tuple[float, Provenance]:
    """When the run started, and its created, revision and source labels."""
    started = time.time()
    created = dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds")
    return started, Provenance.collect(project.spec.folder, created.replace("+00:00", "Z"))


def check_engine(
    h: Hierarchy,
    selected: Sequence[str],
    building: Sequence[str],
    options: BuildOptions,
    backend: Backend,
) -> None:
    """The engine's pre-flight for what builds (can it hold several platforms, or the
    pins of local parents?), and the builders the targets name answer."""
    local = not options.mode.pushes
    backend.preflight(
        multi_platform=local and any(len(h.spec.targets[n].platforms) > 1 for n in building),
        builder=options.mode.builder,
        local_pins=local and any(c in building for n in selected for c in h.children(n)),
    )
    named = uses(h, building, options.mode, options.platforms)
    if named and not options.part:  # a farm's part: the farm checked them all
        backend.check_builders(named)


def check_outputs(h: Hierarchy, selected: list[str], mode: OutputMode) -> None:
    """A parent must end up as an image somewhere its children can be pinned to, and a
    pushed target needs a tag to push to."""
    untagged = [n for n in selected if not h.spec.targets[n].tags]
    if mode.pushes and untagged:
        raise UsageError(
            f"{', '.join(untagged)} {'has' if len(untagged) == 1 else 'have'} no tags, so "
            "there is nothing to push to; give them tags, or leave them out of the selection"
        )
    for output in mode.outputs:
        if output_kind(output) in IMAGE_OUTPUTS:
            continue
        parents = [n for n in selected if any(c in selected for c in h.children(n))]
        if parents:
            raise UsageError(
                f"--output {output!r} exports no image, but {', '.join(parents)} must be an "
                "image for the targets built on it; select only leaf targets, or use "
                "type=image/registry"
            )


def forced_targets(h: Hierarchy, selected: list[str], options: BuildOptions) -> dict[str, str]:
    """Targets that build whatever their keys say, and why (shown in their log)."""
    forced = {}
    for name in selected:
        target = h.spec.targets[name]
        if options.mode.no_cache or target.no_cache:
            forced[name] = "built regardless: no cache asked (--no-cache or no_cache: true)"
        elif options.mode.pull or target.pull:
            forced[name] = "built regardless: newest bases asked (--pull or pull: true)"
    if options.force:
        for name in expand_names(h, list(options.force)):
            if name in selected:
                forced[name] = "built regardless: --force"
    return forced


def freshness(
    h: Hierarchy,
    selected: list[str],
    options: BuildOptions,
    backend: Backend,
    state: StateDir,
    *,
    locked: Mapping[str, str],
    likely: Callable[[], None] | None = None,
    known: dict[str, RemoteImage | None] | None = None,
) -> Freshness:
    """Keys of the selection and which are up to date where this run publishes (for
    build and `refresh --dry-run` alike). `likely`: called early when something will
    probably build. `known`: registry answers this run has already (a shard's)."""
    return assess(
        h,
        selected,
        backend,
        state,
        forced=forced_targets(h, selected, options),
        remote=options.mode.pushes,
        locked=locked,
        likely=likely,
        wait_s=options.retry_timeout_s,
        release=not options.mode.key_only,  # a run that moves none: no need to know them
        known=known,
    )


def session_members(
    h: Hierarchy, options: BuildOptions, building: Sequence[str]
) -> tuple[str, ...]:
    """The targets that build together in one BuildKit session: all that build, when two
    or more do and they can share one. Not when asked to build one by one (--per-target,
    -j 1), with --pull (fetching bases is done per target when parents are pinned
    locally), on more than one builder, when a target sets `network` (bake before
    buildx 0.17 drops a target's network from its file, and refuses it in --set, so
    `network: none` would run with the network and `host` without it), or when one is
    reproducible (its image reaches the store through a tarball, complete only once its
    build has ended)."""
    spec, mode = h.spec, options.mode
    if options.per_target or options.jobs < 2 or len(building) < 2:
        return ()
    if mode.pull or any(spec.targets[n].pull for n in building):
        return ()
    if any(spec.targets[n].network not in (None, "default") for n in building):
        return ()
    if any(spec.targets[n].reproducible for n in building):
        return ()  # each built to an OCI tarball and loaded (see backend/buildx.py)
    if len({spec.targets[n].builder or mode.builder for n in building}) > 1:
        return ()
    return tuple(nx.lexicographical_topological_sort(h.dag.subgraph(building)))


def named_by_build(h: Hierarchy, building: Sequence[str], mode: OutputMode) -> frozenset[str]:
    """The one rule for when a build names its image with its release tags itself: when
    nothing can still fail or change between that build and the target's release. That
    is: builds land as images that tags name, the run does not push (a push can fail, and
    a session's target be cancelled before it), the target has no test stage and no gates
    on its image, and it has no parent: a child's image is checked against its parent's
    after the build (its lineage, build/lineage.py), and in a session its parent may even
    be built again. Every other target builds under a staging tag, and its release tags
    move once its build, its lineage, its test stage and its gates passed."""
    if not mode.names_images or mode.pushes:
        return frozenset()
    targets = h.spec.targets
    return frozenset(
        n
        for n in building
        if not targets[n].test and not targets[n].gates.on_image() and not h.parents(n)
    )
