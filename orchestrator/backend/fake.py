"""A recording fake backend for scheduler and runner tests: scripted outcomes, no engine."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.backend.base import (
    BuilderUse,
    BuildRequest,
    BuildResult,
    ImageInfo,
    Layers,
    OnLine,
    SessionFiles,
    SessionSink,
)
from orchestrator.backend.failures import failure
from orchestrator.backend.fake_registry import FakeRegistry, fake_digest
from orchestrator.errors import EngineError
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.status import Phase
from orchestrator.refs import normalize_platform

STALE_EXPORT = (  # what BuildKit says when a cached step's snapshot is gone
    "ERROR: failed to solve: failed to commit x1 to x2 during finalize: failed to stat "
    "active key during commit: snapshot x1 does not exist: not found"
)


@dataclass(frozen=True)
class Script:
    """What one attempt does: succeed, fail (transiently or not), or hang until cancelled."""

    outcome: str = "ok"  # ok | fail | transient | stale | hang
    seconds: float = 0.0
    lines: tuple[str, ...] = ()


@dataclass
class FakeBackend(FakeRegistry):
    # (target, phase) -> scripts for attempt 1, 2, ...; the last one repeats.
    scripts: dict[tuple[str, Phase], list[Script]] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)  # (op, target, attempt)
    requests: list[BuildRequest] = field(default_factory=list)
    primed: list[BuildRequest] = field(default_factory=list)  # a session's head starts
    images: dict[str, str] = field(default_factory=dict)  # local store: ref -> digest
    registry: dict[str, str] = field(default_factory=dict)  # remote: ref -> digest
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # digest -> labels
    platforms: dict[str, dict[str, str]] = field(default_factory=dict)  # digest -> per platform
    down: set[str] = field(default_factory=set)  # registry hosts that do not answer
    stacks: dict[str, Layers] = field(default_factory=dict)  # digest -> layers per platform
    stale: set[str] = field(default_factory=set)  # targets built on stale layers from cache
    engine: str = ""  # another name: other digests (two engines never build one alike)
    missing: set[str] = field(default_factory=set)  # builders and contexts that are not there
    contexts: dict[str, FakeBackend] = field(default_factory=dict)  # by in_context
    _lock: threading.Lock = field(default_factory=threading.Lock)
    started: threading.Event = field(default_factory=threading.Event)

    def warm(self, builder: str | None, *, pins: bool) -> None:
        self.calls.append(("warm", builder or "", 1))

    def preflight(self, *, multi_platform: bool, builder: str | None, local_pins: bool) -> None:
        self.calls.append(("preflight", f"multi={multi_platform},local_pins={local_pins}", 1))

    def check_builders(self, uses: Sequence[BuilderUse]) -> None:
        self.calls.append(("check_builders", ",".join(u.purpose for u in uses), 1))
        wrong = [
            f"{u.purpose}: {name!r} not found"
            for u in uses
            for name in (u.context, u.builder)
            if name in self.missing
        ]
        if wrong:
            raise EngineError("; ".join(wrong))

    def in_context(self, context: str) -> FakeBackend:
        """Another engine sharing this one's registry (its store is its own)."""
        with self._lock:
            if context not in self.contexts:
                self.contexts[context] = FakeBackend(
                    scripts=self.scripts,
                    registry=self.registry,
                    labels=self.labels,
                    platforms=self.platforms,
                    down=self.down,
                    stacks=self.stacks,
                    engine=context,
                    missing=self.missing,
                    _lock=self._lock,
                )
            return self.contexts[context]

    def script(self, target: str, phase: Phase, *scripts: Script) -> None:
        self.scripts[(target, phase)] = list(scripts)

    def _attempt(self, op: str, target: str) -> int:
        with self._lock:
            attempt = 1 + sum(1 for o, t, _ in self.calls if (o, t) == (op, target))
            self.calls.append((op, target, attempt))
            return attempt

    def _play(
        self,
        target: str,
        phase: Phase,
        attempt: int,
        on_line: OnLine,
        cancel: CancelToken,
        *,
        salt: str = "",
    ) -> BuildResult:
        scripts = self.scripts.get((target, phase), [Script()])
        script = scripts[min(attempt, len(scripts)) - 1]
        self.started.set()
        for line in script.lines:
            on_line(line)
        if script.outcome == "hang":
            cancel.event.wait()
        elif script.seconds:
            cancel.event.wait(script.seconds)
        if cancel.cancelled:
            return BuildResult(False, reason="cancelled", cancelled=True)
        if script.outcome == "fail":
            return BuildResult(
                False,
                reason=f"{target}: exit code 1",
                log_tail=(*script.lines, "ERROR: exit code 1"),
            )
        if script.outcome == "stale":  # the engine lost a cached step's snapshot
            return failure([STALE_EXPORT])
        if script.outcome == "transient":
            return BuildResult(
                False,
                reason="503 Service Unavailable",
                transient=True,
                log_tail=("ERROR: 503 Service Unavailable",),
            )
        return BuildResult(True, digest=fake_digest(f"{target}/{phase}{self.engine}{salt}"))

    def build(self, request: BuildRequest, on_line: OnLine, cancel: CancelToken) -> BuildResult:
        assert not request.links, "a request linked to other targets needs a session"
        op = "build" if request.phase is Phase.BUILD else "test"
        attempt = self._attempt(op, request.target)
        with self._lock:
            self.requests.append(request)
            if op == "build":  # a build after a session: its scripts continue
                attempt += sum(1 for o, t, _ in self.calls if (o, t) == ("bake", request.target))
        # A build of some platforms only (a farm's part, a per-platform shard) is another
        # image: its own digest, as an engine gives it.
        salt = "/" + ",".join(request.platforms) if len(request.platforms) == 1 else ""
        result = self._play(request.target, request.phase, attempt, on_line, cancel, salt=salt)
        if result.ok and request.phase is Phase.BUILD:
            self._store(request, result)
        return result

    def _store(self, request: BuildRequest, result: BuildResult) -> None:
        with self._lock:
            for tag in request.tags:
                self.images[tag] = result.digest or ""
            self.labels[result.digest or ""] = dict(request.labels)
            self.stacks[result.digest or ""] = self._stack(request, result.digest or "")
            self.platforms.setdefault(
                result.digest or "",
                {
                    normalize_platform(p): fake_digest(f"{result.digest}/{p}")
                    for p in request.platforms or ("linux/amd64",)
                },
            )

    def _stack(self, request: BuildRequest, digest: str) -> Layers:
        """The layers of a build: its parent's (the first context or link that is an image
        built here), then one of its own; a `stale` target's build, unless without its
        cache, sits on layers no parent has (a content-based cache hit on an old parent)."""
        parent: Layers = {}
        for source in (*request.contexts.values(), *request.links.values()):
            ref = source.removeprefix("docker-image://")
            found = ref.partition("@")[2] or self.images.get(ref) or fake_digest(f"{ref}/build")
            if found in self.stacks:
                parent = self.stacks[found]
                break
        own = f"layer:{request.target}:{digest}"
        stale = request.target in self.stale and not request.no_cache
        return {
            normalize_platform(p): ("stale-layer", own)
            if stale
            else (*parent.get(normalize_platform(p), ()), own)
            for p in request.platforms or ("linux/amd64",)
        }

    def layers(self, digest: str, *, registry_ref: str | None = None) -> Layers:
        with self._lock:
            self.calls.append(("layers", registry_ref or digest, 1))
            return dict(self.stacks.get(digest, {}))

    def bake(
        self,
        requests: Sequence[BuildRequest],
        sink: SessionSink,
        cancel: CancelToken,
        files: SessionFiles,
        primers: Sequence[BuildRequest] = (),
    ) -> None:
        """One target after the other, in the order given (the session's), as bake
        would: the first failure ends the session, the targets after it get nothing.
        Primers are recorded, with no script of their own."""
        for primer in primers:
            self._attempt("prime", primer.target)
            with self._lock:
                self.primed.append(primer)
        for request in requests:
            with self._lock:
                self.requests.append(request)
                self.calls.append(("bake", request.target, 1))
                calls = [t for o, t, _ in self.calls if o in ("build", "bake")]
            name = request.target

            def on_line(line: str, name: str = name) -> None:
                sink.line(name, line)

            result = self._play(name, Phase.BUILD, calls.count(name), on_line, cancel)
            if result.cancelled:
                return
            if result.ok:
                self._store(request, result)
            sink.done(name, result)
            if not result.ok:
                return

    def push(
        self, target: str, tags: Sequence[str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        attempt = self._attempt("push", target)
        result = self._play(target, Phase.PUSH, attempt, on_line, cancel)
        if result.ok:
            with self._lock:
                for tag in tags:
                    self.registry[tag] = self.images.get(tag, "")
        return result

    def pull(
        self, refs: Sequence[str], platforms: Sequence[str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        with self._lock:
            for ref in refs:
                self.calls.append(("pull", f"{ref} {','.join(platforms)}", 1))
        return BuildResult(True)

    def tag(self, source: str, tags: Sequence[str]) -> None:
        with self._lock:
            self.calls.append(("tag", source, 1))
            for tag in tags:
                digest = source if source.startswith("sha256:") else ""
                self.images[tag] = self.images.get(source, digest)

    def untag(self, tags: Sequence[str]) -> None:
        with self._lock:
            for tag in tags:
                self.calls.append(("untag", tag, 1))
                self.images.pop(tag, None)

    def inspect(self, refs: Sequence[str]) -> dict[str, ImageInfo]:
        with self._lock:
            self.calls.append(("inspect", ",".join(refs), 1))
            return {
                r: ImageInfo(self.images[r], self.labels.get(self.images[r], {}))
                for r in refs
                if r in self.images
            }
