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
from orchestrator.build.requests import RequestFactory, image_names, key_tag, pin_tag, staging_tag
from orchestrator.build.session import Session
from orchestrator.execution.events import LogLine, Retrying, Started
from orchestrator.execution.executor import Emit, Outcome
from orchestrator.execution.status import Kind, Phase, Status
from orchestrator.freshness.uptodate import Freshness


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
    session: Session | None = None  # the targets that build together (see session.py)

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

        in_session = self.session is not None and name in self.session
        if not in_session:  # a session writes its targets' logs from its start
            self._new_log(name)

        if self.fresh is not None:
            if name in self.fresh.current:
                return self._up_to_date(name, on_line, cancel)
            on_line(f"building: {'; '.join(self.fresh.reasons(name))}")
        staging = staging_tag(target, uuid.uuid4().hex[:12])
        # Without a test stage the build itself names the image with its release tags
        # (and, pushing, its key tag): no `docker tag` per tag afterwards. With one, they
        # move only once the test stage passed.
        release = self.requests.release_names(name, self.fresh.key(name) if self.fresh else None)
        keyed = release[len(image_names(target)) :]
        direct = not target.test and self.requests.names_images()
        request = self.requests.build(
            name, digests, staging.rsplit("-", 1)[1], release if direct else []
        )
        if request.pull and request.contexts and not self.push:
            failed = self._prefetch(name, on_line, cancel, phase)
            if failed is not None:
                return self._failed(Phase.BUILD, failed, len(attempts))
            request = dataclasses.replace(request, pull=False)

        def alone() -> BuildResult:
            self.leftovers.append(staging)  # children may build on it: removed after the run
            return self.backend.build(request, on_line, cancel)

        build, by_session = alone, [False]
        if in_session:
            build = self._session_first(
                name, digests=digests, on_line=on_line, cancel=cancel, alone=alone, by=by_session
            )
        result = phase(Phase.BUILD, build)
        if not result.ok:
            return self._failed(Phase.BUILD, result, len(attempts))
        digest = result.digest
        if by_session[0]:  # named as the session named it
            direct = self.session is not None and name in self.session.direct
        # A session links children to their parents: no pin (see _pin_parents).
        pins = [pin_tag(target, digest)] if digest and not in_session and self._pinned(name) else []
        if digest and pins:
            # Children are pinned to this name (see request.pin): nothing else moves it.
            self.backend.tag(digest, pins)
            self.leftovers.extend(pins)
        if target.test:
            if in_session:
                self._pin_parents(name, digests)
            test = self.requests.test(name, digests)
            result = phase(Phase.TEST, lambda: self.backend.build(test, on_line, cancel))
            if not result.ok:
                self.backend.untag([staging, *pins])
                return self._failed(Phase.TEST, result, len(attempts))
        if digest and not direct:
            self.backend.tag(digest, release)
        if self.push:
            # The key tag says "this key is published": it is pushed last.
            result = phase(Phase.PUSH, lambda: self.backend.push(name, release, on_line, cancel))
            self.leftovers.extend(keyed)
            if not result.ok:
                return self._failed(Phase.PUSH, result, len(attempts))
        if self.fresh is not None:
            self.fresh.record(name)
        return Outcome(Status(Kind.BUILT), digest, len(attempts))

    def _prefetch(
        self,
        name: str,
        on_line: Callable[[str], None],
        cancel: CancelToken,
        phase: Callable[[Phase, Callable[[], BuildResult]], BuildResult],
    ) -> BuildResult | None:
        """BuildKit's --pull would look for the local pins in a registry too: fetch the
        external bases here instead (the build then runs without --pull). Locked bases
        are pinned by digest: nothing newer to fetch for them. The failure, if any."""
        externals = self.requests.hierarchy.externals.get(name, [])
        bases = sorted({e.ref for e in externals if e.normalized not in self.requests.locked})
        if not bases:
            return None
        platforms = self.requests.hierarchy.spec.targets[name].platforms
        on_line(f"pulling {', '.join(bases)} (--pull, with parents built in this run)")
        result = phase(Phase.BUILD, lambda: self.backend.pull(bases, platforms, on_line, cancel))
        return None if result.ok else result

    def _new_log(self, name: str) -> None:
        log = self.requests.logs / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("", encoding="utf-8")

    def _session_first(
        self,
        name: str,
        *,
        digests: Mapping[str, str],
        on_line: Callable[[str], None],
        cancel: CancelToken,
        alone: Callable[[], BuildResult],
        by: list[bool],
    ) -> Callable[[], BuildResult]:
        """The build phase of a session's target: the session's result first; a target
        the session did not finish, or a retry, builds alone, pinned to its parents."""
        asked = [False]

        def build() -> BuildResult:
            if not asked[0]:
                asked[0] = True
                assert self.session is not None
                got = self.session.wait(name, on_line, cancel)
                if got is not None:
                    by[0] = got.ok
                    return got
                on_line("the session stopped before this target was built: building it alone")
            self._pin_parents(name, digests)
            return alone()

        return build

    def _pin_parents(self, name: str, digests: Mapping[str, str]) -> None:
        """Pin tags for the parents a session built (it made none): a build of `name`
        on its own, or its test stage, is pinned to them by digest (see request.pin)."""
        h = self.requests.hierarchy
        if self.push:
            return  # pinned to REPO@digest in the registry
        for parent in h.parents(name):
            if parent in digests:
                pin = pin_tag(h.spec.targets[parent], digests[parent])
                self.backend.tag(digests[parent], [pin])
                self.leftovers.append(pin)

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
            # With a session every target that builds is in it, and it made the pins of
            # the parents outside it when it started (Session.pins).
            pinned = self._pinned(name) and self.session is None
            pins = [pin_tag(target, digest)] if pinned else []
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
