"""A project cut down to some platforms (`build --platform`, a per-platform shard): each
target keeps the platforms asked for that it has, and a target left with none is left
out. What remains is an ordinary project: its build keys are those of what is built
(platforms are key inputs), so a per-platform build is found again by its own key."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from orchestrator.errors import UsageError
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hierarchy.project import Project
from orchestrator.refs import host_platform, normalize_platform


def restrict_platforms(project: Project, platforms: Sequence[str]) -> Project:
    wanted = {normalize_platform(p) for p in platforms}
    spec, h = project.spec, project.hierarchy
    targets = {}
    for name, target in spec.targets.items():
        if not target.platforms:  # the host's: kept as it is (its key unchanged)
            if normalize_platform(host_platform()) in wanted:
                targets[name] = target
            continue
        kept = tuple(p for p in target.platforms if normalize_platform(p) in wanted)
        if kept:
            targets[name] = dataclasses.replace(target, platforms=kept)
    if not targets:
        every = sorted({p for t in spec.targets.values() for p in t.platforms})
        raise UsageError(
            f"no target builds {', '.join(platforms)}; the spec's platforms: "
            f"{', '.join(every) or host_platform()}"
        )
    cut = dataclasses.replace(spec, targets=targets)
    dag = h.dag.subgraph(targets).copy()
    externals = {n: e for n, e in h.externals.items() if n in targets}
    stages = {n: s for n, s in h.stages.items() if n in targets}
    return Project(cut, Hierarchy(cut, dag, externals, stages))
