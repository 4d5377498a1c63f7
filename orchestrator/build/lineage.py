"""Every child sits on the parent this run publishes: after a target's build, on each of
its platforms, its layers must begin with the layers of the parent its built stage
starts FROM (the parent's image of this run: built, or found up to date).

A build can break that without anything failing: a parent rebuilt alone (after a
session cut its export short) gets new layer digests for the same files, and BuildKit
may still answer a child's step from its content-based cache, whose snapshot sits on
the parent's earlier layers. Checked here from the layer lists; the runner builds such a
child again without its cache, and fails it if that does not mend it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.backend.base import Backend, Layers
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hierarchy.naming import registry_pin
from orchestrator.refs import host_platform, normalize_platform


@dataclass(frozen=True)
class Verdict:
    broken: str = ""  # why the child does not sit on its parent ("": it does)
    checked: tuple[str, ...] = ()  # the platforms whose layers were compared
    unchecked: tuple[str, ...] = ()  # platforms this engine could not show

    def describe(self) -> str:
        if self.broken:
            return f"lineage: {self.broken}"
        shown = f"lineage checked on {', '.join(self.checked)}" if self.checked else ""
        missing = f"not checkable here on {', '.join(self.unchecked)}" if self.unchecked else ""
        return "; ".join(x for x in (shown, missing) if x)


@dataclass
class Lineage:
    backend: Backend
    hierarchy: Hierarchy
    pushed: bool  # parents are pinned in the registry: read them there if not local
    _known: dict[str, Layers] = field(default_factory=dict)  # parent digest -> layers

    def check(self, name: str, digest: str | None, digests: Mapping[str, str]) -> Verdict:
        """`name`'s image `digest` against the FROM parent's image in `digests`."""
        h = self.hierarchy
        parents = [p for p in h.parents(name) if h.edge_kind(p, name) == "from" and p in digests]
        if digest is None or not parents:
            return Verdict()
        child = self.backend.layers(digest)
        platforms = h.spec.targets[name].platforms or (host_platform(),)
        checked, unchecked = [], []
        for parent in parents:
            base = self._parent(parent, digests[parent])
            for platform in (normalize_platform(p) for p in platforms):
                mine, theirs = child.get(platform), base.get(platform)
                if mine is None or theirs is None:
                    unchecked.append(platform)
                elif tuple(mine[: len(theirs)]) != tuple(theirs):
                    return Verdict(
                        f"on {platform} the layers of {name} do not begin with those of "
                        f"{parent} ({digests[parent]})"
                    )
                else:
                    checked.append(platform)
        return Verdict("", tuple(dict.fromkeys(checked)), tuple(dict.fromkeys(unchecked)))

    def _parent(self, name: str, digest: str) -> Layers:
        if digest not in self._known:
            found = self.backend.layers(digest)
            if not found and self.pushed:  # found up to date in the registry
                ref = registry_pin(self.hierarchy.spec.targets[name], digest)
                found = self.backend.layers(digest, registry_ref=ref)
            self._known[digest] = found
        return self._known[digest]
