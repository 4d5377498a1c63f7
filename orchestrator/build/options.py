"""What `stackbake build` was asked to do: cheap to import, for the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.build.requests import OutputMode

PROGRESS = ("auto", "tty", "plain", "quiet")


def default_jobs() -> int:
    """Sixteen `docker buildx build` clients per core, 8 to 32, for targets built one
    by one (--per-target; a session has one client). -j bounds client processes (~25 MB
    each), not CPU: BuildKit runs the steps of every build it has and shares the CPU
    among them, as it does for bake, which has no limit at all. Much of a tree's wall
    time is latency (a client's start-up, a parent's export), so few clients leave the
    engine idle: on the 30-target benchmark on 2 cores, -j 4 took 2.2x bake's cold time
    and -j 32 1.5x."""
    return max(8, min(32, 16 * (os.cpu_count() or 2)))


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
    per_target: bool = False  # one `docker buildx build` per target, no shared session
