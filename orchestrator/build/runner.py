"""One target, start to finish: build -> test -> release -> push, each phase retried on
transient errors only, with exponential backoff and jitter. How the build and test
stage run (in the session, or alone) is the builder's business; what names move and
when is decided here and in the plan."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.backend.base import Backend, BuildResult, OnLine
from orchestrator.backend.registry import RegistryUnreachable
from orchestrator.build.lineage import Lineage
from orchestrator.build.plan import Plan
from orchestrator.build.publish import Publication
from orchestrator.build.requests import RequestFactory
from orchestrator.build.tags import RunTags
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.events import LogLine, Retrying, Started
from orchestrator.execution.executor import Emit, Outcome
from orchestrator.execution.status import Kind, Phase, Status
from orchestrator.freshness.uptodate import record
from orchestrator.hierarchy.naming import image_names, key_tag, registry_pin
from orchestrator.state import StateDir


class Builder(Protocol):
    """How a target's build and test stage run: in the session, or alone."""

    def build(
        self,
        name: str,
        digests: Mapping[str, str],
        on_line: OnLine,
        cancel: CancelToken,
        *,
        clean: bool = False,
    ) -> BuildResult:
        """The main build; `clean`: without the cache of the target's own steps."""
        ...

    def test(
        self, name: str, digests: Mapping[str, str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult: ...


# How often, at most, a shard asks the registry for a parent another shard builds: a
# lookup costs milliseconds (backend/manifests.py), and a parent found late delays every
# target below it.
POLL_CAP_S = 2.0


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


@dataclass
class TargetRunner:
    plan: Plan
    builder: Builder
    backend: Backend
    factory: RequestFactory
    tags: RunTags
    state: StateDir
    lineage: Lineage
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = time.time

    def __call__(
        self, name: str, emit: Emit, cancel: CancelToken, digests: Mapping[str, str]
    ) -> Outcome:
        """Build (into a staging tag, unless the build may name the image itself), test,
        then release (and push) the tags. Release tags move only once the test stage
        passed, so a failing target never replaces the image a tag named before."""

        def on_line(line: str) -> None:
            emit(LogLine(name, line))

        if name not in self.plan.session:  # the session starts its targets' logs
            self.state.new_log(name)
        fresh, tries = self.plan.fresh, Attempts(name, emit, cancel, self.retry, self.clock)
        if name in self.plan.elsewhere:
            return self._from_elsewhere(name, on_line, cancel)
        if name in fresh.up_to_date:
            return self._up_to_date(name, on_line, cancel)
        on_line(f"building: {'; '.join(fresh.reasons(name))}")
        built = self._build(name, digests, tries, on_line, cancel)
        if not built.ok:
            return tries.failed(Phase.BUILD, built)
        if self.factory.target(name).test:
            tested = tries.run(
                Phase.TEST, lambda: self.builder.test(name, digests, on_line, cancel)
            )
            if not tested.ok:
                return tries.failed(Phase.TEST, tested)
        release = self.factory.release_names(name)
        key = self.factory.key_tag(name)
        if self.factory.mode.key_only and key:  # pushed under its key tag alone
            release = [self.tags.own(key)]
            key = None
        if built.digest and name not in self.plan.named_by_build:
            self.backend.tag(built.digest, release)
        published: tuple[str, ...] = ()
        if self.factory.mode.pushes:
            source = registry_pin(self.factory.target(name), built.digest or "")
            push = Publication(self.backend, name, release, key, source)
            pushed = tries.run(Phase.PUSH, lambda: push.attempt(on_line, cancel))
            published = tuple(push.published)
            if not pushed.ok:
                return dataclasses.replace(tries.failed(Phase.PUSH, pushed), published=published)
        record(self.state, name, fresh.inputs[name])
        return Outcome(Status(Kind.BUILT), built.digest, tries.count, published=published)

    def _build(
        self,
        name: str,
        digests: Mapping[str, str],
        tries: Attempts,
        on_line: OnLine,
        cancel: CancelToken,
    ) -> BuildResult:
        """The build phase, and the lineage of its image: on every platform it must sit
        on the parent of this run, else it is built again without its steps' cache, and
        fails if that does not mend it."""
        clean = False

        def attempt() -> BuildResult:  # after a stale cache, the next one goes without it
            nonlocal clean
            result = self.builder.build(name, digests, on_line, cancel, clean=clean)
            if result.stale_cache and not clean:
                on_line("the engine lost a cached step's snapshot: trying again without its cache")
                clean = True
            return result

        built = tries.run(Phase.BUILD, attempt)
        if not built.ok:
            return built
        verdict = self.lineage.check(name, built.digest, digests)
        if verdict.broken:
            on_line(f"{verdict.describe()}: building it again, without its steps' cache")
            built = tries.run(
                Phase.BUILD,
                lambda: self.builder.build(name, digests, on_line, cancel, clean=True),
            )
            if not built.ok:
                return built
            verdict = self.lineage.check(name, built.digest, digests)
            if verdict.broken:
                return BuildResult(False, reason=verdict.describe())
        if verdict.unchecked:
            on_line(verdict.describe())
        return built

    def _from_elsewhere(self, name: str, on_line: OnLine, cancel: CancelToken) -> Outcome:
        """A parent another shard builds: its image, by its key tag in the registry, once
        it is there (asked again every second or two, for up to --wait seconds)."""
        fresh, target = self.plan.fresh, self.factory.target(name)
        keyed = key_tag(target, fresh.key(name))
        since, delay, limit = self.retry.now(), 1.0, self.plan.options.wait_s
        while True:
            found = fresh.up_to_date.get(name) or self._in_registry(keyed)
            if found:
                on_line(f"up-to-date in the registry: {found} (built by another shard)")
                return Outcome(Status(Kind.UP_TO_DATE), found, 0)
            waited = self.retry.now() - since
            if waited >= limit:
                how = f"after waiting {waited:.0f} s" if limit else "(--wait 0)"
                reason = (
                    f"{name} is built by another shard and {keyed} is not in the registry "
                    f"{how}; check that shard, or give it longer with --wait SECONDS"
                )
                return Outcome(Status(Kind.FAILED, Phase.WAIT, reason), None, 1)
            on_line(f"waiting for {keyed} from another shard ({waited:.0f} s of {limit:.0f} s)")
            if cancel.event.wait(min(delay, limit - waited)):
                return Outcome(Status(Kind.CANCELLED, Phase.WAIT, "cancelled"), None, 1)
            delay = min(delay * 1.5, POLL_CAP_S)

    def _in_registry(self, ref: str) -> str | None:
        """The digest `ref` names now; a registry that does not answer is "not yet"
        (the wait goes on, and can be cancelled between two questions)."""
        try:
            image = self.backend.lookup([ref]).get(ref)
        except RegistryUnreachable:
            return None
        return image.digest if image else None

    def _up_to_date(self, name: str, on_line: OnLine, cancel: CancelToken) -> Outcome:
        """Nothing to build: the existing image gets the release tags it lacks (locally
        with `docker tag`, in the registry with a registry-side copy)."""
        fresh, target = self.plan.fresh, self.factory.target(name)
        digest = fresh.up_to_date[name]
        missing = (
            [] if self.factory.mode.key_only else fresh.missing_tags(name, image_names(target))
        )
        if missing and fresh.remote:
            copied = self.backend.copy(key_tag(target, fresh.key(name)), missing, on_line, cancel)
            if not copied.ok:
                return failed(Phase.PUSH, copied, 1)
        elif missing:
            self.backend.tag(digest, missing)
        retagged = f"; re-tagged {', '.join(missing)}" if missing else ""
        where = " in the registry" if fresh.remote else ""
        on_line(f"up-to-date{where}: {digest} has key {fresh.key(name)}{retagged}")
        return Outcome(Status(Kind.UP_TO_DATE), digest, 0)
