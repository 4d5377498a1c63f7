"""The options of `build` and `refresh` (the same flags: a refresh is a build), and the
signal handling of commands that run builds."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from orchestrator.build.options import PROGRESS, BuildOptions, OutputMode, default_jobs


def add_build_flags(p: argparse.ArgumentParser) -> None:
    _output_flags(p)
    _run_flags(p)
    _report_flags(p)
    p.add_argument(
        "--force",
        action="append",
        default=[],
        metavar="TARGET",
        help="build TARGET (a name, group or glob) even when it is up to date",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="do not use the build cache (builds every target)"
    )
    p.add_argument("--pull", action="store_true", help="always pull external bases")
    p.add_argument("--builder", metavar="NAME", help="buildx builder to use")


def _output_flags(p: argparse.ArgumentParser) -> None:
    out = p.add_mutually_exclusive_group()
    out.add_argument("--push", action="store_true", help="push every tag (after tests)")
    out.add_argument("--load", action="store_true", help="load into the local image store")
    out.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="SPEC",
        help="buildx output, e.g. type=local,dest=out (leaf targets only)",
    )


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-j",
        "--jobs",
        type=_positive,
        default=default_jobs(),
        metavar="N",
        help=f"targets at once (default here: {default_jobs()}); -j 1 builds them one by one",
    )
    p.add_argument(
        "--fail-fast", action="store_true", help="start no new build after the first failure"
    )
    p.add_argument(
        "--retries",
        type=_non_negative,
        default=None,
        metavar="N",
        help="at most N retries of a phase after a transient error (default: as many as "
        "--retry-timeout allows)",
    )
    p.add_argument(
        "--retry-timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="retry a phase's transient errors (registry or engine unreachable, 5xx) for "
        "up to SECONDS, backing off exponentially (default: 60)",
    )
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="when another run builds in this spec's folder, exit 1 at once instead of "
        "waiting for it",
    )
    p.add_argument(
        "--per-target",
        action="store_true",
        help="build each target in its own buildx build, not all in one BuildKit session",
    )


def _report_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=PROGRESS,
        default="auto",
        help="auto: live view in a terminal, plain log lines elsewhere",
    )
    p.add_argument("--report", type=Path, metavar="FILE.json", help="write a JSON report")
    p.add_argument("--junit", type=Path, metavar="FILE.xml", help="write a JUnit XML report")


def build_options(
    args: argparse.Namespace, targets: tuple[str, ...], with_dependents: bool
) -> BuildOptions:
    return BuildOptions(
        targets=targets,
        with_dependents=with_dependents,
        mode=OutputMode(
            push=args.push,
            load=args.load,
            outputs=tuple(args.output),
            no_cache=args.no_cache,
            pull=args.pull,
            builder=args.builder,
        ),
        jobs=args.jobs,
        fail_fast=args.fail_fast,
        retries=args.retries,
        retry_timeout_s=args.retry_timeout,
        retry_base_s=float(os.environ.get("STACKBAKE_RETRY_BASE_S", "1.0")),
        progress=args.progress,
        report=args.report,
        junit=args.junit,
        force=tuple(args.force),
        per_target=args.per_target,
        no_wait=args.no_wait,
    )


def with_signals(run: Callable[[threading.Event], int]) -> int:
    """Run a build with SIGINT/SIGTERM setting its stop event (running builds are then
    cancelled and a summary printed) instead of raising in a random thread."""
    interrupted = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        interrupted.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run(interrupted)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value
