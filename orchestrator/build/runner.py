"""One target, start to finish: build -> test -> release -> push, each phase retried on
transient errors only, with exponential backoff and jitter. How the build and test
stage run (in the session, or alone) is the builder's business; what names move and
when is decided here and in the plan."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from orchestrator.backend.base import Backend, BuildResult, OnLine
from orchestrator.backend.registry import RegistryUnreachable
from orchestrator.build.attempts import Attempts, RetryPolicy, failed
from orchestrator.build.gating import EarlyGates, Gater
from orchestrator.build.lineage import Lineage
from orchestrator.build.plan import Plan
from orchestrator.build.publish import Publication
from orchestrator.build.requests import RequestFactory
from orchestrator.build.sealing import MakeSeal, Sealer, sboms, signed_before
from orchestrator.build.tags import RunTags
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.events import LogLine, Started
from orchestrator.execution.executor import Emit, Outcome
from orchestrator.execution.status import GateResult, Kind, Phase, Status
from orchestrator.freshness.uptodate import record
from orchestrator.hierarchy.naming import image_names, key_tag, registry_pin
from orchestrator.spec.model import Target
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
    gater: Gater | None = None  # the gates on a built image; None: no target has any
    reports: Path = Path(".stackbake/reports")  # where the gates wrote their files
    early: EarlyGates | None = None  # gates a session started as it exported the images
    sealer: MakeSeal = Sealer  # signs a push
    # Before a release tag moves onto an image a run before pushed: is it signed?
    check_signed: Callable[[Target, str, OnLine, CancelToken], BuildResult] = signed_before

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
        gated = self._gates(name, built.digest, tries, on_line, cancel)
        if gated.status.kind is not Kind.BUILT:
            return gated
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
            for phase, step in self._publication(name, push, built, gated.gates):
                done = tries.run(phase, lambda step=step: step(on_line, cancel))  # type: ignore[misc]
                published = tuple(push.published)
                if not done.ok:
                    failure = tries.failed(phase, done)
                    return dataclasses.replace(failure, published=published, gates=gated.gates)
        record(self.state, name, fresh.inputs[name])
        return Outcome(
            Status(Kind.BUILT), built.digest, tries.count, published=published, gates=gated.gates
        )

    def _publication(
        self, name: str, push: Publication, built: BuildResult, gates: tuple[GateResult, ...]
    ) -> list[tuple[Phase, Callable[[OnLine, CancelToken], BuildResult]]]:
        """The push phase's steps: the tags pushed; for a signed target, first its key tag
        alone, then the signatures (phase `sign`), then the release tags."""
        target = self.factory.target(name)
        if target.sign is None:
            return [(Phase.PUSH, push.attempt)]
        if push.key_tag and built.digest:
            self.backend.tag(built.digest, [self.tags.own(push.key_tag)])
        keyed = push.key_tag or push.tags[0]  # a shard's one tag is its key tag
        seal = self.sealer(self.backend, target, sboms(gates, self.reports), keyed)
        return [
            (Phase.PUSH, push.push_first),
            (Phase.SIGN, lambda on_line, cancel: seal(push.source or "", on_line, cancel)),
            (Phase.PUSH, push.attempt),
        ]

    def _gates(
        self, name: str, digest: str | None, tries: Attempts, on_line: OnLine, cancel: CancelToken
    ) -> Outcome:
        """Every gate on every platform of the image just built (under its staging tag),
        before any name of it moves; BUILT when they all passed (or there are none)."""
        target = self.factory.target(name)
        if self.gater is None or not target.gates.on_image():
            return Outcome(Status(Kind.BUILT))
        tries.emit(Started(name, Phase.GATE, 1, self.clock()))
        image = self.tags.staging(target) if self.factory.mode.names_images else None
        early = self.early.take(name, digest, on_line, cancel) if self.early else None
        results = early if early is not None else self.gater(target, image, on_line, cancel)
        if cancel.cancelled:
            return Outcome(Status(Kind.CANCELLED, Phase.GATE, "cancelled"), None, tries.count)
        failures = [g for g in results if g.failed]
        if not failures:
            return Outcome(Status(Kind.BUILT), gates=results)
        first = failures[0]  # and the platforms where the same gate found the same
        alike = [g for g in failures if (g.gate, g.findings) == (first.gate, first.findings)]
        where = ", ".join(g.platform for g in alike if g.platform)
        reason = dataclasses.replace(first, platform=where or None).describe()
        others = len(failures) - len(alike)
        reason += f" (and {others} more)" if others else ""
        return Outcome(Status(Kind.FAILED, Phase.GATE, reason), None, tries.count, gates=results)

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
        if missing and fresh.remote and target.sign is not None:
            checked = self.check_signed(target, registry_pin(target, digest), on_line, cancel)
            if not checked.ok:
                return failed(Phase.SIGN, checked, 1)
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
