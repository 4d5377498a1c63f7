"""Which targets a command works on: names, groups and globs, plus their parents."""

from __future__ import annotations

from fnmatch import fnmatchcase

import networkx as nx

from orchestrator.errors import UsageError
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hints import did_you_mean
from orchestrator.spec.checks import group_members, is_glob

DEFAULT_GROUP = "default"


def expand_names(h: Hierarchy, names: list[str]) -> list[str]:
    """Targets named on the command line; no names means the `default` group, else all."""
    spec = h.spec
    if not names:
        if DEFAULT_GROUP in spec.groups:
            return group_members(spec, DEFAULT_GROUP)
        return list(spec.targets)
    out: list[str] = []
    for name in names:
        if name in spec.targets:
            out.append(name)
        elif name in spec.groups:
            out += group_members(spec, name)
        elif is_glob(name):
            matched = [t for t in spec.targets if fnmatchcase(t, name)]
            if not matched:
                raise UsageError(f"{name!r} matches no target; run 'stackbake ls' to see them")
            out += matched
        else:
            hint = did_you_mean(name, [*spec.targets, *spec.groups]) or (
                "; run 'stackbake ls' to see targets and groups"
            )
            raise UsageError(f"unknown target or group {name!r}{hint}")
    return list(dict.fromkeys(out))


def select(h: Hierarchy, names: list[str], *, with_dependents: bool = False) -> list[str]:
    """The targets to work on, in build order: the named ones, every target they build on,
    and with `with_dependents` every target built on them."""
    chosen = set(expand_names(h, names))
    if with_dependents:
        for name in list(chosen):
            chosen |= nx.descendants(h.dag, name)
    for name in list(chosen):
        chosen |= nx.ancestors(h.dag, name)
    return h.order(list(chosen))
