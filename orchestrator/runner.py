"""One target, start to finish: build, then its test stage, then push; each phase
retried on transient errors only, with exponential backoff and jitter."""

from __future__ import annotations

import dataclasses
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from orchestrator.backend.base import Backend, BuildResult, CancelToken
from orchestrator.events import LogLine, Retrying, Started
from orchestrator.incremental import Freshness
from orchestrator.request import RequestFactory, image_names, key_tag, pin_tag, staging_tag
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
    fresh: Freshness | None = None  # keys and existing images; None: build everything
    leftovers: list[str] = field(default_factory=list)  # staging, pin, key tags: removed

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
        """Build into a staging tag, pin, test, then release (and push) the tags.

        Release tags move only once the test stage passed, so a failing target never
        replaces the image a tag named before; a pin tag that served no child is removed
        when the target fails after it. Staging, pin and key tags are removed after the
        run (`leftovers`), in one call.
        """
        attempts: list[int] = []
        target = self.requests.hierarchy.spec.targets[name]

        def on_line(line: str) -> None:
            emit(LogLine(name, line))

        def phase(which: Phase, call: Callable[[], BuildResult]) -> BuildResult:
            return self._phase(name, which, emit=emit, cancel=cancel, call=call, attempts=attempts)

        log = self.requests.logs / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("", encoding="utf-8")

        if self.fresh is not None:
            if name in self.fresh.current:
                return self._up_to_date(name, on_line, cancel)
            on_line(f"building: {'; '.join(self.fresh.reasons(name))}")
        staging = staging_tag(target, uuid.uuid4().hex[:12])
        # Without a test stage the build itself names the image with its release tags
        # (and, pushing, its key tag): no `docker tag` per tag afterwards. With one, they
        # move only once the test stage passed.
        release = list(image_names(target))
        keyed = [key_tag(target, self.fresh.key(name))] if self.fresh and self.push else []
        direct = not target.test and self.requests.names_images()
        request = self.requests.build(
            name, digests, staging.rsplit("-", 1)[1], [*release, *keyed] if direct else []
        )
        self.leftovers.append(staging)  # children may build on it: removed after the run
        if request.pull and request.contexts and not self.push:
            # BuildKit's --pull would look for the local pins in a registry too: fetch the
            # external bases here instead, and build without --pull.
            # Locked bases are pinned by digest: nothing newer to fetch for them.
            externals = self.requests.hierarchy.externals.get(name, [])
            bases = sorted({e.ref for e in externals if e.normalized not in self.requests.locked})
            if bases:
                on_line(f"pulling {', '.join(bases)} (--pull, with parents built in this run)")
                result = phase(
                    Phase.BUILD,
                    lambda: self.backend.pull(bases, target.platforms, on_line, cancel),
                )
                if not result.ok:
                    return self._failed(Phase.BUILD, result, len(attempts))
            request = dataclasses.replace(request, pull=False)
        result = phase(Phase.BUILD, lambda: self.backend.build(request, on_line, cancel))
        if not result.ok:
            return self._failed(Phase.BUILD, result, len(attempts))
        digest = result.digest
        pins = [pin_tag(target, digest)] if digest and self._pinned(name) else []
        if digest and pins:
            # Children are pinned to this name (see request.pin): nothing else moves it.
            self.backend.tag(digest, pins)
            self.leftovers.extend(pins)
        if target.test:
            test = self.requests.test(name, digests)
            result = phase(Phase.TEST, lambda: self.backend.build(test, on_line, cancel))
            if not result.ok:
                self.backend.untag([staging, *pins])
                return self._failed(Phase.TEST, result, len(attempts))
        if digest and not direct:
            self.backend.tag(digest, [*release, *keyed])
        if self.push:
            # The key tag says "this key is published": it is pushed last.
            result = phase(
                Phase.PUSH, lambda: self.backend.push(name, [*release, *keyed], on_line, cancel)
            )
            self.leftovers.extend(keyed)
            if not result.ok:
                return self._failed(Phase.PUSH, result, len(attempts))
        if self.fresh is not None:
            self.fresh.record(name)
        return Outcome(Status(Kind.BUILT), digest, len(attempts))

    def _pinned(self, name: str) -> bool:
        """Whether a child builds on `name` in this run, locally: it needs a pin tag."""
        fresh, h = self.fresh, self.requests.hierarchy
        if self.push:
            return False  # children are pinned to REPO@digest in the registry
        return fresh is None or any(
            c in fresh.inputs and c not in fresh.current for c in h.children(name)
        )

    def _up_to_date(
        self, name: str, on_line: Callable[[str], None], cancel: CancelToken
    ) -> Outcome:
        """Nothing to build: name the existing image as the release tags and the pin say
        (locally with `docker tag`, in the registry with a registry-side copy)."""
        assert self.fresh is not None
        fresh, h = self.fresh, self.requests.hierarchy
        target = h.spec.targets[name]
        digest = fresh.current[name]
        missing = fresh.missing_tags(name, image_names(target))
        if fresh.remote:
            if missing:
                source = key_tag(target, fresh.key(name))
                result = self.backend.copy(source, missing, on_line, cancel)
                if not result.ok:
                    return self._failed(Phase.PUSH, result, 1)
        else:
            pins = [pin_tag(target, digest)] if self._pinned(name) else []
            if missing or pins:
                self.backend.tag(digest, [*missing, *pins])
                self.leftovers.extend(pins)
        retagged = f"; re-tagged {', '.join(missing)}" if missing else ""
        where = " in the registry" if fresh.remote else ""
        on_line(f"up-to-date{where}: {digest} has key {fresh.key(name)}{retagged}")
        return Outcome(Status(Kind.UP_TO_DATE), digest, 0)

    @staticmethod
    def _failed(phase: Phase, result: BuildResult, attempts: int) -> Outcome:
        """No digest: a target whose test or push failed is nothing to build children on."""
        if result.cancelled:
            return Outcome(Status(Kind.CANCELLED, phase), None, attempts, result.log_tail)
        return Outcome(Status(Kind.FAILED, phase, result.reason), None, attempts, result.log_tail)
