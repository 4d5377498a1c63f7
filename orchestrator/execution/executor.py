"""The executor: a schedule's targets run on worker threads, events yielded as they
happen.

Workers never raise: whatever happens inside one becomes an `Outcome`. The loop
is the only place that changes the schedule, so statuses are decided in one
thread, in order. Dependents of a failure are reported `blocked` without running.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.events import Event, Finished, Stopping
from orchestrator.execution.schedule import Schedule
from orchestrator.execution.status import GateResult, Kind, Phase, Status

Emit = Callable[[Event], None]


@dataclass(frozen=True)
class Outcome:
    status: Status
    digest: str | None = None
    attempts: int = 0
    log_tail: tuple[str, ...] = ()
    published: tuple[str, ...] = ()  # tags pushed (also by a push that failed later)
    gates: tuple[GateResult, ...] = ()  # every gate on every platform, in the order run


# work(target, emit, cancel, digests of finished targets) -> Outcome
Work = Callable[[str, Emit, CancelToken, Mapping[str, str]], Outcome]


@dataclass
class Executor:
    schedule: Schedule
    work: Work
    fail_fast: bool = False
    interrupted: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.time
    poll_s: float = 0.05

    def __post_init__(self) -> None:
        self._queue: queue.Queue[Event | tuple[str, Outcome]] = queue.Queue()
        self._tokens: dict[str, CancelToken] = {}
        self._started_at: dict[str, float] = {}
        self._digests: dict[str, str] = {}
        self._stopping = False
        self._interrupt_seen = False

    def _worker(self, name: str, token: CancelToken, digests: Mapping[str, str]) -> None:
        def emit(event: Event) -> None:
            self._queue.put(event)

        try:
            outcome = self.work(name, emit, token, digests)
        except BaseException as exc:  # a worker reports, never raises
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            reason = f"internal error: {type(exc).__name__}: {first}".rstrip(": ")
            tail = tuple(traceback.format_exc().splitlines()[-20:])
            outcome = Outcome(Status(Kind.FAILED, Phase.BUILD, reason), log_tail=tail)
        self._queue.put((name, outcome))

    def _start_ready(self) -> None:
        for name in self.schedule.startable():
            self.schedule.start(name)
            token = CancelToken()
            self._tokens[name] = token
            self._started_at[name] = self.clock()
            thread = threading.Thread(
                target=self._worker,
                name=f"build-{name}",
                args=(name, token, dict(self._digests)),
                daemon=True,
            )
            thread.start()

    def _stop(self, reason: str, *, cancel_running: bool) -> Iterator[Event]:
        self._stopping = True
        running = tuple(sorted(self.schedule.running))
        yield Stopping(reason, running)
        if cancel_running:
            for name in running:
                self._tokens[name].cancel()
        for name, status in self.schedule.cancel_waiting(reason):
            yield Finished(name, status, self.clock())

    def _finished(self, name: str, outcome: Outcome) -> Iterator[Event]:
        status = outcome.status
        if self._stopping and status.kind is Kind.CANCELLED and not status.reason:
            status = Status(Kind.CANCELLED, status.phase, "interrupted")
        if outcome.digest:
            self._digests[name] = outcome.digest
        yield Finished(
            name,
            status,
            self.clock(),
            self._started_at.get(name),
            outcome.attempts,
            outcome.digest,
            outcome.log_tail,
            outcome.published,
            outcome.gates,
        )
        for child, child_status in self.schedule.finish(name, status):
            yield Finished(child, child_status, self.clock())
        if status.kind is Kind.FAILED and self.fail_fast and not self._stopping:
            yield from self._stop(f"fail-fast: {name} failed", cancel_running=False)

    def events(self) -> Iterator[Event]:
        """Run every target of the schedule; yields events until all are final."""
        while not self.schedule.finished:
            if self.interrupted.is_set() and not self._interrupt_seen:
                self._interrupt_seen = True
                yield from self._stop("interrupted", cancel_running=True)
            if not self._stopping:
                self._start_ready()
            if self.schedule.finished:
                break
            try:
                item = self._queue.get(timeout=self.poll_s)
            except queue.Empty:
                continue
            if isinstance(item, tuple):
                yield from self._finished(*item)
            else:
                yield item
