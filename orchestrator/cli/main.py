"""The command line: the parser, and `main`, which hands the parsed arguments to their
command (cli/commands.py) under the one error handler."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from orchestrator import __version__
from orchestrator.cli import archive, bundle, login, mirror, prune
from orchestrator.cli.build_flags import (
    add_build_flags,
    add_partition_flags,
    add_retry_timeout,
    add_shard_flags,
    positive,
)
from orchestrator.cli.error_handler import run_guarded
from orchestrator.cli.gate_flags import gate_flags
from orchestrator.cli.selection import add_selection
from orchestrator.errors import EXIT_USAGE
from orchestrator.hints import did_you_mean
from orchestrator.render.graphs import FORMATS as GRAPH_FORMATS
from orchestrator.render.matrix import FORMATS as MATRIX_FORMATS


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that name the fix and exit 2; no abbreviations."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(**kwargs)
        self._argv: list[str] = []

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            bad = message.split(":", 1)[1].split()
            known = [s for a in self._actions for s in a.option_strings]
            # The options of the command given, not of every command.
            for sub in self._subparsers._group_actions if self._subparsers else []:
                choices = getattr(sub, "choices", {})
                command = next((a for a in self._argv if a in choices), None)
                if command is not None:
                    known += [s for a in choices[command]._actions for s in a.option_strings]
            hints = [did_you_mean(b.split("=")[0], known) for b in bad]
            message += "".join(h for h in hints if h)
        self.exit(EXIT_USAGE, f"error: {message}\nrun '{self.prog} --help' for usage\n")


if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[_Parser]  # what add_subparsers gives


def _common(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """Spec options, accepted before the command (as docker does) or after it."""
    unset = argparse.SUPPRESS
    p.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        default=None if top else unset,
        help="spec file (default: builds.yaml in the current folder)",
    )
    p.add_argument(
        "--var",
        action="append",
        dest="var" if top else "var_after_command",
        default=[] if top else unset,
        metavar="NAME=VALUE",
        help="set a variable; wins over the environment and the spec",
    )
    p.add_argument(
        "--allow-outside-context",
        action="store_true",
        default=False if top else unset,
        help="allow contexts outside the spec file's folder",
    )
    p.add_argument(
        "--set",
        action="append",
        dest="set" if top else "set_after_command",
        default=[] if top else unset,
        metavar="TARGET.KEY=VALUE",
        help="override a target field, as in bake (TARGET may be a glob)",
    )


def _changed_since(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--changed-since",
        metavar="GIT_REF",
        help="only the selected targets whose build inputs (files, spec, parents) differ "
        "from those at GIT_REF, and why",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stackbake",
        allow_abbrev=False,
        description="Build container image hierarchies on BuildKit from one declarative spec.",
    )
    parser.add_argument("--version", action="version", version=f"stackbake {__version__}")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _reading_commands(sub)
    _building_commands(sub)
    _base_commands(sub)
    _supply_commands(sub)
    for module in (login, mirror, prune, archive, bundle):
        module.add_parser(sub, _common)
    return parser


def _reading_commands(sub: Commands) -> None:
    """The commands that read the spec and build nothing."""
    p = sub.add_parser("validate", help="check the spec and the Dockerfiles it names")
    _common(p)
    p = sub.add_parser("plan", help="show the targets in build order with their parents")
    _common(p)
    add_selection(p)
    _changed_since(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--explain",
        action="store_true",
        help="say for each target whether a build would run it, and why",
    )
    p.add_argument(
        "--push",
        action="store_true",
        help="with --explain: look for up-to-date images in the registry, as 'build --push' does",
    )
    p = sub.add_parser("graph", help="draw the hierarchy (tree, mermaid, dot, json)")
    _common(p)
    add_selection(p)
    p.add_argument("--format", choices=GRAPH_FORMATS, default="tree")
    p = sub.add_parser("ls", help="list targets and groups with their contexts")
    _common(p)
    p.add_argument("--format", choices=("text", "json"), default="text")


def _building_commands(sub: Commands) -> None:
    """build, and the CI matrix's commands: matrix before it, publish after it."""
    p = sub.add_parser("build", help="build the selected targets and what they build on")
    _common(p)
    add_selection(p)
    _changed_since(p)
    add_build_flags(p)
    add_shard_flags(p)
    p = sub.add_parser(
        "matrix", help="spread the selection over CI shards (a GitHub or GitLab matrix)"
    )
    _common(p)
    add_selection(p, dependents=False)
    p.add_argument("--shards", type=positive, required=True, metavar="N", help="how many")
    add_partition_flags(p)
    p.add_argument("--format", choices=MATRIX_FORMATS, default="json")
    add_retry_timeout(
        p, "ask a registry that does not answer again for up to SECONDS (default: 60)"
    )
    p = sub.add_parser(
        "publish",
        help="move the release tags of the selection onto what shards pushed: all or nothing",
    )
    _common(p)
    add_selection(p, dependents=False)
    p.add_argument(
        "--partial",
        action="store_true",
        help="publish each complete target (and what it builds on), even if others are not",
    )


def _base_commands(sub: Commands) -> None:
    """The base lock's commands, and the schema."""
    p = sub.add_parser("lock", help="resolve every external base to a digest in builds.lock")
    _common(p)
    p = sub.add_parser(
        "refresh",
        help="re-resolve external bases, update builds.lock, rebuild what builds on a changed one",
    )
    _common(p)
    add_selection(p, dependents=False)
    p.add_argument(
        "--dry-run", action="store_true", help="show what would change and build; write nothing"
    )
    add_build_flags(p)
    p = sub.add_parser("schema", help="print the spec's JSON Schema")
    p.add_argument("--markdown", action="store_true", help="print the spec reference instead")


def _supply_commands(sub: Commands) -> None:
    """The gates without a build, and the published tree's signatures."""
    p = sub.add_parser(
        "check",
        help="run the gates on images already built (local store, or with --push the registry)",
    )
    _common(p)
    add_selection(p, dependents=False)
    p.add_argument(
        "--push",
        action="store_true",
        help="check the images the release tags name in the registry, not the local ones",
    )
    gate_flags(p)
    p = sub.add_parser(
        "verify", help="check the signatures and SBOM attestations of the published tree"
    )
    _common(p)
    add_selection(p, dependents=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(bundle.load_as_command(sys.argv[1:] if argv is None else argv))
    if os.environ.get("STACKBAKE_DEBUG_CRASH") == "1":  # lets tests reach the bug path
        return run_guarded(lambda: 1 // 0)

    def run() -> int:
        from orchestrator.cli.commands import COMMANDS
        from orchestrator.cli.supply import SUPPLY

        every = {
            **COMMANDS,
            **SUPPLY,
            **prune.COMMANDS,
            **archive.COMMANDS,
            **bundle.COMMANDS,
            **mirror.COMMANDS,
            **login.COMMANDS,
        }
        return every[args.command](args)

    return run_guarded(run)
