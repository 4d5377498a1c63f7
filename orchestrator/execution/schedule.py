"""Which target to start next: a pure state machine, no threads, no Docker.

A target is ready when every parent in the selection succeeded. Among ready
targets the one with the longest remaining path to a leaf goes first, each
target weighted by its duration in the last run when known (critical-path list
scheduling). A failure blocks every waiting descendant at once.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from orchestrator.execution.status import Kind, Status

DEFAULT_WEIGHT = 1.0


def remaining_paths(dag: nx.DiGraph, weights: Mapping[str, float]) -> dict[str, float]:
    """For each node: its weight plus the heaviest path below it."""
    known = [w for w in weights.values() if w > 0]
    default = sum(known) / len(known) if known else DEFAULT_WEIGHT
    out: dict[str, float] = {}
    for name in reversed(list(nx.topological_sort(dag))):
        below = max((out[c] for c in dag.successors(name)), default=0.0)
        out[name] = weights.get(name, default) + below
    return out


class Schedule:
    def __init__(self, dag: nx.DiGraph, weights: Mapping[str, float], jobs: int) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.dag = dag
        self.jobs = jobs
        self.priority = remaining_paths(dag, weights)
        self.level: dict[str, int] = {}
        for name in nx.topological_sort(dag):
            self.level[name] = max((self.level[p] + 1 for p in dag.predecessors(name)), default=0)
        self.waiting: set[str] = set(dag.nodes)
        self.running: set[str] = set()
        self.done: dict[str, Status] = {}

    @property
    def finished(self) -> bool:
        return not self.waiting and not self.running

    def ready(self) -> list[str]:
        ready = [
            n
            for n in self.waiting
            if all(self.done.get(p, Status(Kind.BLOCKED)).ok for p in self.dag.predecessors(n))
        ]
        return sorted(ready, key=lambda n: (-self.priority[n], n))

    def startable(self) -> list[str]:
        return self.ready()[: max(0, self.jobs - len(self.running))]

    def start(self, name: str) -> None:
        self.waiting.remove(name)
        self.running.add(name)

    def finish(self, name: str, status: Status) -> list[tuple[str, Status]]:
        """Record an outcome; returns the waiting descendants it blocks, in build order."""
        self.running.discard(name)
        self.waiting.discard(name)
        self.done[name] = status
        if status.kind is not Kind.FAILED:
            return []
        blocked = []
        for child in self.in_order(nx.descendants(self.dag, name)):
            if child in self.waiting:
                causes = tuple(
                    sorted(
                        a
                        for a in nx.ancestors(self.dag, child)
                        if a in self.done and self.done[a].kind is Kind.FAILED
                    )
                )
                blocked.append((child, Status(Kind.BLOCKED, blocked_by=causes)))
        for child, child_status in blocked:
            self.waiting.discard(child)
            self.done[child] = child_status
        return blocked

    def in_order(self, names: set[str]) -> list[str]:
        """Build order: by level, then by name (what every output shows)."""
        return sorted(names, key=lambda n: (self.level[n], n))

    def cancel_waiting(self, reason: str) -> list[tuple[str, Status]]:
        """Give up on everything not started; returns them in build order."""
        order = self.in_order(self.waiting)
        cancelled = [(n, Status(Kind.CANCELLED, reason=reason)) for n in order]
        for name, status in cancelled:
            self.waiting.discard(name)
            self.done[name] = status
        return cancelled
