"""A target's phases tried again on transient errors: the retry policy (exponential
backoff with jitter, within a time budget) and the attempts of one target."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.backend.base import BuildResult
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.events import Retrying, Started
from orchestrator.execution.executor import Emit, Outcome
from orchestrator.execution.status import Kind, Phase, Status


@dataclass(frozen=True)
class RetryPolicy:
    """Transient errors are retried while the phase's time budget lasts (`timeout_s`
    from its first attempt), at most `retries` times when given, with exponential
    backoff (capped) and jitter."""

    retries: int | None = None
    timeout_s: float = 60.0
    base_s: float = 1.0
    cap_s: float = 10.0
    rng: random.Random = field(default_factory=random.Random, compare=False)
    now: Callable[[], float] = field(default=time.monotonic, compare=False)

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], at least base/2."""
        ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return max(self.base_s / 2, self.rng.uniform(0, ceiling))

    def next_delay(self, attempt: int, since: float) -> float | None:
        """How long to wait before the attempt after `attempt`, which failed transiently
        (`since`: when the phase's first attempt started); None: no more attempts."""
        if self.retries is not None and attempt > self.retries:
            return None
        left = self.timeout_s - (self.now() - since)
        return None if left <= 0 else min(self.delay(attempt), left)


@dataclass
class Attempts:
    """A target's phases, each tried until it succeeds, fails for good or is cancelled;
    `count` is every try of every phase. A phase run again (a build done over for its
    lineage) goes on counting its attempts."""

    name: str
    emit: Emit
    cancel: CancelToken
    retry: RetryPolicy
    clock: Callable[[], float]
    count: int = 0
    of_phase: dict[Phase, int] = field(default_factory=dict)  # attempts so far, per phase

    def run(self, phase: Phase, call: Callable[[], BuildResult]) -> BuildResult:
        retry, since = 1, self.retry.now()
        while True:
            attempt = self.of_phase[phase] = self.of_phase.get(phase, 0) + 1
            self.emit(Started(self.name, phase, attempt, self.clock()))
            result = call()
            self.count += 1
            if result.ok or result.cancelled or not result.transient:
                return result
            delay = self.retry.next_delay(retry, since)
            if delay is None:
                return result
            self.emit(Retrying(self.name, phase, attempt, delay, result.reason))
            if self.cancel.event.wait(delay):
                return BuildResult(False, reason="cancelled", cancelled=True)
            retry += 1

    def failed(self, phase: Phase, result: BuildResult) -> Outcome:
        return failed(phase, result, self.count)


def failed(phase: Phase, result: BuildResult, attempts: int) -> Outcome:
    """No digest: a target whose test or push failed is nothing to build children on."""
    kind = Kind.CANCELLED if result.cancelled else Kind.FAILED
    reason = "" if result.cancelled else result.reason
    return Outcome(Status(kind, phase, reason), None, attempts, result.log_tail)
