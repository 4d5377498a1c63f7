"""What `stackbake build` was asked to do: cheap to import, for the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.request import OutputMode

PROGRESS = ("auto", "tty", "plain", "quiet")


def default_jobs() -> int:
    """Two builds per core, 4 to 16: much of a build waits on the network or on RUN
    steps that sleep in I/O, and BuildKit shares the CPU among the builds it runs
    (measured in benchmarks/: -j 2 took 2x the wall time of -j 30 on a 2-core machine)."""
    return max(4, min(16, 2 * (os.cpu_count() or 2)))


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
    force: tuple[str, ...] = ()  # targets, groups or globs that build even when up to date
