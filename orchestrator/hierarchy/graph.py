"""The hierarchy graph: which target builds on which, and why.

Edges run parent -> child and carry their origins: `depends_on` in the spec, or a
Dockerfile line (FROM, COPY --from, RUN --mount from) whose image is another target,
named directly or by one of its tags (compared as normalised references). Every
other image is an external base of the target.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import networkx as nx

from orchestrator.errors import Problem, ProblemCollector, display_path
from orchestrator.hierarchy.dockerfiles import (
    Analysis,
    DockerfileError,
    ImageUse,
    analyze,
    parse,
)
from orchestrator.hints import did_you_mean
from orchestrator.refs import (
    BadReference,
    host_platform,
    normalize,
    normalize_platform,
    parse_ref,
    platform_problem,
)
from orchestrator.spec.model import Spec, Target
from orchestrator.spec.paths import PathFacts


@dataclass(frozen=True)
class Origin:
    """Why an edge or an external base exists."""

    kind: str  # "declared" or "dockerfile"
    file: Path
    line: int
    detail: str  # "depends_on" or the instruction: "FROM acme/base:1.4.2"
    ref: str = ""  # the image reference, ARGs expanded (Dockerfile origins)
    base: bool = False  # the image the built stage starts FROM (through stage aliases)

    def describe(self, folder: Path) -> str:
        where = f"{_rel(self.file, folder)}:{self.line}"
        return f"declared ({where})" if self.kind == "declared" else f"{where} {self.detail}"


@dataclass(frozen=True)
class ExternalBase:
    ref: str  # as the Dockerfile names it, ARGs expanded
    normalized: str
    origin: Origin


@dataclass
class Hierarchy:
    spec: Spec
    dag: nx.DiGraph = field(default_factory=nx.DiGraph)
    externals: dict[str, list[ExternalBase]] = field(default_factory=dict)
    stages: dict[str, list[str]] = field(default_factory=dict)

    def parents(self, name: str) -> list[str]:
        return sorted(self.dag.predecessors(name))

    def children(self, name: str) -> list[str]:
        return sorted(self.dag.successors(name))

    def origins(self, parent: str, child: str) -> list[Origin]:
        origins: list[Origin] = self.dag.edges[parent, child]["origins"]
        return origins

    def edge_kind(self, parent: str, child: str) -> str:
        """`from` (the child's built stage starts FROM it), `copy` (another stage's FROM,
        COPY --from, RUN --mount from), or `declared` (depends_on only)."""
        if any(o.base for o in self.origins(parent, child)):
            return "from"
        if any(o.kind == "dockerfile" for o in self.origins(parent, child)):
            return "copy"
        return "declared"

    _levels: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False)

    def levels(self) -> dict[str, int]:
        """Each target's depth (0: builds on no target); worked out once, as the graph is
        complete when build_hierarchy returns it."""
        if self._levels is None:  # a generation's targets build on the one before, at least
            generations = nx.topological_generations(self.dag)
            self._levels = {name: i for i, names in enumerate(generations) for name in names}
        return self._levels

    def order(self, names: list[str] | None = None) -> list[str]:
        """Build order: by level, then by name; restricted to `names` when given."""
        level = self.levels()
        chosen = set(self.dag.nodes if names is None else names)
        return sorted(chosen, key=lambda n: (level[n], n))


def _rel(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return display_path(path)


_Use = tuple[ImageUse, Origin, str | BadReference]


class _Reading(NamedTuple):
    """A Dockerfile read for some targets alike: its stages, and what the images it
    names bring (the same for every such target)."""

    names: list[str]
    uses: tuple[_Use, ...]  # images that name a target (an edge), or none at all (why)
    externals: tuple[ExternalBase, ...]  # the others, each (ref, line, instruction) once


class _Builder:
    def __init__(self, spec: Spec, out: ProblemCollector) -> None:
        self.spec = spec
        self.out = out
        self.h = Hierarchy(spec)
        self.by_tag: dict[str, str] = {}
        self.paths = PathFacts()
        self.known: dict[tuple[object, ...], _Reading | DockerfileError] = {}
        self.h.dag.add_nodes_from(spec.targets)
        for target in spec.targets.values():
            for tag in target.tags:
                try:
                    self.by_tag.setdefault(normalize(tag), target.name)
                except BadReference:
                    continue  # reported by the spec checks

    def edge(self, parent: str, child: str, origin: Origin) -> None:
        if not self.h.dag.has_edge(parent, child):
            self.h.dag.add_edge(parent, child, origins=[])
        origins = self.h.origins(parent, child)
        if origin not in origins:
            origins.append(origin)

    def reading(self, target: Target) -> _Reading:
        """The Dockerfile read per platform, once for all targets that read it alike
        (a big spec's targets share a few Dockerfiles), and what its images bring."""
        args = tuple(target.args.items())
        key = (target.dockerfile, args, target.platforms, target.stage, target.test)
        known = self.known.get(key)
        if known is None:
            try:
                analyses = tuple(self._analyses(target))
            except DockerfileError as exc:
                known = exc
            else:
                known = self._read(target, analyses)
            self.known[key] = known
        if isinstance(known, DockerfileError):
            raise known
        return known

    def _read(self, target: Target, analyses: tuple[Analysis, ...]) -> _Reading:
        uses: list[_Use] = []
        externals: dict[tuple[str, int, str], ExternalBase] = {}
        for analysis in analyses:
            for use in analysis.images:
                origin = Origin(
                    "dockerfile",
                    target.dockerfile,
                    use.line,
                    f"{use.instruction} {use.written}",
                    use.ref,
                    use == analysis.base,
                )
                parent = self.resolve(use.ref)
                if parent is None:
                    external = ExternalBase(use.ref, parse_ref(use.ref).normalized(), origin)
                    externals[(use.ref, use.line, use.instruction)] = external
                else:
                    uses.append((use, origin, parent))
        return _Reading(analyses[0].stage_names(), tuple(uses), tuple(externals.values()))

    @staticmethod
    def _analyses(target: Target) -> Iterator[Analysis]:
        commands = parse(target.dockerfile)
        for platform in target.platforms or (host_platform(),):
            yield analyze(
                commands,
                build_args=target.args,
                platform=platform,
                build_platform=host_platform(),
                wanted=(target.stage, target.test),
            )

    def target(self, target: Target) -> None:
        for i, dep in enumerate(target.depends_on):
            if dep in self.spec.targets and dep != target.name:
                where = target.at(f"depends_on[{i}]")
                self.edge(
                    dep,
                    target.name,
                    Origin("declared", where.file or target.spec_file, where.line, "depends_on"),
                )
        if not self.paths.is_file(target.dockerfile) or not self.paths.is_dir(target.context):
            return  # reported by the spec checks
        try:
            reading = self.reading(target)
        except DockerfileError as exc:
            message = f"{exc} (target {target.name!r})"
            self.out.add(Problem(target.dockerfile, exc.line, exc.col, "", message))
            return
        names = self.h.stages[target.name] = list(reading.names)
        for key in ("target", "test"):
            stage = target.stage if key == "target" else target.test
            if stage is not None and stage.lower() not in names:
                shown = display_path(target.dockerfile)
                hint = did_you_mean(stage, names)
                listed = f" (stages: {', '.join(names)})" if names else " (it has no named stages)"
                self.out.add(
                    target.at(key).problem(
                        f"stage {stage!r} is not defined in {shown}{hint}{listed}"
                    )
                )
        for use, origin, parent in reading.uses:
            if isinstance(parent, str):
                self.edge(parent, target.name, origin)
            else:
                message = f"image {use.ref!r} {parent} (target {target.name!r})"
                self.out.add(Problem(target.dockerfile, use.line, 1, "", message))
        self.h.externals[target.name] = list(reading.externals)

    def resolve(self, ref: str) -> str | BadReference | None:
        """The target a reference names, None for an external image, or why it is none."""
        if ref in self.spec.targets:
            return ref
        try:
            parsed = parse_ref(ref)
        except BadReference as exc:
            return exc
        if parsed.tag is None and parsed.digest:
            return None  # pinned by digest alone: an external image by definition
        return self.by_tag.get(parsed.without_digest().normalized())

    def cycles(self) -> None:
        with contextlib.suppress(nx.NetworkXUnfeasible):  # the usual case: levels in one pass
            self.h.levels()
            return
        for component in nx.strongly_connected_components(self.h.dag):
            nodes = sorted(component)
            if len(nodes) == 1 and not self.h.dag.has_edge(nodes[0], nodes[0]):
                continue
            # Walk child -> parent ("builds on") from the alphabetically first target.
            sub = self.h.dag.subgraph(nodes).reverse(copy=False)
            cycle = nx.find_cycle(sub, source=nodes[0])
            trail = [cycle[0][0], *(edge[1] for edge in cycle)]
            lines = [f"dependency cycle: {' -> '.join(trail)}"]
            first: Origin | None = None
            for child, parent in cycle[: len(cycle)]:
                origin = self.h.origins(parent, child)[0]
                first = first or origin
                lines.append(f"  {child} builds on {parent}: {origin.describe(self.spec.folder)}")
            lines.append("  break the cycle by removing one of these edges")
            assert first is not None
            self.out.add(Problem(first.file, first.line, None, "", "\n".join(lines)))

    def platforms(self) -> None:
        """A child builds on its parent for each of its platforms: the parent must have it."""
        for parent, child in self.h.dag.edges:
            if not any(o.kind == "dockerfile" for o in self.h.origins(parent, child)):
                continue
            p, c = self.spec.targets[parent], self.spec.targets[child]
            if any(platform_problem(x) for x in (*p.platforms, *c.platforms)):
                continue  # reported as invalid platforms already
            have = p.platforms or (host_platform(),)
            normal = {normalize_platform(x) for x in have}  # linux/arm64 is linux/arm64/v8
            wanted = c.platforms or (host_platform(),)
            missing = [x for x in wanted if normalize_platform(x) not in normal]
            if missing:
                self.out.add(
                    c.at("platforms").problem(
                        f"{', '.join(missing)} not built by parent {parent!r} (platforms: "
                        f"{', '.join(have)}; {p.at('platforms').spot()}); add "
                        f"{'it' if len(missing) == 1 else 'them'} to the parent or drop "
                        f"{'it' if len(missing) == 1 else 'them'} here"
                    )
                )


def build_hierarchy(spec: Spec, out: ProblemCollector) -> Hierarchy:
    builder = _Builder(spec, out)
    for target in spec.targets.values():
        builder.target(target)
    builder.cycles()
    builder.platforms()
    return builder.h
