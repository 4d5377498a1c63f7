"""The options of `build` and `refresh` (the same flags: a refresh is a build), and the
signal handling of commands that run builds."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.build.options import (
    PROGRESS,
    SPLITS,
    BuildOptions,
    OutputMode,
    default_jobs,
    parse_shard,
)
from orchestrator.cli.gate_flags import gate_flags
from orchestrator.errors import UsageError
from orchestrator.refs import platform_problem


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


def add_partition_flags(p: argparse.ArgumentParser) -> None:
    """How a selection is cut into CI shards: the same flags for `matrix` and for the
    `build --shard` that builds one of them (both must cut it alike)."""
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="targets",
        help="shards by targets (a shared base built once), or by platforms (native builders)",
    )
    p.add_argument(
        "--all",
        action="store_true",
        dest="everything",
        help="place every selected target, not only those whose release tags lack their "
        "current build",
    )
    p.add_argument(
        "--ordered",
        action="store_true",
        help="shards need only earlier shards (for CI that runs a job once the jobs it "
        "needs are done, as GitLab's needs; less balanced)",
    )
    p.add_argument(
        "--durations",
        type=Path,
        action="append",
        default=[],
        metavar="FILE.json",
        help="seconds per target to balance shards by, or a report of 'stackbake build' "
        "(repeatable; commit them, so every runner cuts alike; default: all alike)",
    )


def add_shard_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("CI shards (pushed by digest under key tags; see 'publish')")
    g.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="build shard K of the N that 'stackbake matrix --shards N' prints",
    )
    g.add_argument(
        "--platform",
        action="append",
        type=_platform,
        default=[],
        dest="platforms",
        metavar="PLATFORM",
        help="build only this platform of each target (repeatable)",
    )
    g.add_argument(
        "--wait",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="with --shard: wait up to SECONDS for parents other shards build (default: 0)",
    )
    add_partition_flags(g)  # type: ignore[arg-type]


def _output_flags(p: argparse.ArgumentParser) -> None:
    out = p.add_mutually_exclusive_group()
    out.add_argument("--push", action="store_true", help="push every tag (after tests)")
    out.add_argument("--load", action="store_true", help="load into the local image store")
    p.add_argument(
        "--atomic",
        action="store_true",
        help="with --push: push by key first, and move the release tags of the whole "
        "selection only once every target built, passed and was pushed",
    )
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
        type=positive,
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
    add_retry_timeout(
        p,
        "retry a phase's transient errors (registry or engine unreachable, 5xx) for up to "
        "SECONDS, backing off exponentially (default: 60)",
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
    gate_flags(p)


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
            key_only=bool(
                getattr(args, "shard", None) or getattr(args, "platforms", None) or args.atomic
            ),
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
        atomic=_atomic(args),
        skip_gates=tuple(dict.fromkeys(args.skip_gate)),
        reports=args.reports,
        **_shard_options(args),
    )


def _atomic(args: argparse.Namespace) -> bool:
    if args.atomic and not args.push:
        raise UsageError("--atomic moves release tags in the registry: use it with --push")
    if args.atomic and (getattr(args, "shard", None) or getattr(args, "platforms", None)):
        raise UsageError(
            "--atomic is for one machine; shards and --platform builds are published "
            "together by 'stackbake publish'"
        )
    return bool(args.atomic)


def _shard_options(args: argparse.Namespace) -> dict[str, Any]:
    """`build`'s shard flags (refresh has none)."""
    if not hasattr(args, "shard"):
        return {}
    if args.shard and (args.with_dependents or args.changed_since is not None):
        raise UsageError(
            "--shard builds its part of the matrix's selection: give it the matrix's "
            "targets, without --with-dependents or --changed-since"
        )
    return {
        "shard": args.shard,
        "split": args.split,
        "everything": args.everything,
        "durations": tuple(args.durations),
        "ordered": args.ordered,
        "platforms": tuple(args.platforms),
        "wait_s": args.wait,
    }


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


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--shard {text!r}: ")) from None


def _platform(text: str) -> str:
    problem = platform_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def add_retry_timeout(p: argparse.ArgumentParser, help_text: str) -> None:
    """--retry-timeout SECONDS (default 60): how long transient errors are tried again."""
    p.add_argument("--retry-timeout", type=seconds, default=60.0, metavar="SECONDS", help=help_text)
