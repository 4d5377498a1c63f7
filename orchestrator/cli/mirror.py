"""`stackbake mirror`: the parser and the command (the work is in bases/mirroring.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "mirror",
        help="copy every external base into its mirror (mirrors:), all platforms, by "
        "digest, and update builds.lock",
    )
    common(p)
    p.add_argument(
        "--dry-run", action="store_true", help="say what would be copied; copy and write nothing"
    )


def cmd_mirror(args: argparse.Namespace) -> int:
    import os
    import sys

    from orchestrator.bases.mirroring import run_mirror
    from orchestrator.cli.commands import project_of

    project = project_of(args)
    return run_mirror(project.hierarchy, sys.stdout, dry_run=args.dry_run, environ=os.environ)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"mirror": cmd_mirror}
