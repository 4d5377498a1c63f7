"""`stackbake check` (the gates on images already built) and `stackbake verify` (the
published tree's signatures and SBOM attestations): no build in either."""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable

from orchestrator.cli.build_flags import with_signals
from orchestrator.cli.commands import project_of
from orchestrator.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, printable
from orchestrator.execution.cancel import CancelToken
from orchestrator.hierarchy.selection import select
from orchestrator.state import StateDir


def cmd_check(args: argparse.Namespace) -> int:
    """The gates of the selection on the images its first tags name: in the engine's
    store, or with --push in the registry. Exit 1 when a gate fails; Ctrl-C stops the
    tools and exits 130."""
    from orchestrator.build.gating import ImageGates
    from orchestrator.gates.static import check_gates
    from orchestrator.hierarchy.naming import image_names

    project = project_of(args)
    h = project.hierarchy
    names = [n for n in select(h, args.targets) if h.spec.targets[n].gates.names()]
    check_gates(project, names, args.skip_gate)  # hadolint and the bases, as validate does
    reports = StateDir(project.spec.folder).reports(args.reports)
    gates = ImageGates(h, frozenset(args.skip_gate), reports, registry=args.push)
    on_image = [n for n in names if h.spec.targets[n].gates.on_image()]

    def run(cancel: CancelToken) -> int:
        failed = 0
        for name in on_image:
            target, started = h.spec.targets[name], time.monotonic()
            image = image_names(target)[0]
            results = gates(target, image, lambda line: None, cancel)
            if cancel.cancelled:
                return EXIT_INTERRUPTED
            bad = [g for g in results if g.failed]
            failed += bool(bad)
            for gate in results:
                print(printable(f"{name}: {image}: {gate.describe()}"))
            platforms = len({g.platform for g in results})
            verdict = f"{len(bad)} gate(s) failed" if bad else "passed"
            took = time.monotonic() - started
            print(f"{name}: {verdict} on {platforms} platform(s) in {took:.1f} s", flush=True)
        checked = len(on_image)
        print(f"{checked - failed} of {checked} checked target(s) passed their gates")
        return EXIT_FAILED if failed else EXIT_OK

    return with_signals(lambda stop: run(token_of(stop)))


def cmd_verify(args: argparse.Namespace) -> int:
    from orchestrator.signing.verify import verify_published

    project = project_of(args)
    names = select(project.hierarchy, args.targets)
    targets = [project.spec.targets[n] for n in names]

    def run(cancel: CancelToken) -> int:
        result = verify_published(targets, cancel=cancel)
        if cancel.cancelled:
            return EXIT_INTERRUPTED
        for line in result.lines():
            print(printable(line))
        return result.exit_code

    return with_signals(lambda stop: run(token_of(stop)))


def token_of(stop: threading.Event) -> CancelToken:
    """A cancel token set when Ctrl-C or SIGTERM sets `stop`: the tools are stopped."""
    token = CancelToken()

    def watch() -> None:
        stop.wait()
        token.cancel()

    threading.Thread(target=watch, daemon=True, name="signals").start()
    return token


SUPPLY: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": cmd_check,
    "verify": cmd_verify,
}
