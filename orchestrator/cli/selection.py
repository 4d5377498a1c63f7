"""The target selection every command that works on part of the tree takes: the
positional TARGETs (names, groups or globs) and, where it makes sense,
`--with-dependents`."""

from __future__ import annotations

import argparse


def add_selection(p: argparse.ArgumentParser, *, dependents: bool = True) -> None:
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="targets, groups or globs (default: the 'default' group, else all)",
    )
    if dependents:
        p.add_argument(
            "--with-dependents",
            action="store_true",
            help="also select every target built on the selected ones",
        )
