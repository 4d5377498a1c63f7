"""`stackbake bundle load FILE` is a command of its own; `bundle` alone takes targets."""

from __future__ import annotations

from orchestrator.cli.bundle import load_as_command
from orchestrator.cli.main import build_parser


def test_bundle_load_is_parsed_as_its_own_command():
    assert load_as_command(["bundle", "load", "t.tar", "--engine"]) == [
        "bundle-load",
        "t.tar",
        "--engine",
    ]
    assert load_as_command(["-f", "x.yaml", "bundle", "load", "t.tar"])[2] == "bundle-load"
    assert load_as_command(["bundle", "app", "load", "-o", "t.tar"])[0] == "bundle"
    assert load_as_command(["bundle", "--", "load", "-o", "t"]) == [
        "bundle",
        "--",
        "load",
        "-o",
        "t",
    ]
    args = build_parser().parse_args(load_as_command(["bundle", "load", "t.tar", "--to", "r:5000"]))
    assert (args.command, args.bundle, args.to, args.engine) == (
        "bundle-load",
        "t.tar",
        "r:5000",
        False,
    )
    args = build_parser().parse_args(["bundle", "web", "-o", "t.tar", "--no-bases"])
    assert (args.command, args.targets, args.output, args.no_bases) == (
        "bundle",
        ["web"],
        "t.tar",
        True,
    )
