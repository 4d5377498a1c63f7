"""A run spread over builders (`builders:` in the spec): one part per platform, all at
the same time, each on the builder or docker context its platform maps to.

1. check: every builder the run uses answers and builds the platforms it is given,
   before any part starts (backend/builders.py); the base lock is completed once.
2. parts: each part is `build --platform P` on its place: built and pushed by digest
   under its keys only (the registry is all the builders share), children pinned to
   their parents' digests of the same platform. Each part's lines are prefixed with its
   platform; its logs are its own (`.stackbake/logs/PLATFORM/`), and so are its reports
   (`report-PLATFORM.json`).
3. merge: when every part passed, each target's platforms merged into one index under
   its key (build/promotion.py); with --push, then every release tag moved at once (all
   or nothing). A part that failed: nothing merged, no release tag moved.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from orchestrator.backend.base import Backend
from orchestrator.bases.lockfile import Lock
from orchestrator.bases.resolution import complete_lock
from orchestrator.build.builders import Place, check_farm, uses
from orchestrator.build.options import BuildOptions
from orchestrator.build.promotion import run_publish
from orchestrator.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError
from orchestrator.hierarchy.project import Project
from orchestrator.state import StateDir

Part = Callable[[BuildOptions, Backend, StateDir, IO[str], Lock], int]  # one part's build


class Prefixed:
    """A stream whose every line starts with `prefix`; lines of parts never mix."""

    def __init__(self, stream: IO[str], prefix: str, lock: threading.Lock) -> None:
        self.stream, self.prefix, self.lock = stream, prefix, lock
        self.pending = ""

    def write(self, text: str) -> int:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        if lines:
            with self.lock:
                self.stream.write("".join(f"{self.prefix}{line}\n" for line in lines))
                self.stream.flush()
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.write("\n")

    def isatty(self) -> bool:
        return False


def slug(platform: str) -> str:
    return platform.replace("/", "-")


def _suffixed(path: Path | None, platform: str) -> Path | None:
    return path.with_name(f"{path.stem}-{slug(platform)}{path.suffix}") if path else None


def platforms_of(farm: Mapping[Place, list[str]]) -> list[str]:
    """Every platform the farm builds, place by place."""
    return [p for platforms in farm.values() for p in platforms]


def run_farm(
    project: Project,
    options: BuildOptions,
    backend: Backend,
    farm: Mapping[Place, list[str]],
    *,
    selected: Sequence[str],
    stream: IO[str],
    lock: Lock | None,
    part: Part,
) -> int:
    """The farm's check, parts and merge (see the module docstring). `options`: the
    run's, as it was asked (each part is cut from them again: a shard's part works out
    its shard); `selected`: the targets the parts build between them."""
    every = platforms_of(farm)
    check(project, options, backend, farm, selected=selected, stream=stream)
    locked = lock or complete_lock(project.hierarchy, backend, list(selected), stream)
    codes = run_parts(project, options, backend, farm, stream=stream, locked=locked, part=part)
    failed = [p for p in every if codes.get(p, EXIT_INTERRUPTED) != EXIT_OK]
    if failed:
        stream.write(
            f"builders: {', '.join(failed)} did not build; nothing merged, no release tag "
            "moved; fix it and build again (what was pushed is reused)\n"
        )
        return max(codes.get(p, EXIT_INTERRUPTED) for p in failed)
    if options.shard is not None or options.platforms:  # `publish` merges the shards
        return EXIT_OK
    return run_publish(
        project, list(selected), backend, partial=False, stream=stream, move=options.mode.push
    )


def check(
    project: Project,
    options: BuildOptions,
    backend: Backend,
    farm: Mapping[Place, list[str]],
    *,
    selected: Sequence[str],
    stream: IO[str],
) -> None:
    """Phase 1: a farm can be run (shards cut by platform), and every builder it uses
    answers and builds its platforms; then where each platform builds is said."""
    if options.shard is not None and not options.platforms and options.split == "targets":
        k, n = options.shard
        raise UsageError(
            f"shard {k}/{n}: builders: puts its platforms on {len(farm)} builders; cut the "
            "shards by platform (--split platforms), so that each builds on one"
        )
    check_farm(options.mode)
    backend.check_builders(uses(project.hierarchy, selected, options.mode, platforms_of(farm)))
    stream.write(
        "builders: "
        + "; ".join(f"{', '.join(ps)} on {place.describe()}" for place, ps in farm.items())
        + "\n"
    )


def part_options(options: BuildOptions, place: Place, platform: str) -> BuildOptions:
    """One part's options: its platform only, built by key on its place's builder, its
    own reports; no release tag moved by the part itself."""
    mode = options.mode
    return dataclasses.replace(
        options,
        platforms=(platform,),
        mode=dataclasses.replace(mode, key_only=True, builder=place.builder or mode.builder),
        atomic=False,
        progress="quiet" if options.progress == "quiet" else "plain",
        report=_suffixed(options.report, platform),
        junit=_suffixed(options.junit, platform),
        part=slug(platform),
    )


def run_parts(
    project: Project,
    options: BuildOptions,
    backend: Backend,
    farm: Mapping[Place, list[str]],
    *,
    stream: IO[str],
    locked: Lock,
    part: Part,
) -> dict[str, int]:
    """Phase 2: every part at once, one thread each; platform -> its exit code (none
    for a part that never ended)."""
    codes: dict[str, int] = {}
    lines = threading.Lock()

    def one(place: Place, platform: str) -> None:
        there = backend.in_context(place.context) if place.context else backend
        out = Prefixed(stream, f"[{platform}] ", lines)
        state = StateDir(project.spec.folder, part=slug(platform))
        try:
            own = part_options(options, place, platform)
            codes[platform] = part(own, there, state, out, locked)  # type: ignore[arg-type]  # a stream
        finally:
            out.flush()

    threads = [
        threading.Thread(target=one, args=(place, p), name=f"farm-{p}")
        for place, platforms in farm.items()
        for p in platforms
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes
