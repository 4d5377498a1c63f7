"""One target, start to finish: build, then its test stage, then push; each phase
retried on transient errors only, with exponential backoff and jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from orchestrator.backend.base import Backend, BuildResult, CancelToken
from orchestrator.events import LogLine, Retrying, Started
from orchestrator.request import RequestFactory, image_names, pin_tag
from orchestrator.scheduler import Emit, Outcome
from orchestrator.status import Kind, Phase, Status


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    base_s: float = 1.0
    cap_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], at least base/2."""
        ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        return max(self.base_s / 2, self.rng.uniform(0, ceiling))


@dataclass
class TargetRunner:
    backend: Backend
    requests: RequestFactory
    push: bool
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = time.time

    def _phase(
        self,
        name: str,
        phase: Phase,
        *,
        emit: Emit,
        cancel: CancelToken,
        call: Callable[[], BuildResult],
        attempts: list[int],
    ) -> BuildResult:
        """Run one phase until it succeeds, fails for good or is cancelled.
        `attempts` (shared by the target's phases) counts every try."""
        attempt = 1
        while True:
            emit(Started(name, phase, attempt, self.clock()))
            result = call()
            attempts.append(1)
            if (
                result.ok
                or result.cancelled
                or not result.transient
                or attempt > self.retry.retries
            ):
                return result
            delay = self.retry.delay(attempt)
            emit(Retrying(name, phase, attempt, delay, result.reason))
            if cancel.event.wait(delay):
                return BuildResult(False, reason="cancelled", cancelled=True)
            attempt += 1

    def __call__(
        self, name: str, emit: Emit, cancel: CancelToken, digests: Mapping[str, str]
    ) -> Outcome:
        attempts: list[int] = []
        target = self.requests.hierarchy.spec.targets[name]

        def on_line(line: str) -> None:
            emit(LogLine(name, line))

        log = self.requests.logs / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("", encoding="utf-8")

        request = self.requests.build(name, digests)
        result = self._phase(
            name,
            Phase.BUILD,
            emit=emit,
            cancel=cancel,
            call=lambda: self.backend.build(request, on_line, cancel),
            attempts=attempts,
        )
        if not result.ok:
            return self._failed(Phase.BUILD, result, len(attempts))
        digest = result.digest
        if digest and not self.push:
            # The name children are pinned to (see request.pin); the engine's own tag
            # may move, this one never does.
            self.backend.tag(digest, [pin_tag(target, digest)])
        if target.test:
            test = self.requests.test(name, digests)
            result = self._phase(
                name,
                Phase.TEST,
                emit=emit,
                cancel=cancel,
                call=lambda: self.backend.build(test, on_line, cancel),
                attempts=attempts,
            )
            if not result.ok:
                return self._failed(Phase.TEST, result, len(attempts))
        if self.push:
            tags = image_names(target)
            result = self._phase(
                name,
                Phase.PUSH,
                emit=emit,
                cancel=cancel,
                call=lambda: self.backend.push(name, tags, on_line, cancel),
                attempts=attempts,
            )
            if not result.ok:
                return self._failed(Phase.PUSH, result, len(attempts))
        return Outcome(Status(Kind.BUILT), digest, len(attempts))

    @staticmethod
    def _failed(phase: Phase, result: BuildResult, attempts: int) -> Outcome:
        """No digest: a target whose test or push failed is nothing to build children on."""
        if result.cancelled:
            return Outcome(Status(Kind.CANCELLED, phase), None, attempts, result.log_tail)
        return Outcome(Status(Kind.FAILED, phase, result.reason), None, attempts, result.log_tail)
