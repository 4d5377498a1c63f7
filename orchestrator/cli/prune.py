"""`stackbake prune`: the parser and the command (the work is in distribution/)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from orchestrator.cli.build_flags import positive
from orchestrator.cli.selection import add_selection


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "prune", help="delete old images per tag stream, never one the tree still builds on"
    )
    common(p)
    add_selection(p, dependents=False)
    p.add_argument(
        "--keep", type=positive, default=None, metavar="N", help="keep the newest N of each stream"
    )
    p.add_argument(
        "--older-than",
        type=positive,
        default=None,
        metavar="DAYS",
        help="delete only images older than DAYS (with --keep: beyond the newest N and older)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--registry", action="store_true", help="prune the registry (default)")
    where.add_argument("--local", action="store_true", help="prune the engine's image store")
    p.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")


def cmd_prune(args: argparse.Namespace) -> int:
    from orchestrator.cli.commands import project_of
    from orchestrator.distribution.prune import PruneRequest, run_prune

    request = PruneRequest(  # checked before the spec is read
        tuple(args.targets), args.keep, args.older_than, local=args.local, dry_run=args.dry_run
    )
    return run_prune(project_of(args), request, lambda line: print(line, flush=True))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"prune": cmd_prune}
