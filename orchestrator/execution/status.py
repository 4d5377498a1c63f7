"""A target's outcome as data with reasons: the contract of every output."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    BUILT = "built"
    UP_TO_DATE = "up-to-date"
    FAILED = "failed"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"


class Phase(StrEnum):
    BUILD = "build"
    TEST = "test"
    PUSH = "push"
    WAIT = "wait"  # for a parent another shard builds


@dataclass(frozen=True)
class Status:
    kind: Kind
    phase: Phase | None = None  # where a failure (or cancellation) happened
    reason: str = ""
    blocked_by: tuple[str, ...] = ()  # failed ancestors that caused a `blocked`

    @property
    def ok(self) -> bool:
        return self.kind in (Kind.BUILT, Kind.UP_TO_DATE)

    def describe(self) -> str:
        if self.kind is Kind.BLOCKED:
            return f"blocked by {', '.join(self.blocked_by)}"
        if self.kind is Kind.FAILED and self.phase:
            return (
                f"failed in {self.phase}: {self.reason}"
                if self.reason
                else f"failed in {self.phase}"
            )
        if self.kind is Kind.CANCELLED and self.reason:
            return f"cancelled ({self.reason})"
        return str(self.kind)
