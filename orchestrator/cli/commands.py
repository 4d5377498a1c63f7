"""The commands: each turns its parsed arguments into a call and returns an exit code.
Imported once the command line is parsed (`--help` needs none of this)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping

from orchestrator.cli.build_flags import build_options, with_signals
from orchestrator.errors import EXIT_OK, UsageError, display_path, printable
from orchestrator.hierarchy.project import Project, load_project
from orchestrator.hierarchy.selection import expand_names, select
from orchestrator.render.graphs import render_graph
from orchestrator.render.listing import render_listing
from orchestrator.render.plan import render_plan
from orchestrator.spec import reference
from orchestrator.spec.schema import schema_text
from orchestrator.spec.variables import parse_assignments

# Commands that never reach a registry: a private registry's CA is not installed for them.
READING = frozenset({"validate", "graph", "ls", "schema"})


def project_of(
    args: argparse.Namespace,
    file: str | None = None,
    pinned: Mapping[str, str] | None = None,
    *,
    remember: bool = False,
    reach: bool = True,
) -> Project:
    """The spec of -f (or `file`) with --var, --set, the environment, and `pinned` values
    under the --var ones. `remember`: builds keep validated files in `.stackbake/`.
    `reach`: the command reaches its registries (their CAs are installed first)."""
    try:
        pairs = [*args.var, *getattr(args, "var_after_command", [])]
        overrides = parse_assignments(pairs, "--var")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    project = load_project(
        file or args.file,
        overrides={**(pinned or {}), **overrides},
        allow_outside_context=args.allow_outside_context,
        sets=[*args.set, *getattr(args, "set_after_command", [])],
        remember=remember,
    )
    if reach and getattr(args, "command", "") not in READING and project.spec.registries:
        from orchestrator.backend.certs import allow_insecure, trust_registries
        from orchestrator.state import StateDir

        trust_registries(project.spec.registries, StateDir(project.spec.folder).root, os.environ)
        allow_insecure(project.spec.registries, os.environ)
    return project


def _changes(args: argparse.Namespace, project: Project, order: list[str]) -> dict[str, list[str]]:
    from orchestrator.freshness.changes import changed_since

    # An older revision's spec is only compared: its registries are not reached.
    return changed_since(
        project, args.changed_since, order, lambda f, p: project_of(args, f, p, reach=False)
    )


def cmd_build(args: argparse.Namespace) -> int:
    # Imported here: the engine client and the live view cost ~0.3 s at start-up, and
    # only building needs them.
    from orchestrator.backend.buildx import BuildxBackend
    from orchestrator.build.pipeline import run_build

    project = project_of(args, remember=True)
    targets, with_dependents = tuple(args.targets), args.with_dependents
    if args.changed_since is not None:
        order = select(project.hierarchy, args.targets, with_dependents=with_dependents)
        changes = _changes(args, project, order)
        for name, reasons in changes.items():
            print(printable(f"changed since {args.changed_since}: {name}: {'; '.join(reasons)}"))
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


def _spec_args(args: argparse.Namespace) -> list[str]:
    """The flags that make the same spec: -f, --var, --set, --allow-outside-context."""
    out = ["-f", args.file] if args.file else []
    for pair in [*args.var, *getattr(args, "var_after_command", [])]:
        out += ["--var", pair]
    for pair in [*args.set, *getattr(args, "set_after_command", [])]:
        out += ["--set", pair]
    return out + (["--allow-outside-context"] if args.allow_outside_context else [])


def cmd_matrix(args: argparse.Namespace) -> int:
    from orchestrator.backend.buildx import BuildxBackend
    from orchestrator.build.shards import MatrixRequest, placed_targets, shards_of
    from orchestrator.render.matrix import render_matrix
    from orchestrator.state import StateDir

    project = project_of(args)
    request = MatrixRequest(
        tuple(args.targets),
        args.shards,
        args.split,
        args.everything,
        tuple(args.durations),
        args.ordered,
    )
    state = StateDir(project.spec.folder)
    placement = placed_targets(
        project, request, BuildxBackend(), state, stream=sys.stderr, wait_s=args.retry_timeout
    )
    shards = shards_of(project, placement.placed, request)
    same = _spec_args(args) + list(args.targets)  # what each shard's build must repeat
    same += ["--split", args.split] if args.split != "targets" else []
    same += ["--all"] if args.everything else []
    same += ["--ordered"] if args.ordered else []
    for path in args.durations:
        same += ["--durations", str(path)]
    print(render_matrix(shards, args.format, same, ordered=args.ordered))
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    from orchestrator.backend.buildx import BuildxBackend
    from orchestrator.build.promotion import run_publish

    project = project_of(args)
    return run_publish(
        project, list(args.targets), BuildxBackend(), partial=args.partial, stream=sys.stdout
    )


def cmd_lock(args: argparse.Namespace) -> int:
    from orchestrator.backend.buildx import BuildxBackend
    from orchestrator.bases.resolution import run_lock

    return run_lock(project_of(args).hierarchy, BuildxBackend(), stream=sys.stdout)


def cmd_refresh(args: argparse.Namespace) -> int:
    from orchestrator.backend.buildx import BuildxBackend
    from orchestrator.build.refresh import run_refresh

    project = project_of(args, remember=True)
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
    from orchestrator.gates.static import check_gates

    project = project_of(args)
    check_gates(project)  # hadolint, allowed bases, the gates' files
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
    project = project_of(args)
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
        from orchestrator.state import StateDir

        state = StateDir(h.spec.folder)
        locked = load_lock(lock_path(h.spec.path)).digests()
        fresh = assess(h, order, BuildxBackend(), state, forced={}, remote=args.push, locked=locked)
        for warning in fresh.warnings(h):
            print(printable(warning), file=sys.stderr)
    print(printable(render_plan(h, order, requested, args.format, fresh, changes=changes)))
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    h = project_of(args).hierarchy
    names = select(h, args.targets, with_dependents=args.with_dependents)
    print(printable(render_graph(h, names, args.format)))
    return EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    print(printable(render_listing(project_of(args).spec, args.format)))
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
    "matrix": cmd_matrix,
    "publish": cmd_publish,
    "refresh": cmd_refresh,
}
