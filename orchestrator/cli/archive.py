"""`stackbake archive`: the parser and the command (the work is in distribution/)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from orchestrator.cli.error_handler import say


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "archive", help="save images (every platform) to files with a SHA-256 record each"
    )
    common(p)
    p.add_argument("targets", nargs="+", metavar="TARGET", help="targets, groups or globs")
    p.add_argument("--to", required=True, metavar="DIR", help="folder the archives go to")
    p.add_argument(
        "--remove",
        action="store_true",
        help="remove the local images once their archive is written and verified",
    )


def cmd_archive(args: argparse.Namespace) -> int:
    """The named targets only (groups and globs expanded), not what they build on: a
    child's archive holds its parents' layers, and `--remove` must not take a parent
    nobody named out of the store."""
    from pathlib import Path

    from orchestrator.cli.commands import project_of
    from orchestrator.distribution.archive import archive_targets
    from orchestrator.distribution.archive_engine import EngineStore
    from orchestrator.hierarchy.selection import expand_names

    project = project_of(args)
    names = project.hierarchy.order(expand_names(project.hierarchy, args.targets))
    done = archive_targets(
        project, names, Path(args.to), remove=args.remove, store=EngineStore(), say=say
    )
    say(done.summary())
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"archive": cmd_archive}
