"""What `stackbake build` was asked to do, and where its images go: plain data, cheap to
import (the command line builds these before anything heavy is loaded)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import UsageError

PROGRESS = ("auto", "tty", "plain", "quiet")
SPLITS = ("targets", "platforms")  # how CI shards are cut (build/shards.py)
IMAGE_OUTPUTS = ("image", "registry", "docker")  # exporters that leave an image to pin


def default_jobs() -> int:
    """Sixteen `docker buildx build` clients per core, 8 to 32, for targets built one
    by one (--per-target; a session has one client). -j bounds client processes (~25 MB
    each), not CPU: BuildKit runs the steps of every build it has and shares the CPU
    among them, as it does for bake, which has no limit at all. Much of a tree's wall
    time is latency (a client's start-up, a parent's export), so few clients leave the
    engine idle: on the 30-target benchmark on 2 cores, -j 4 took 2.2x bake's cold time
    and -j 32 1.5x."""
    return max(8, min(32, 16 * (os.cpu_count() or 2)))


def output_attrs(output: str) -> dict[str, str]:
    """A buildx `--output` spec as its attributes (`type=local,dest=out`)."""
    return dict(p.partition("=")[::2] for p in output.split(","))


def output_kind(output: str) -> str:
    """The exporter a buildx `--output` spec names (`type=local,dest=out` -> `local`)."""
    return output_attrs(output).get("type", "")


def _publishes(output: str) -> bool:
    attrs = output_attrs(output)
    return attrs.get("type") == "registry" or attrs.get("push", "").lower() == "true"


@dataclass(frozen=True)
class OutputMode:
    """Where built images go (`--push`, `--load`, `--output`) and how they are built."""

    push: bool = False
    load: bool = False
    outputs: tuple[str, ...] = ()
    no_cache: bool = False
    pull: bool = False
    builder: str | None = None
    # A shard or a per-platform build: pushed by digest under its key tag only, never
    # moving a release tag (`stackbake publish` does that once every part is there).
    key_only: bool = False

    @property
    def pushes(self) -> bool:
        """--push, or an --output that publishes (type=registry, push=true)."""
        return self.push or self.key_only or any(_publishes(o) for o in self.outputs)

    def local_outputs(self) -> tuple[str, ...]:
        """The outputs with publishing taken out: stackbake pushes itself, after tests."""
        out = []
        for output in self.outputs:
            attrs = [list(p.partition("=")[::2]) for p in output.split(",")]
            for pair in attrs:
                if pair == ["type", "registry"]:
                    pair[1] = "image"
                elif pair[0] == "push":
                    pair[1] = "false"
            out.append(",".join(f"{k}={v}" for k, v in attrs))
        return tuple(out)

    @property
    def names_images(self) -> bool:
        """Whether builds land as images in the store, where `--tag` names them."""
        return all(output_kind(o) in ("image", "docker") for o in self.local_outputs())


@dataclass(frozen=True)
class BuildOptions:
    targets: tuple[str, ...] = ()
    with_dependents: bool = False
    mode: OutputMode = field(default_factory=OutputMode)
    jobs: int = field(default_factory=default_jobs)
    fail_fast: bool = False
    retries: int | None = None  # None: as many as the time budget allows
    retry_timeout_s: float = 60.0  # how long a phase's transient errors are retried
    retry_base_s: float = 1.0
    progress: str = "auto"
    report: Path | None = None
    junit: Path | None = None
    force: tuple[str, ...] = ()  # targets, groups or globs that build even when up to date
    per_target: bool = False  # one `docker buildx build` per target, no shared session
    no_wait: bool = False  # another run holds the folder: end at once, do not wait
    shard: tuple[int, int] | None = None  # (K, N): build shard K of N (build/shards.py)
    split: str = "targets"  # how the shards are cut: by targets or by platforms
    everything: bool = False  # the shards of `matrix --all`: up-to-date targets placed too
    durations: tuple[Path, ...] = ()  # what the partition weighs (build/shards.py)
    platforms: tuple[str, ...] = ()  # --platform: build only these of each target's
    wait_s: float = 0.0  # how long a shard waits for parents other shards build
    ordered: bool = False  # the shards of `matrix --ordered`
    atomic: bool = False  # --push --atomic: release tags move once every target passed
    part: str = ""  # one platform's part of a farm (build/farm.py), its builders checked
    skip_gates: tuple[str, ...] = ()  # --skip-gate: bypassed, and said so in every report
    reports: Path | None = None  # where gates write their files (SBOMs); None: .stackbake/reports


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` -> (K, N), 1 <= K <= N."""
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise UsageError(f"--shard {text!r}: write K/N with 1 <= K <= N, for example 2/3")
    return int(k), int(n)
