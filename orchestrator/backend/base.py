"""The Backend protocol and the data it speaks: build requests and results."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.status import Phase
from orchestrator.spec.model import Secret

OnLine = Callable[[str], None]
Layers = dict[str, tuple[str, ...]]  # normalized platform -> its config's diff ids
TAIL = 30  # lines of a failed build's log kept with its result


@dataclass(frozen=True)
class BuildRequest:
    """One `docker buildx build` invocation, engine-neutral."""

    target: str
    phase: Phase
    context: Path
    dockerfile: Path
    stage: str | None = None
    args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()
    ssh: tuple[str, ...] = ()
    network: str | None = None
    no_cache: bool = False
    pull: bool = False
    builder: str | None = None
    contexts: Mapping[str, str] = field(default_factory=dict)  # named contexts: the pins
    # Named contexts that are other targets of the same session (context key -> target):
    # only a session can build these (bake's `target:` contexts).
    links: Mapping[str, str] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()  # empty: the engine's image store
    load: bool = False
    # Into the image store with file times clamped to SOURCE_DATE_EPOCH (see buildx.py).
    reproducible: bool = False
    log_file: Path | None = None


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    digest: str | None = None
    reason: str = ""  # one line: why it failed
    transient: bool = False  # worth retrying (registry 5xx/429, connection reset...)
    cancelled: bool = False
    log_tail: tuple[str, ...] = ()
    stale_cache: bool = False  # the engine's cache of a step is broken: retry without it


@dataclass(frozen=True)
class ImageInfo:
    digest: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteImage:
    """What a tag names in its registry: the digest, and the image of each platform."""

    digest: str
    platforms: Mapping[str, str] = field(default_factory=dict)  # "linux/amd64" -> digest


@dataclass(frozen=True)
class SessionFiles:
    """Where a session's own files go while it runs: the generated bake file, and the
    metadata file bake writes."""

    definition: Path
    metadata: Path


@dataclass(frozen=True)
class BuilderUse:
    """A builder a run builds on, for its pre-flight: a buildx builder (None: the current
    one) in a docker context (None: the current one), the platforms it must build, and
    what asks for it, for messages ("builders.linux/arm64 (builds.yaml:5)")."""

    builder: str | None
    context: str | None
    platforms: tuple[str, ...]
    purpose: str


class SessionSink(Protocol):
    """Where a session's output goes: each line (with the target it belongs to, if any)
    and each target's result as soon as it is known."""

    def line(self, target: str | None, line: str) -> None: ...

    def done(self, target: str, result: BuildResult) -> None: ...


class Backend(Protocol):
    def warm(self, builder: str | None, *, pins: bool) -> None:
        """Start finding out what `preflight` needs, in the background (a run that will
        probably build says so early); `pins`: children may be pinned locally."""
        ...

    def preflight(self, *, multi_platform: bool, builder: str | None, local_pins: bool) -> None:
        """Raise EngineError when the engine cannot do this run: unreachable, a
        multi-platform image to keep in a store that cannot hold one, or children to pin
        to unpushed parents on a builder that cannot see the engine's image store."""
        ...

    def check_builders(self, uses: Sequence[BuilderUse]) -> None:
        """Raise EngineError naming each of these builders that is missing, does not
        answer, or cannot build a platform it is given."""
        ...

    def in_context(self, context: str) -> Backend:
        """This backend, speaking to the engine of a docker context (a native node)."""
        ...

    def build(self, request: BuildRequest, on_line: OnLine, cancel: CancelToken) -> BuildResult:
        """Run one build; never raises for a failed build, only returns."""
        ...

    def bake(
        self,
        requests: Sequence[BuildRequest],
        sink: SessionSink,
        cancel: CancelToken,
        files: SessionFiles,
        primers: Sequence[BuildRequest] = (),
    ) -> None:
        """Run these builds in one session (a request's `links` name others of them);
        tell `sink` of each line and each result as it comes. Returns when the session
        ended; a target with no result was stopped by another's failure. `files`: where
        the session's own files go, removed when it ends. `primers`: builds that export
        nothing, started at once beside the session and stopped when it ends; their
        steps are the session's own (BuildKit joins them), so is their step output."""
        ...

    def push(
        self, target: str, tags: Sequence[str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        """Publish the local image under each tag to its registry."""
        ...

    def pull(
        self, refs: Sequence[str], platforms: Sequence[str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        """Fetch the newest image of each ref, for each platform, into the image store."""
        ...

    def tag(self, source: str, tags: Sequence[str]) -> None:
        """Give a local image more names (no pull, no push)."""
        ...

    def untag(self, tags: Sequence[str]) -> None:
        """Remove local names (the image stays while another name or a child uses it)."""
        ...

    def inspect(self, refs: Sequence[str]) -> dict[str, ImageInfo]:
        """The local images under these names (absent names are left out), in one call."""
        ...

    def lookup(self, refs: Sequence[str], *, wait_s: float = 0.0) -> dict[str, RemoteImage]:
        """These images as their registries have them (no pull), looked up in parallel;
        absent ones are left out. A registry that does not answer is asked again for up
        to `wait_s` seconds; then RegistryUnreachable (an EngineError)."""
        ...

    def copy(
        self, source: str, tags: Sequence[str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        """Give an image in a registry more tags, registry side (no pull, no build)."""
        ...

    def merge(
        self, sources: Sequence[str], tag: str, on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        """One index under `tag`, registry side, holding the platforms of every source
        (REPO@DIGEST each: per-platform builds), blobs mounted, none pulled."""
        ...

    def layers(self, digest: str, *, registry_ref: str | None = None) -> Layers:
        """The layers (diff ids) of each platform of the local image `digest`, or with
        `registry_ref` (REPO@DIGEST) of the registry's; the platforms this engine cannot
        show are left out."""
        ...
