"""What the scheduler tells the world; reporters only consume these."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.execution.status import GateResult, Phase, Status


@dataclass(frozen=True)
class Started:
    target: str
    phase: Phase
    attempt: int
    at: float


@dataclass(frozen=True)
class LogLine:
    target: str
    line: str


@dataclass(frozen=True)
class Retrying:
    target: str
    phase: Phase
    attempt: int  # the attempt that failed
    delay_s: float
    reason: str


@dataclass(frozen=True)
class Finished:
    """Final status of a target: built, up-to-date, failed, blocked or cancelled."""

    target: str
    status: Status
    at: float
    started_at: float | None = None
    attempts: int = 0
    digest: str | None = None
    log_tail: tuple[str, ...] = ()
    published: tuple[str, ...] = ()  # tags pushed to their registries
    gates: tuple[GateResult, ...] = ()  # every gate on every platform, in the order run


@dataclass(frozen=True)
class Stopping:
    """No new builds will start: after a failure with fail-fast, or on an interrupt."""

    reason: str
    running: tuple[str, ...]  # what is still running, and will be cancelled or finish


Event = Started | LogLine | Retrying | Finished | Stopping
