"""What `stackbake build` was asked to do: cheap to import, for the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.request import OutputMode

PROGRESS = ("auto", "tty", "plain", "quiet")


def default_jobs() -> int:
    """BuildKit parallelises inside a build too: one build per core, 2 to 8."""
    return max(2, min(8, os.cpu_count() or 2))


@dataclass(frozen=True)
class BuildOptions:
    targets: tuple[str, ...] = ()
    with_dependents: bool = False
    mode: OutputMode = field(default_factory=OutputMode)
    jobs: int = field(default_factory=default_jobs)
    fail_fast: bool = False
    retries: int = 2
    retry_base_s: float = 1.0
    progress: str = "auto"
    report: Path | None = None
    junit: Path | None = None
