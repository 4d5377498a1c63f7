"""The CI matrix: a selection spread over shards (`stackbake matrix`), and the shard a
runner builds (`stackbake build --shard K/N`), worked out the same way by both.

Only targets whose release tags do not already name the image of their current key are
placed (with `--all`, every one). That set is what `publish` changes, never what a shard
changes (a shard pushes key tags only), so a shard that starts after another one has
pushed still finds the partition the matrix printed. The partition itself depends on the
graph and a durations file only (execution/partition.py): the same on every machine.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrator.backend.base import Backend, RemoteImage
from orchestrator.bases.resolution import complete_lock
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.build.plan import check_outputs
from orchestrator.errors import UsageError, display_path
from orchestrator.execution.partition import Shard, partition, platform_partition
from orchestrator.freshness.uptodate import assess
from orchestrator.hierarchy.project import Project
from orchestrator.hierarchy.restrict import restrict_platforms
from orchestrator.hierarchy.selection import select
from orchestrator.refs import normalize_platform
from orchestrator.state import StateDir


@dataclass(frozen=True)
class MatrixRequest:
    targets: tuple[str, ...] = ()
    shards: int = 1
    split: str = "targets"
    everything: bool = False  # --all: place up-to-date targets too
    durations: tuple[Path, ...] = ()  # committed durations files or reports
    ordered: bool = False  # shards need only earlier shards (execution/partition.py)


def read_durations(paths: Sequence[Path]) -> dict[str, float]:
    """Seconds per target from committed files: `{"base": 12.5, ...}`, or stackbake's
    JSON reports (the built targets' durations; several: one per shard). None given:
    every target weighs the same. Never this folder's own recorded durations: they
    differ from runner to runner, and so would the shards."""
    out: dict[str, float] = {}
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"--durations {display_path(path)}: {exc.strerror}") from None
        except ValueError as exc:
            raise UsageError(f"--durations {display_path(path)}: not JSON ({exc})") from None
        if isinstance(data, dict) and isinstance(data.get("targets"), list):  # a report
            data = {
                t.get("name"): t.get("duration_s")
                for t in data["targets"]
                if isinstance(t, dict) and t.get("status") == "built"
            }
        if not isinstance(data, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in data.values()
        ):
            raise UsageError(
                f"--durations {display_path(path)}: write an object of target names to "
                'seconds, for example {"base": 12.5}, or give a report of stackbake build'
            )
        out |= {str(k): float(v) for k, v in data.items()}
    return out


def placed_targets(
    project: Project,
    request: MatrixRequest,
    backend: Backend,
    state: StateDir,
    *,
    stream: IO[str],
    wait_s: float,
    known: dict[str, RemoteImage | None] | None = None,
) -> Placement:
    """The selection, less the targets already published under their current key (and
    not built on a placed one). `known`: the registry's answers, kept for the build
    that follows."""
    h = project.hierarchy
    selected = select(h, list(request.targets))
    check_outputs(h, selected, OutputMode(push=True))  # a shard pushes: tags needed
    if request.everything:
        return Placement(selected)
    locked = complete_lock(h, backend, selected, stream).digests()
    fresh = assess(
        h,
        selected,
        backend,
        state,
        forced={},
        remote=True,
        locked=locked,
        wait_s=wait_s,
        known=known,
    )
    placed: set[str] = set()
    for name in selected:  # parents first: a child is placed while its parent is
        if not fresh.published(h, name) or any(p in placed for p in h.parents(name)):
            placed.add(name)
    published = {n: fresh.up_to_date[n] for n in selected if n not in placed}
    return Placement([n for n in selected if n in placed], published)


@dataclass(frozen=True)
class Placement:
    placed: list[str]  # what the shards build, in build order
    # The others: published under their current key (target -> digest), for the shards'
    # children to be pinned to, whatever platforms a shard builds.
    published: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ShardWork:
    project: Project  # cut down to the shard's platforms, if it has some
    targets: tuple[str, ...]  # what the shard builds (their parents come from others)
    shard: Shard | None = None
    platforms: tuple[str, ...] = ()  # the platforms it is cut to (none: all)
    # What the registry said while the shards were worked out: the build's own look at
    # it asks only for the rest (a shard's no-op is mostly registry lookups).
    known: dict[str, RemoteImage | None] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)  # see Placement


def shard_work(
    project: Project, options: BuildOptions, backend: Backend, state: StateDir, stream: IO[str]
) -> ShardWork:
    """What `build --shard K/N` (or `--platform`) builds: shard K of the partition
    `matrix` prints for the same selection and durations, on its platforms."""
    mine, platforms, shard = list(options.targets), options.platforms, None
    known: dict[str, RemoteImage | None] = {}
    published: dict[str, str] = {}
    if options.shard is not None:
        k, n = options.shard
        request = MatrixRequest(
            options.targets, n, options.split, options.everything, options.durations
        )
        request = dataclasses.replace(request, ordered=options.ordered)
        placement = placed_targets(
            project,
            request,
            backend,
            state,
            stream=stream,
            wait_s=options.retry_timeout_s,
            known=known,
        )
        shards = shards_of(project, placement.placed, request)
        published = placement.published
        shard = shards[k - 1] if k <= len(shards) else Shard(k, n, ())
        mine, platforms = list(shard.targets), shard.platforms or platforms
        if options.part:  # one of its platforms (build/farm.py)
            own = {normalize_platform(p) for p in options.platforms}
            platforms = tuple(p for p in platforms if normalize_platform(p) in own)
    else:
        mine = select(project.hierarchy, mine)
    if platforms:
        cut = restrict_platforms(project, platforms)
        for name in mine:
            if name not in cut.spec.targets:
                have = ", ".join(project.spec.targets[name].platforms) or "the host's"
                stream.write(f"{name}: not built here: its platforms are {have}\n")
        project, mine = cut, [n for n in mine if n in cut.spec.targets]
    published = {t: d for t, d in published.items() if t in project.spec.targets}
    return ShardWork(project, tuple(mine), shard, tuple(platforms), known, published)


def shards_of(project: Project, placed: Sequence[str], request: MatrixRequest) -> list[Shard]:
    h = project.hierarchy
    durations = read_durations(request.durations)
    if request.split == "targets":
        return partition(h.dag, placed, durations, request.shards, ordered=request.ordered)
    if not placed:
        return []
    bare = [n for n in placed if not h.spec.targets[n].platforms]
    if bare:
        raise UsageError(
            f"--split platforms: {', '.join(bare)} {'has' if len(bare) == 1 else 'have'} no "
            "'platforms', so no shard knows it builds them; give them platforms, or use "
            "--split targets"
        )
    # linux/arm64 and linux/arm64/v8 are one platform, named as the spec first writes it
    spelled = {
        normalize_platform(p): p for n in reversed(placed) for p in h.spec.targets[n].platforms
    }
    platforms: dict[str, float] = {}
    for name in placed:
        own = sorted({spelled[normalize_platform(p)] for p in h.spec.targets[name].platforms})
        for platform in own:
            platforms[platform] = platforms.get(platform, 0.0) + durations.get(name, 1.0) / len(own)
    if request.shards > len(platforms):
        raise UsageError(
            f"--split platforms: {request.shards} shards, but the targets placed build "
            f"{len(platforms)} platform{'s' if len(platforms) != 1 else ''} "
            f"({', '.join(sorted(platforms))}); use --shards {len(platforms)} or "
            "--split targets"
        )
    targets: Mapping[str, tuple[str, ...]] = {
        n: tuple(spelled[normalize_platform(p)] for p in h.spec.targets[n].platforms)
        for n in placed
    }
    return platform_partition(platforms, targets, request.shards)


@dataclass(frozen=True)
class Scope:
    """What this run builds once --shard and --platform cut it: its project and options,
    the selected parents other shards build (`elsewhere`), the registry answers the cut
    already has (`known`) and what is published already (target -> digest)."""

    project: Project
    options: BuildOptions
    elsewhere: frozenset[str] = frozenset()
    known: dict[str, RemoteImage | None] = field(default_factory=dict)
    published: Mapping[str, str] = field(default_factory=dict)


def narrow(
    project: Project, options: BuildOptions, backend: Backend, state: StateDir, stream: IO[str]
) -> Scope | None:
    """The run cut to its shard and platforms (none: this shard has nothing to build)."""
    if options.shard is None and not options.platforms:
        return Scope(project, options)
    work = shard_work(project, options, backend, state, stream)
    if not work.targets:
        which = f"shard {work.shard.label}" if work.shard else "this run"
        stream.write(f"{which}: nothing to build\n")
        return None
    elsewhere: frozenset[str] = frozenset()
    if work.shard is not None:  # their parents: built by other shards, or published
        ancestors = select(work.project.hierarchy, list(work.targets))
        elsewhere = frozenset(ancestors) - set(work.targets)
    options = dataclasses.replace(options, targets=work.targets, platforms=work.platforms)
    return Scope(work.project, options, elsewhere, work.known, work.published)
