"""The gates in a build: after a target's test stage, every gate on every platform of
its image (still under its staging tag), before any of its names moves. The gates of
one target run on its own worker thread, while other targets build."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.backend.base import OnLine
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
            skip=self.skip,
            reports=self.reports,
            parents=parents,
            on_line=on_line,
            cancel=cancel,
            environ=self.environ,
        )

    def _names(self, parent: str) -> tuple[str, ...]:
        return image_names(self.hierarchy.spec.targets[parent])
