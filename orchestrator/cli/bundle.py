"""`stackbake bundle [TARGETS] -o tree.tar` and `stackbake bundle load tree.tar`: the
parsers and the commands (the work is in distribution/bundle*.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.cli.error_handler import say
from orchestrator.cli.selection import add_selection

LOAD = "bundle-load"  # `bundle load` is parsed as this command of its own


def load_as_command(argv: Sequence[str]) -> list[str]:
    """`... bundle load FILE ...` as `... bundle-load FILE ...`: a subcommand of `bundle`
    would take the place of its targets. The first `bundle` is the command (a value of
    -f or --var before it is never that word alone in practice; `bundle -- load` bundles
    a target named load)."""
    args = list(argv)
    for i, word in enumerate(args[:-1]):
        if word == "bundle":
            if args[i + 1] == "load":
                args[i : i + 2] = [LOAD]
            break
    return args


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "bundle",
        help="one OCI layout tar of the selected tree (every platform, signatures, "
        "attestations, builds.lock) for an air-gapped site; 'bundle load' loads one",
        description="'stackbake bundle load FILE' loads a bundle: see 'bundle load --help'.",
    )
    common(p)
    add_selection(p, dependents=False)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the bundle to write")
    p.add_argument(
        "--no-bases",
        action="store_true",
        help="leave out the external bases builds.lock pins (they are in by default, so "
        "the site can build on the tree too)",
    )
    p = sub.add_parser(
        LOAD,
        help="'bundle load FILE': check a bundle's checksums (and signatures), then load it",
    )
    p.prog = p.prog.replace(LOAD, "bundle load")
    p.add_argument("bundle", metavar="FILE", help="a bundle written by 'stackbake bundle'")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--to",
        metavar="REGISTRY",
        help="push every image, signature and attestation to REGISTRY (host[:port][/prefix]), "
        "digests unchanged",
    )
    where.add_argument(
        "--engine",
        action="store_true",
        help="load the images into the engine's store (DOCKER_HOST), every platform",
    )
    p.add_argument(
        "--key",
        metavar="PUBLIC_KEY",
        help="also verify each image's cosign signature with this public key before loading",
    )


def cmd_bundle(args: argparse.Namespace) -> int:
    from orchestrator.cli.commands import project_of
    from orchestrator.distribution.bundle import write_bundle
    from orchestrator.hierarchy.selection import select

    project = project_of(args)
    names = select(project.hierarchy, args.targets)
    made = write_bundle(project, names, args.output, bases=not args.no_bases, say=say)
    say(made.summary())
    return 0


def cmd_bundle_load(args: argparse.Namespace) -> int:
    from orchestrator.distribution.unbundle import load_bundle

    loaded = load_bundle(args.bundle, registry=args.to, public_key=args.key, say=say)
    say(loaded.summary())
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "bundle": cmd_bundle,
    LOAD: cmd_bundle_load,
}
