"""The run as data: one record per target, built from events, read by every report."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.execution.events import Event, Finished, Retrying, Started, Stopping
from orchestrator.execution.status import GateResult, Kind, Status


@dataclass
class TargetRecord:
    name: str
    tags: tuple[str, ...]
    platforms: tuple[str, ...]
    log: Path
    status: Status | None = None
    phase: str | None = None  # current phase while running
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    digest: str | None = None
    log_tail: tuple[str, ...] = ()
    published: tuple[str, ...] = ()
    last_line: str = ""
    retries: list[str] = field(default_factory=list)
    gates: tuple[GateResult, ...] = ()

    @property
    def duration_s(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return round(self.finished - self.started, 3)


@dataclass
class RunRecord:
    spec: str
    targets: dict[str, TargetRecord]
    started: float
    finished: float | None = None
    stops: list[Stopping] = field(default_factory=list)
    interrupted: bool = False
    skipped_gates: tuple[str, ...] = ()  # --skip-gate: bypassed for every target of the run
    reports: str = ""  # the folder the gates' files (SBOMs) are in, as shown
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply(self, event: Event) -> None:
        with self.lock:
            self._apply(event)

    def _apply(self, event: Event) -> None:
        if isinstance(event, Started):
            record = self.targets[event.target]
            record.phase = str(event.phase)
            if record.started is None:
                record.started = event.at
        elif isinstance(event, Retrying):
            self.targets[event.target].retries.append(
                f"{event.phase} attempt {event.attempt}: {event.reason}"
            )
        elif isinstance(event, Finished):
            record = self.targets[event.target]
            record.status = event.status
            record.finished = event.at
            record.started = event.started_at if event.started_at is not None else record.started
            record.attempts = event.attempts
            record.digest = event.digest
            record.log_tail = event.log_tail
            record.published = event.published
            record.gates = event.gates
        elif isinstance(event, Stopping):
            self.stops.append(event)
        else:
            self.targets[event.target].last_line = event.line

    def by_kind(self, kind: Kind) -> list[TargetRecord]:
        return [r for r in self.targets.values() if r.status and r.status.kind is kind]

    @property
    def ok(self) -> bool:
        return all(r.status is not None and r.status.ok for r in self.targets.values())
