"""The targets of a run that build, in one BuildKit session (one `docker buildx bake`).

Per-target builds cost a client, a session and an export before a child can start:
on a 30-target tree on 2 cores that made a cold build 1.5x bake's. In a session a
child is linked to its parent's build (`target:` context), as bake links them, and
BuildKit schedules the whole set. stackbake keeps what bake lacks:

- Each target's runner still decides its status: it waits here for its target's
  result, which comes as soon as that image is exported, then tests, tags, pushes.
- Failure isolation: bake stops everything at the first failure. A failed target whose
  ancestors in the session all succeeded failed on its own steps; every other target
  the session did not finish builds again on its own (`wait` returns None), from the
  cache, pinned to its parents by digest.
- The roots of the session start at once in a build of their own that exports nothing
  (a primer): bake sets up every target's session, one after the other (~60 ms each),
  before BuildKit starts any step, and the primed steps run meanwhile; bake's solve of
  the same steps joins them. Measured by hand on the benchmark tree, a primer next to
  a plain `docker buildx bake`: 14.5-15.0 -> 13.3-13.6 s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import networkx as nx

from orchestrator.backend.base import Backend, BuildRequest, BuildResult, CancelToken, OnLine
from orchestrator.build.requests import RequestFactory, pin_tag
from orchestrator.freshness.uptodate import Freshness

PRIMERS = 2  # roots started ahead of the session, the ones with the most below them
SESSION_LOG = "_session.log"  # bake's own lines (target names cannot start with "_")


@dataclass
class Session:
    backend: Backend
    requests: Mapping[str, BuildRequest]  # in the order of the graph: parents first
    parents: Mapping[str, Sequence[str]]  # each target's parents in the session
    logs: Path
    direct: frozenset[str] = frozenset()  # named with their release tags by the session
    pins: Mapping[str, str] = field(default_factory=dict)  # parents outside: tag -> digest
    cancel: CancelToken = field(default_factory=CancelToken)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._results: dict[str, BuildResult] = {}
        self._buffers: dict[str, list[str]] = {name: [] for name in self.requests}
        self._listeners: dict[str, OnLine] = {}
        self._files: dict[str | None, IO[str]] = {}
        self._threads: list[threading.Thread] = []
        self._ended = False
        self._primed = CancelToken()  # the primers: stopped when the session ends
        self.cancel.on_cancel(self._primed.cancel)

    def __contains__(self, name: object) -> bool:
        return name in self.requests

    def leftovers(self) -> list[str]:
        """Names to remove after the run: staging tags (an image waiting for its tests)
        and the pins of parents outside the session."""
        staging = [t for r in self.requests.values() for t in r.tags if ":stackbake-build-" in t]
        return [*staging, *self.pins]

    def start(self) -> None:
        for tag, digest in self.pins.items():
            self.backend.tag(digest, [tag])
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in (*self.requests, None):
            path = self.logs / (f"{name}.log" if name else SESSION_LOG)
            path.write_text("", encoding="utf-8")
            # Appending, a line at a time: a target's test stage (or its build alone)
            # appends to the same file while the session still writes.
            self._files[name] = path.open("a", encoding="utf-8", buffering=1)
        for primer in self._primers():
            self._spawn(functools.partial(self._prime, primer))
        self._spawn(self._run)

    def _spawn(self, work: Callable[[], None]) -> None:
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _prime(self, request: BuildRequest) -> None:
        # Only a head start: whatever fails here, the session says it for the target.
        with contextlib.suppress(Exception):
            self.backend.build(request, lambda _: None, self._primed)

    def _primers(self) -> list[BuildRequest]:
        below: dict[str, int] = dict.fromkeys(self.requests, 0)
        for name in reversed(list(self.requests)):
            for parent in self.parents.get(name, ()):
                below[parent] += 1 + below[name]
        # Without the cache (no-cache) a primer's steps would run twice, not once.
        roots = [
            n
            for n in self.requests
            if not self.parents.get(n) and below[n] and not self.requests[n].no_cache
        ]
        roots.sort(key=lambda n: -below[n])
        return [
            dataclasses.replace(
                self.requests[n],
                tags=(),
                outputs=("type=cacheonly",),
                cache_to=(),
                load=False,
                log_file=None,  # the session writes the target's log
            )
            for n in roots[:PRIMERS]
        ]

    def _run(self) -> None:
        try:
            self.backend.bake(list(self.requests.values()), self, self.cancel, self.logs)
        except Exception as exc:  # the targets then build on their own
            self.line(None, f"stackbake: the session could not run: {exc}")
        finally:
            self._primed.cancel()
            with self._cond:
                for file in self._files.values():
                    file.close()
                self._files.clear()
                self._ended = True
                self._cond.notify_all()

    # SessionSink
    def line(self, target: str | None, line: str) -> None:
        with self._cond:
            file = self._files.get(target)
            if file is not None:
                file.write(line + "\n")
            if target in self._listeners:
                self._listeners[target](line)
            elif target in self._buffers:
                self._buffers[target].append(line)

    def done(self, target: str, result: BuildResult) -> None:
        with self._cond:
            self._results[target] = result
            self._cond.notify_all()

    def wait(self, name: str, on_line: OnLine, cancel: CancelToken) -> BuildResult | None:
        """The session's result for `name`, its lines so far and to come passed on; None
        when the session stopped before `name` was built or failed on its own."""
        cancel.on_cancel(self.cancel.cancel)
        with self._cond:
            for line in self._buffers.pop(name, []):
                on_line(line)
            self._listeners[name] = on_line
            self._cond.wait_for(lambda: name in self._results or self._ended)
            del self._listeners[name]
            result = self._results.get(name)
        if (result is None or not result.ok) and self.cancel.cancelled:
            return BuildResult(False, reason="cancelled", cancelled=True)
        if result is None:
            return None
        if not result.ok and not result.cancelled and not self._ancestors_built(name):
            return None  # its step may have failed for a parent's sake: ask again alone
        return result

    def _ancestors_built(self, name: str) -> bool:
        todo, seen = list(self.parents.get(name, ())), set()
        while todo:
            parent = todo.pop()
            if parent in seen:
                continue
            seen.add(parent)
            result = self._results.get(parent)
            if result is None or not result.ok:
                return False
            todo.extend(self.parents.get(parent, ()))
        return True

    def close(self) -> None:
        """After the run: stop what is left (an interrupted run) and wait for it."""
        with self._cond:
            ended = self._ended
        if not ended:
            self.cancel.cancel()
        for thread in self._threads:
            thread.join()
        with self._cond:  # a start that failed half-way never ran the session
            for file in self._files.values():
                file.close()
            self._files.clear()


def open_session(
    factory: RequestFactory,
    fresh: Freshness,
    backend: Backend,
    building: Sequence[str],
    *,
    per_target: bool,
    jobs: int,
) -> Session | None:
    """A session for the targets that build, when there are two or more and they can
    share one: not asked to build one by one (--per-target, -j 1), no --pull (the runner
    fetches bases itself when parents are pinned locally), one builder. Parents that are
    up to date are pinned by digest, as in a build on its own."""
    h, mode = factory.hierarchy, factory.mode
    spec = h.spec
    if per_target or jobs < 2 or len(building) < 2:
        return None
    if mode.pull or any(spec.targets[n].pull for n in building):
        return None
    if len({spec.targets[n].builder or mode.builder for n in building}) > 1:
        return None
    order = list(nx.lexicographical_topological_sort(h.dag.subgraph(building)))
    parents = {n: [p for p in h.parents(n) if p in building] for n in order}
    untested: dict[str, bool] = {}  # no test stage in it or above it in the session
    for n in order:
        untested[n] = not spec.targets[n].test and all(untested[p] for p in parents[n])
    # Named with their release tags by the session itself only when nothing after the
    # build can fail (a test stage above, a push): else they move once that passed.
    direct = {n for n in order if untested[n] and factory.names_images() and not mode.pushes}
    requests: dict[str, BuildRequest] = {}
    pins: dict[str, str] = {}
    for n in order:
        outside = {p: fresh.current[p] for p in h.parents(n) if p in fresh.current}
        if not mode.pushes:
            pins |= {pin_tag(spec.targets[p], d): d for p, d in outside.items()}
        release = factory.release_names(n, fresh.key(n)) if n in direct else []
        token = None if n in direct else uuid.uuid4().hex[:12]
        requests[n] = factory.build(n, outside, token, release, linked=parents[n])
    return Session(backend, requests, parents, factory.logs, frozenset(direct), pins)
