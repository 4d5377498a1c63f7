"""Command line: argparse wiring only; each command returns an exit code."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from orchestrator import __version__
from orchestrator.build_options import PROGRESS, BuildOptions, default_jobs
from orchestrator.error_handler import run_guarded
from orchestrator.errors import EXIT_OK, EXIT_USAGE, UsageError, display_path
from orchestrator.hints import did_you_mean
from orchestrator.project import Project, load_project
from orchestrator.render.graphs import FORMATS as GRAPH_FORMATS
from orchestrator.render.graphs import render_graph
from orchestrator.render.listing import render_listing
from orchestrator.render.plan import render_plan
from orchestrator.request import OutputMode
from orchestrator.selection import expand_names, select
from orchestrator.spec import reference
from orchestrator.spec.schema import schema_text
from orchestrator.spec.variables import parse_assignments


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that name the fix and exit 2; no abbreviations."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            bad = message.split(":", 1)[1].split()
            known = [s for a in self._actions for s in a.option_strings]
            for sub in self._subparsers._group_actions if self._subparsers else []:
                for parser in getattr(sub, "choices", {}).values():
                    known += [s for a in parser._actions for s in a.option_strings]
            hints = [did_you_mean(b.split("=")[0], known) for b in bad]
            message += "".join(h for h in hints if h)
        self.exit(EXIT_USAGE, f"error: {message}\nrun '{self.prog} --help' for usage\n")


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


def _selection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="targets, groups or globs (default: the 'default' group, else all)",
    )
    p.add_argument(
        "--with-dependents",
        action="store_true",
        help="also select every target built on the selected ones",
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
    p = sub.add_parser("validate", help="check the spec and the Dockerfiles it names")
    _common(p)
    p = sub.add_parser("plan", help="show the targets in build order with their parents")
    _common(p)
    _selection(p)
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
    _selection(p)
    p.add_argument("--format", choices=GRAPH_FORMATS, default="tree")
    p = sub.add_parser("ls", help="list targets and groups with their contexts")
    _common(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p = sub.add_parser("build", help="build the selected targets and what they build on")
    _common(p)
    _selection(p)
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
    p.add_argument(
        "-j",
        "--jobs",
        type=_positive,
        default=default_jobs(),
        metavar="N",
        help=f"builds at once (default here: {default_jobs()})",
    )
    p.add_argument(
        "--fail-fast", action="store_true", help="start no new build after the first failure"
    )
    p.add_argument(
        "--retries",
        type=_non_negative,
        default=2,
        metavar="N",
        help="retries of a phase after a transient error (default: 2)",
    )
    p.add_argument(
        "--progress",
        choices=PROGRESS,
        default="auto",
        help="auto: live view in a terminal, plain log lines elsewhere",
    )
    p.add_argument("--report", type=Path, metavar="FILE.json", help="write a JSON report")
    p.add_argument("--junit", type=Path, metavar="FILE.xml", help="write a JUnit XML report")
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
    p = sub.add_parser("schema", help="print the spec's JSON Schema")
    p.add_argument("--markdown", action="store_true", help="print the spec reference instead")
    return parser


def _project(args: argparse.Namespace) -> Project:
    try:
        pairs = [*args.var, *getattr(args, "var_after_command", [])]
        overrides = parse_assignments(pairs, "--var")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return load_project(
        args.file,
        overrides=overrides,
        allow_outside_context=args.allow_outside_context,
        sets=[*args.set, *getattr(args, "set_after_command", [])],
    )


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


def cmd_build(args: argparse.Namespace) -> int:
    # Imported here: the engine client and the live view cost ~0.3 s at start-up, and
    # only building needs them.
    from orchestrator.backend.buildx import BuildxBackend
    from orchestrator.build import run_build

    project = _project(args)
    options = BuildOptions(
        targets=tuple(args.targets),
        with_dependents=args.with_dependents,
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
        retry_base_s=float(os.environ.get("STACKBAKE_RETRY_BASE_S", "1.0")),
        progress=args.progress,
        report=args.report,
        junit=args.junit,
        force=tuple(args.force),
    )
    interrupted = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        interrupted.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run_build(
            project, options, BuildxBackend(), stream=sys.stdout, interrupted=interrupted
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_validate(args: argparse.Namespace) -> int:
    project = _project(args)
    h = project.hierarchy
    levels = len(set(h.levels().values()))
    bases = {e.normalized for es in h.externals.values() for e in es}
    n, g = len(project.spec.targets), len(project.spec.groups)
    print(
        f"{display_path(project.spec.path)}: valid: {n} target{'s' * (n != 1)}, "
        f"{g} group{'s' * (g != 1)}, {levels} level{'s' * (levels != 1)}, "
        f"{len(bases)} external base{'s' * (len(bases) != 1)}"
    )
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    h = _project(args).hierarchy
    requested = expand_names(h, args.targets)
    order = select(h, args.targets, with_dependents=args.with_dependents)
    fresh = None
    if args.explain:
        from orchestrator.backend.buildx import BuildxBackend
        from orchestrator.history import STATE_DIR
        from orchestrator.incremental import assess

        state = h.spec.folder / STATE_DIR
        fresh = assess(h, order, BuildxBackend(), state, forced={}, remote=args.push)
    print(render_plan(h, order, requested, args.format, fresh))
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    h = _project(args).hierarchy
    print(
        render_graph(h, select(h, args.targets, with_dependents=args.with_dependents), args.format)
    )
    return EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    print(render_listing(_project(args).spec, args.format))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(reference.markdown() if args.markdown else schema_text())
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": cmd_validate,
    "plan": cmd_plan,
    "graph": cmd_graph,
    "ls": cmd_ls,
    "schema": cmd_schema,
    "build": cmd_build,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.environ.get("STACKBAKE_DEBUG_CRASH") == "1":  # lets tests reach the bug path
        return run_guarded(lambda: 1 // 0)
    return run_guarded(lambda: COMMANDS[args.command](args))
