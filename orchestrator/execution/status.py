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
    GATE = "gate"  # a quality gate, on one of the image's platforms
    PUSH = "push"
    SIGN = "sign"  # signing what was pushed, or attesting its SBOM
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


@dataclass(frozen=True)
class GateResult:
    """One gate on one platform of a target's image: passed, failed (with its findings)
    or skipped (with why: --skip-gate, or a tool that cannot run there)."""

    gate: str
    platform: str | None  # None: a gate on the target as a whole (its Dockerfile, its bases)
    passed: bool
    findings: tuple[str, ...] = ()  # what failed it, one line each; or what it found
    skipped: str = ""  # why it did not run ("--skip-gate scan")
    duration_s: float = 0.0
    files: tuple[str, ...] = ()  # what it wrote (an SBOM), relative to the reports folder

    @property
    def failed(self) -> bool:
        return not self.passed and not self.skipped

    @property
    def result(self) -> str:
        """passed, failed or skipped: as every report words it."""
        return "skipped" if self.skipped else ("passed" if self.passed else "failed")

    def describe(self) -> str:
        """ "scan: secret aws-access-key-id in /etc/creds (CRITICAL) on linux/arm64"."""
        where = f" on {self.platform}" if self.platform else ""
        if self.skipped:
            return f"{self.gate}: skipped ({self.skipped}){where}"
        if self.passed:
            return f"{self.gate}: passed{where}"
        found = "; ".join(self.findings) or "failed"
        return f"{self.gate}: {found}{where}"
