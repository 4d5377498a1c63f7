"""Targets spread over N runners (CI shards) that share only a registry: a pure,
deterministic partition of a dependency graph, no threads, no Docker.

The partition is a simulation of N runners, each building one target at a time: the
runner free first takes the ready target with the longest remaining path (weighted by
recorded durations: critical-path list scheduling, as `Schedule` does on one engine);
when none is ready, the one whose last parent is done first, from then on. Every
target is placed exactly once, so a base shared by the whole tree is built once; a
shard `needs` the shards that build its targets' parents, and waits for each parent as
it needs it, so two shards may need each other. `ordered`: a target never goes to a
runner before the ones of its parents, so shards need only earlier ones (for CI that
starts a job only once the jobs it needs are done, as GitLab's `needs`); that costs
balance: on 200-target trees, makespan within 1.02-1.15 of the lower bound free, but
1.56-2.5 ordered (benchmarks/shards.py). Ties are broken by name, so the same graph and
durations give the same shards on every machine.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from orchestrator.execution.schedule import remaining_paths


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int
    targets: tuple[str, ...]  # in build order
    needs: tuple[int, ...] = ()  # shards that build parents of these targets
    estimate_s: float | None = None  # when the shard is done, from the durations known
    platforms: tuple[str, ...] = ()  # empty: every platform of each target

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def partition(
    dag: nx.DiGraph,
    names: Sequence[str],
    durations: Mapping[str, float],
    shards: int,
    *,
    ordered: bool = False,
) -> list[Shard]:
    """`names` (with the edges among them) over `shards` runners; n log n in targets."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    sub = dag.subgraph(names)
    known = [d for n, d in durations.items() if n in sub and d > 0]
    default = sum(known) / len(known) if known else 1.0
    weight = {n: durations.get(n) or default for n in sub}
    priority = remaining_paths(sub, weight)
    parents_left = {n: sub.in_degree(n) for n in sub}
    parents_done = dict.fromkeys(sub, 0.0)  # when the last parent placed so far is done
    floor = dict.fromkeys(sub, 0)  # the lowest runner it may go to: its parents' highest
    # Ready targets: `pending` by when they can start; `available` (can start now) by
    # priority. Runners take turns in the order they are free, so `now` never goes back.
    pending = [(0.0, -priority[n], n) for n in sub if not parents_left[n]]
    heapq.heapify(pending)
    available: list[tuple[float, str]] = []
    free_at = [(0.0, r) for r in range(shards)]
    placed: dict[str, int] = {}
    done_at: dict[str, float] = {}
    parked: list[int] = []  # runners that may take nothing yet: woken by a placement
    while pending or available:
        now, runner = heapq.heappop(free_at)
        while pending and pending[0][0] <= now:
            _, rank, name = heapq.heappop(pending)
            heapq.heappush(available, (rank, name))
        fits = lambda item, r=runner: floor[item[-1]] <= r  # noqa: E731
        if (taken := _take(available, fits)) is not None:
            begin, name = now, taken[-1]
        elif (waited := _take(pending, fits)) is not None and not any(
            t <= waited[0]
            for t, _ in free_at  # another runner is free by then: its turn
        ):
            begin, name = waited[0], waited[-1]
        else:  # nothing this runner should take now: its next turn at the next event
            if waited is not None:
                heapq.heappush(pending, waited)
            _wait(runner, now, free_at, pending, parked)
            continue
        placed[name], done_at[name] = runner, begin + weight[name]
        heapq.heappush(free_at, (done_at[name], runner))
        for idle in parked:
            heapq.heappush(free_at, (begin, idle))
        parked.clear()
        for child in sorted(sub.successors(name)):
            parents_done[child] = max(parents_done[child], done_at[name])
            floor[child] = max(floor[child], runner) if ordered else 0
            parents_left[child] -= 1
            if not parents_left[child]:
                heapq.heappush(pending, (parents_done[child], -priority[child], child))
    return _shards(sub, placed, done_at if known else None, shards)


def _shards(
    sub: nx.DiGraph, placed: Mapping[str, int], done_at: Mapping[str, float] | None, count: int
) -> list[Shard]:
    """The runners' placements as shards, each in build order with the shards it needs
    and, when durations are known (`done_at`), when it is done."""
    order = list(nx.lexicographical_topological_sort(sub))
    out = []
    for r in range(count):
        mine = [n for n in order if placed[n] == r]
        needs = {placed[p] + 1 for n in mine for p in sub.predecessors(n) if placed[p] != r}
        estimate = None
        if done_at is not None:
            estimate = round(max((done_at[n] for n in mine), default=0.0), 1)
        out.append(Shard(r + 1, count, tuple(mine), tuple(sorted(needs)), estimate))
    return out


def _wait(
    runner: int,
    now: float,
    free_at: list[tuple[float, int]],
    pending: list[tuple[float, float, str]],
    parked: list[int],
) -> None:
    """`runner` takes its next turn at the next time something happens after `now`, or
    once a target is placed (parked)."""
    later = [t for t, _ in free_at if t > now] + [t for t, *_ in pending if t > now]
    if later:
        heapq.heappush(free_at, (min(later), runner))
    else:
        parked.append(runner)


def _take(heap: list[Any], fits: Callable[[Any], bool]) -> Any | None:
    """The first item of `heap` that fits, taken out; the others stay."""
    skipped, found = [], None
    while heap:
        item = heapq.heappop(heap)
        if fits(item):
            found = item
            break
        skipped.append(item)
    for item in skipped:
        heapq.heappush(heap, item)
    return found


def platform_partition(
    platforms: Mapping[str, float], targets: Mapping[str, Sequence[str]], shards: int
) -> list[Shard]:
    """Platforms over `shards` runners (native builders), heaviest first onto the least
    loaded (`platforms`: each one's summed durations); a shard builds every target that
    has one of its platforms, so its parents are its own: it needs no other shard.
    `targets`: target -> its platforms, in build order."""
    if not 1 <= shards <= len(platforms):
        raise ValueError("shards must be between 1 and the number of platforms")
    load = [0.0] * shards
    mine: list[list[str]] = [[] for _ in range(shards)]
    for platform in sorted(platforms, key=lambda p: (-platforms[p], p)):
        runner = min(range(shards), key=lambda r: (load[r], r))
        mine[runner].append(platform)
        load[runner] += platforms[platform]
    out = []
    for r in range(shards):
        chosen = tuple(sorted(mine[r]))
        names = tuple(n for n, ps in targets.items() if set(ps) & set(chosen))
        out.append(Shard(r + 1, shards, names, (), round(load[r], 1), chosen))
    return out
