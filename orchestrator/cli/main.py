"""Command line: argparse wiring only; each command returns an exit code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from orchestrator import __version__
from orchestrator.cli.build_flags import add_build_flags, build_options, with_signals
from orchestrator.cli.error_handler import run_guarded
from orchestrator.errors import EXIT_OK, EXIT_USAGE, UsageError, display_path
from orchestrator.hierarchy.project import Project, load_project
from orchestrator.hierarchy.selection import expand_names, select
from orchestrator.hints import did_you_mean
from orchestrator.render.graphs import FORMATS as GRAPH_FORMATS
from orchestrator.render.graphs import render_graph
from orchestrator.render.listing import render_listing
from orchestrator.render.plan import render_plan
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


def _selection(p: argparse.ArgumentParser, *, dependents: bool = True) -> None:
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
    p = sub.add_parser("validate", help="check the spec and the Dockerfiles it names")
    _common(p)
    p = sub.add_parser("plan", help="show the targets in build order with their parents")
    _common(p)
    _selection(p)
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
    _selection(p)
    p.add_argument("--format", choices=GRAPH_FORMATS, default="tree")
    p = sub.add_parser("ls", help="list targets and groups with their contexts")
    _common(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p = sub.add_parser("build", help="build the selected targets and what they build on")
    _common(p)
    _selection(p)
    _changed_since(p)
    add_build_flags(p)
    p = sub.add_parser("lock", help="resolve every external base to a digest in builds.lock")
    _common(p)
    p = sub.add_parser(
        "refresh",
        help="re-resolve external bases, update builds.lock, rebuild what builds on a changed one",
    )
    _common(p)
    _selection(p, dependents=False)
    p.add_argument(
        "--dry-run", action="store_true", help="show what would change and build; write nothing"
    )
    add_build_flags(p)
    p = sub.add_parser("schema", help="print the spec's JSON Schema")
    p.add_argument("--markdown", action="store_true", help="print the spec reference instead")
    return parser


def _project(
    args: argparse.Namespace,
    file: str | None = None,
    pinned: Mapping[str, str] | None = None,
    *,
    remember: bool = False,
) -> Project:
    """The spec of -f (or `file`) with --var, --set, the environment, and `pinned` values
    under the --var ones. `remember`: builds keep validated files in `.stackbake/`."""
    try:
        pairs = [*args.var, *getattr(args, "var_after_command", [])]
        overrides = parse_assignments(pairs, "--var")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return load_project(
        file or args.file,
        overrides={**(pinned or {}), **overrides},
        allow_outside_context=args.allow_outside_context,
        sets=[*args.set, *getattr(args, "set_after_command", [])],
        remember=remember,
    )


def _changes(args: argparse.Namespace, project: Project, order: list[str]) -> dict[str, list[str]]:
    from orchestrator.freshness.changes import changed_since

    return changed_since(project, args.changed_since, order, lambda f, p: _project(args, f, p))


def cmd_build(args: argparse.Namespace) -> int:
    # Imported here: the engine client and the live view cost ~0.3 s at start-up, and
    # only building needs them.
    from orchestrator.backend.buildx import BuildxBackend
    from orchestrator.build.pipeline import run_build

    project = _project(args, remember=True)
    targets, with_dependents = tuple(args.targets), args.with_dependents
    if args.changed_since is not None:
        order = select(project.hierarchy, args.targets, with_dependents=with_dependents)
        changes = _changes(args, project, order)
        for name, reasons in changes.items():
            print(f"changed since {args.changed_since}: {name}: {'; '.join(reasons)}")
        if not changes:
            print(f"nothing changed since {args.changed_since}")
            return EXIT_OK
        targets, with_dependents = tuple(changes), False  # dependents are changed too
    options = build_options(args, targets, with_dependents)
    return with_signals(
        lambda stop: run_build(
            project, options, BuildxBackend(), stream=sys.stdout, interrupted=stop
        )
    )


def cmd_lock(args: argparse.Namespace) -> int:
    from orchestrator.backend.buildx import BuildxBackend
    from orchestrator.build.refresh import run_lock

    return run_lock(_project(args), BuildxBackend(), stream=sys.stdout)


def cmd_refresh(args: argparse.Namespace) -> int:
    from orchestrator.backend.buildx import BuildxBackend
    from orchestrator.build.refresh import run_refresh

    project = _project(args, remember=True)
    options = build_options(args, tuple(args.targets), with_dependents=False)
    return with_signals(
        lambda stop: run_refresh(
            project,
            options,
            BuildxBackend(),
            dry_run=args.dry_run,
            stream=sys.stdout,
            interrupted=stop,
        )
    )


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
    project = _project(args)
    h = project.hierarchy
    requested = expand_names(h, args.targets)
    order = select(h, args.targets, with_dependents=args.with_dependents)
    changes = None
    if args.changed_since is not None:
        changes = _changes(args, project, order)
        order = [n for n in order if n in changes]
        if not order and args.format == "text":
            print(f"nothing changed since {args.changed_since}")
            return EXIT_OK
    fresh = None
    if args.explain:
        from orchestrator.backend.buildx import BuildxBackend
        from orchestrator.bases.lockfile import load_lock, lock_path
        from orchestrator.freshness.uptodate import assess
        from orchestrator.state import STATE_DIR

        state = h.spec.folder / STATE_DIR
        locked = load_lock(lock_path(h.spec.path)).digests()
        fresh = assess(h, order, BuildxBackend(), state, forced={}, remote=args.push, locked=locked)
        for warning in fresh.warnings(h):
            print(warning, file=sys.stderr)
    print(render_plan(h, order, requested, args.format, fresh, changes=changes))
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
    "lock": cmd_lock,
    "refresh": cmd_refresh,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.environ.get("STACKBAKE_DEBUG_CRASH") == "1":  # lets tests reach the bug path
        return run_guarded(lambda: 1 // 0)
    return run_guarded(lambda: COMMANDS[args.command](args))
