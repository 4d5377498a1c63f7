"""The gates in a build: after a target's test stage, every gate on every platform of
its image (still under its staging tag), before any of its names moves. The gates of
one target run on its own worker thread, while other targets build.

In a session, a target's gates start as soon as the session exported its image
(`EarlyGates`), not once its parents passed theirs: the gates of a chain of targets
run side by side rather than one after the other. The runner takes those results when
its image is the one they looked at (same digest), and otherwise runs the gates itself
(an image built again, alone, after the session)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.backend.base import BuildResult, OnLine
from orchestrator.build.options import BuildOptions
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.status import GateResult
from orchestrator.gates.run import run_gates
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hierarchy.naming import image_names
from orchestrator.refs import host_platform, parse_ref
from orchestrator.spec.model import Target


class Gater(Protocol):
    def __call__(
        self, target: Target, image: str | None, on_line: OnLine, cancel: CancelToken
    ) -> tuple[GateResult, ...]:
        """Every gate of `target` on every platform of `image` (a name in the engine's
        store; None: the run's output is no image there, so no gate can look at it)."""
        ...


@dataclass(frozen=True)
class ImageGates:
    """The real gates: `gates/run.py` on the engine's store, each of the target's
    platforms (those of this run: a per-platform part gates its own)."""

    hierarchy: Hierarchy
    skip: frozenset[str]
    reports: Path
    platforms: tuple[str, ...] = ()  # --platform: only these
    environ: Mapping[str, str] | None = None
    registry: bool = False  # the image is a registry reference (`check --push`)

    def __call__(
        self, target: Target, image: str | None, on_line: OnLine, cancel: CancelToken
    ) -> tuple[GateResult, ...]:
        own = target.platforms or (host_platform(),)  # none written: the engine's own
        platforms = [p for p in own if not self.platforms or p in self.platforms]
        if image is None:
            why = "the run's --output puts no image in the store"
            return tuple(
                GateResult(g, p, True, skipped=why)
                for p in platforms
                for g in target.gates.on_image()
            )
        parents = [n for p in self.hierarchy.parents(target.name) for n in self._names(p)]
        return run_gates(
            parse_ref(image),
            target,
            platforms,
            registry=self.registry,
            skip=self.skip,
            reports=self.reports,
            parents=parents,
            on_line=on_line,
            cancel=cancel,
            environ=self.environ,
        )

    def _names(self, parent: str) -> tuple[str, ...]:
        return image_names(self.hierarchy.spec.targets[parent])


def default_gater(
    h: Hierarchy, selected: Sequence[str], options: BuildOptions, reports: Path
) -> Gater | None:
    """The real gates, when a selected target has gates on its image."""
    if not any(h.spec.targets[n].gates.on_image() for n in selected):
        return None
    return ImageGates(h, frozenset(options.skip_gates), reports, options.platforms)


class EarlyGates:
    """Gates started when the session reports an image exported; taken by the runner."""

    WORKERS = 4  # targets gated at once (each runs its platforms at once too)

    def __init__(
        self, gater: Gater, targets: Mapping[str, Target], staging: Callable[[Target], str]
    ) -> None:
        self.gater, self.targets, self.staging = gater, targets, staging
        self._pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="early-gates")
        self._lock = threading.Lock()
        self._started: dict[str, _Started] = {}
        self._closed = False

    def exported(self, name: str, result: BuildResult) -> None:
        """The session's result for `name`: its image, if built, gated from now on."""
        target = self.targets.get(name)
        if not result.ok or not result.digest or target is None or not target.gates.on_image():
            return
        with self._lock:
            if self._closed or name in self._started:
                return
            started = _Started(result.digest, CancelToken(), [])
            image = self.staging(target)
            started.future = self._pool.submit(
                self.gater, target, image, started.lines.append, started.cancel
            )
            self._started[name] = started

    def take(
        self, name: str, digest: str | None, on_line: OnLine, cancel: CancelToken
    ) -> tuple[GateResult, ...] | None:
        """The results of the gates started for `name`'s image `digest` (waited for,
        their lines passed on), or None: none were started for that image."""
        with self._lock:
            started = self._started.pop(name, None)
        if started is None or started.future is None:
            return None
        if started.digest != digest:
            started.cancel.cancel()
            return None
        cancel.on_cancel(started.cancel.cancel)
        try:
            results = started.future.result()
        except CancelledError:  # closed before it ran
            return None
        for line in started.lines:
            on_line(line)
        return results

    def close(self) -> None:
        """After the run: what is still gating is stopped (an interrupted run)."""
        with self._lock:
            self._closed = True
            left = list(self._started.values())
        for started in left:
            started.cancel.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Started:
    digest: str
    cancel: CancelToken
    lines: list[str]
    future: Future[tuple[GateResult, ...]] | None = None
