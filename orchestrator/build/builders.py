"""Where a run builds: the spec's `builders:` (platform -> a buildx builder or a docker
context: native nodes), a target's own `builder:`, and --builder, in that order of
precedence for each target's platforms.

A run whose platforms all build in one place runs there, as any run does. A run spread
over two or more places is a farm (build/farm.py): one part per platform, each on its
place. `uses` lists what the run's pre-flight asks each builder before anything builds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.backend.base import Backend, BuilderUse
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.errors import UsageError
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hierarchy.selection import select
from orchestrator.refs import host_platform, normalize_platform
from orchestrator.spec.model import BuilderRef, Spec


@dataclass(frozen=True)
class Place:
    """A buildx builder (None: the current one) in a docker context (None: the current)."""

    builder: str | None = None
    context: str | None = None

    def describe(self) -> str:
        return BuilderRef(self.builder, self.context).describe()


def place_of(spec: Spec, platform: str, mode: OutputMode) -> Place:
    """Where `builders:` puts a platform; not named there: --builder (or the current)."""
    wanted = normalize_platform(platform)
    for written, ref in spec.builders.items():
        if normalize_platform(written) == wanted:
            return Place(ref.builder, ref.context)
    return Place(mode.builder)


def run_platforms(h: Hierarchy, selected: Sequence[str], asked: Sequence[str]) -> list[str]:
    """The platforms a run builds (as the spec first writes each): `asked` (--platform),
    else every platform of the selection; a target without `platforms`: the host's."""
    if asked:
        return list(asked)
    spelled: dict[str, str] = {}
    for name in selected:
        for platform in h.spec.targets[name].platforms or (host_platform(),):
            spelled.setdefault(normalize_platform(platform), platform)
    return list(spelled.values())


def places(
    h: Hierarchy, selected: Sequence[str], mode: OutputMode, asked: Sequence[str]
) -> dict[Place, list[str]]:
    """The run's platforms by where they build, in the order first met."""
    out: dict[Place, list[str]] = {}
    for platform in run_platforms(h, selected, asked):
        out.setdefault(place_of(h.spec, platform, mode), []).append(platform)
    return out


def spread(h: Hierarchy, options: BuildOptions) -> tuple[BuildOptions, dict[Place, list[str]]]:
    """The run's selection made explicit, and its platforms by where they build."""
    if not (options.shard is not None or options.platforms):  # else cut by shard_work
        selected = select(h, list(options.targets), with_dependents=options.with_dependents)
        options = dataclasses.replace(options, targets=tuple(selected), with_dependents=False)
    return options, places(h, options.targets, options.mode, options.platforms)


def settle(options: BuildOptions, backend: Backend, place: Place) -> tuple[BuildOptions, Backend]:
    """A run that builds in one place: its builder, and the backend of its context."""
    if place.context:
        backend = backend.in_context(place.context)
    if place.builder:
        mode = dataclasses.replace(options.mode, builder=place.builder)
        options = dataclasses.replace(options, mode=mode)
    return options, backend


def check_farm(mode: OutputMode) -> None:
    """A farm's parts share only the registry: each pushes, nothing loads here."""
    if mode.load or mode.outputs:
        flag = "--load" if mode.load else "--output"
        raise UsageError(
            f"{flag}: builders: spreads this run over builders that share only a "
            f"registry, so its images cannot reach {'this engine' if mode.load else 'it'}; "
            "drop the flag, or build the platforms of one builder (--platform)"
        )


def uses(
    h: Hierarchy, building: Sequence[str], mode: OutputMode, asked: Sequence[str]
) -> list[BuilderUse]:
    """What pre-flight asks of each builder the building targets use: `builders:`
    entries, targets' own `builder:`, --builder. Nothing when none is named."""
    spec = h.spec
    wanted = {normalize_platform(p) for p in asked}
    out: dict[tuple[str | None, str | None], BuilderUse] = {}

    def add(place: Place, platforms: Sequence[str], purpose: str) -> None:
        if place.builder is None and place.context is None:
            return  # the current builder: the engine's own pre-flight covers it
        seen = out.get((place.builder, place.context))
        had = seen.platforms if seen else ()
        more = tuple(p for p in platforms if p not in had)
        out[(place.builder, place.context)] = BuilderUse(
            place.builder, place.context, had + more, seen.purpose if seen else purpose
        )

    for name in building:
        target = spec.targets[name]
        platforms = [p for p in target.platforms if not wanted or normalize_platform(p) in wanted]
        if target.builder:
            add(Place(target.builder), platforms, f"{name}.builder ({target.at('builder').spot()})")
            continue
        for platform in platforms or [""]:
            place = place_of(spec, platform, mode) if platform else Place(mode.builder)
            add(place, [platform] if platform else [], _purpose(spec, platform, place, mode))
    return list(out.values())


def _purpose(spec: Spec, platform: str, place: Place, mode: OutputMode) -> str:
    for written, ref in spec.builders.items():
        if platform and normalize_platform(written) == normalize_platform(platform):
            return f"builders.{written} ({ref.where.spot()})" if ref.where else "builders"
    return f"--builder {mode.builder}" if place.builder else "builders"
