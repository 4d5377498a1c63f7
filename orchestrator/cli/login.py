"""`stackbake login REGISTRY --username U --password-stdin` (or `--password-env NAME`):
the parser and the command. With a spec (builds.yaml here, or -f) whose `registries:`
gives the registry's CA, the CA is installed first: docker checks the login over TLS."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_parser(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "login", help="log in to a registry (the password on stdin or in a variable, never argv)"
    )
    common(p)
    p.add_argument("registry", metavar="REGISTRY", help="host[:port]")
    p.add_argument("-u", "--username", required=True, metavar="USER")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    given.add_argument(
        "--password-env", metavar="NAME", help="read the password from the variable NAME"
    )


def cmd_login(args: argparse.Namespace) -> int:
    import os
    import sys
    from pathlib import Path

    from orchestrator.backend.login import docker_login
    from orchestrator.cli.commands import project_of
    from orchestrator.errors import SpecError, UsageError
    from orchestrator.spec.loader import find_spec

    if args.password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    else:
        password = os.environ.get(args.password_env, "")
        if not password:
            raise UsageError(f"--password-env {args.password_env}: the variable is not set")
    if not password:
        raise UsageError("no password on standard input (--password-stdin reads it there)")
    try:
        find_spec(args.file, Path.cwd())
    except SpecError:
        if args.file:
            raise
    else:
        project_of(args)  # installs the spec's CAs (registries:)
    said = docker_login(args.registry, args.username, password, os.environ)
    print(f"logged in to {args.registry} as {args.username}" + (f" ({said})" if said else ""))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"login": cmd_login}
