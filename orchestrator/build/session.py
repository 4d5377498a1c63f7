"""The targets of a run that build, in one BuildKit session (one `docker buildx bake`).

Per-target builds cost a client, a session and an export before a child can start:
on a 30-target tree on 2 cores that made a cold build 1.5x bake's. In a session a
child is linked to its parent's build (`target:` context), as bake links them, and
BuildKit schedules the whole set. stackbake keeps what bake lacks:

- Each target's runner still decides its status: its build phase waits here for its
  target's result (`SessionBuilder`), which comes as soon as that image is exported,
  then it tests, tags and pushes.
- Failure isolation: bake stops everything at the first failure. A failed target whose
  ancestors in the session all succeeded failed on its own steps; every other target
  the session did not finish builds again on its own (`wait` returns None), from the
  cache, pinned to its parents by digest (build/alone.py).
- The roots of the session start at once in a build of their own that exports nothing
  (a primer): bake sets up every target's session, one after the other (~60 ms each),
  before BuildKit starts any step, and the primed steps run meanwhile; bake's solve of
  the same steps joins them. Measured by hand on the benchmark tree, a primer next to
  a plain `docker buildx bake`: 14.5-15.0 -> 13.3-13.6 s.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO

from orchestrator.backend.base import Backend, BuildRequest, BuildResult, OnLine, SessionFiles
from orchestrator.build.alone import AloneBuilder
from orchestrator.build.plan import Plan
from orchestrator.build.requests import RequestFactory
from orchestrator.build.tags import RunTags, build_names
from orchestrator.execution.cancel import CancelToken
from orchestrator.state import StateDir

PRIMERS = 2  # roots started ahead of the session, the ones with the most below them


@dataclass
class Session:
    backend: Backend
    requests: Mapping[str, BuildRequest]  # in the order of the graph: parents first
    parents: Mapping[str, Sequence[str]]  # each target's parents in the session
    state: StateDir  # the targets' logs, the session's own log and files
    tags: RunTags  # makes `pins` when the session starts
    pins: Mapping[str, str] = field(default_factory=dict)  # parents outside: tag -> digest
    cancel: CancelToken = field(default_factory=CancelToken)
    # Told of each target's result as the session reports it (the early gates).
    on_done: Callable[[str, BuildResult], None] | None = None

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._results: dict[str, BuildResult] = {}
        self._buffers: dict[str, list[str]] = {name: [] for name in self.requests}
        self._listeners: dict[str, OnLine] = {}
        self._files: dict[str | None, IO[str]] = {}
        self._threads: list[threading.Thread] = []
        self._ended = False

    def __contains__(self, name: object) -> bool:
        return name in self.requests

    def start(self) -> None:
        self.tags.pin(self.pins)
        for name in (*self.requests, None):
            self.state.new_log(name)
            # Appending, a line at a time: a target's test stage (or its build alone)
            # appends to the same file while the session still writes.
            self._files[name] = self.state.log(name).open("a", encoding="utf-8", buffering=1)
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        self._threads.append(thread)

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
            files = SessionFiles(
                self.state.session_file("bake.json"), self.state.session_file("metadata.json")
            )
            requests = list(self.requests.values())
            self.backend.bake(requests, self, self.cancel, files, self._primers())
        except Exception as exc:  # the targets then build on their own
            self.line(None, f"stackbake: the session could not run: {exc}")
        finally:
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
        if self.on_done is not None:  # first: the early gates start before the runner asks
            self.on_done(target, result)
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


class SessionBuilder:
    """The build phase of the session's targets: the session's result first; a target
    the session did not finish, and every retry, built alone."""

    def __init__(self, session: Session, alone: AloneBuilder) -> None:
        self.session = session
        self.alone = alone
        self._asked: set[str] = set()

    def __enter__(self) -> SessionBuilder:
        try:
            self.session.start()
        except BaseException:
            self.session.close()  # what started is stopped, what opened is closed
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.session.close()

    def build(
        self,
        name: str,
        digests: Mapping[str, str],
        on_line: OnLine,
        cancel: CancelToken,
        *,
        clean: bool = False,
    ) -> BuildResult:
        if name in self.session and name not in self._asked and not clean:
            self._asked.add(name)
            result = self.session.wait(name, on_line, cancel)
            if result is not None:
                return result
            on_line("the session stopped before this target was built: building it alone")
        return self.alone.build(name, digests, on_line, cancel, clean=clean)

    def test(
        self, name: str, digests: Mapping[str, str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        return self.alone.test(name, digests, on_line, cancel)


def open_session(
    plan: Plan,
    factory: RequestFactory,
    tags: RunTags,
    backend: Backend,
    state: StateDir,
    *,
    on_done: Callable[[str, BuildResult], None] | None = None,
) -> Session:
    """The session of `plan.session`: each target linked to its parents in it, pinned by
    digest to those outside it (up to date), named with its release tags when its build
    may name it, else with its staging tag."""
    h, members = plan.hierarchy, set(plan.session)
    requests: dict[str, BuildRequest] = {}
    parents: dict[str, list[str]] = {}
    pins: dict[str, str] = {}
    for name in plan.session:
        parents[name] = [p for p in h.parents(name) if p in members]
        outside = {p: plan.fresh.up_to_date[p] for p in h.parents(name) if p not in members}
        pins |= factory.local_pins(name, outside)
        names = build_names(name, factory, tags, plan.named_by_build)
        requests[name] = factory.build(name, outside, names, linked=parents[name])
    return Session(backend, requests, parents, state, tags, pins, on_done=on_done)
