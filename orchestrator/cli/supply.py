"""`stackbake check` (the gates on images already built) and `stackbake verify` (the
published tree's signatures and SBOM attestations): no build in either."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from orchestrator.cli.commands import project_of
from orchestrator.errors import printable
from orchestrator.hierarchy.selection import select


def cmd_check(args: argparse.Namespace) -> int:
    """The gates of the selection on the images its first tags name: in the engine's
    store, or with --push in the registry. Exit 1 when a gate fails."""
    from orchestrator.gates.run import run_gates
    from orchestrator.gates.static import check_gates
    from orchestrator.hierarchy.naming import image_names
    from orchestrator.refs import host_platform, parse_ref

    project = project_of(args)
    h = project.hierarchy
    names = [n for n in select(h, args.targets) if h.spec.targets[n].gates.names()]
    check_gates(project, names)  # hadolint and the bases, as validate does
    reports = args.reports or project.spec.folder / ".stackbake" / "reports"
    failed = 0
    for name in names:
        target = h.spec.targets[name]
        image = image_names(target)[0]
        parents = [t for p in h.parents(name) for t in image_names(h.spec.targets[p])]
        started = time.monotonic()
        results = run_gates(
            parse_ref(image),
            target,
            target.platforms or (host_platform(),),
            registry=args.push,
            skip=frozenset(args.skip_gate),
            reports=reports,
            parents=parents,
        )
        bad = [g for g in results if not g.passed and not g.skipped]
        failed += bool(bad)
        for gate in results:
            print(printable(f"{name}: {image}: {gate.describe()}"))
        platforms = len({g.platform for g in results})
        verdict = f"{len(bad)} gate(s) failed" if bad else "passed"
        took = time.monotonic() - started
        print(f"{name}: {verdict} on {platforms} platform(s) in {took:.1f} s")
    print(f"{len(names) - failed} of {len(names)} checked target(s) passed their gates")
    return 1 if failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    from orchestrator.signing.verify import verify_published

    project = project_of(args)
    names = select(project.hierarchy, args.targets)
    targets = [project.spec.targets[n] for n in names]
    result = verify_published(targets)
    for line in result.lines():
        print(printable(line))
    return result.exit_code


SUPPLY: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": cmd_check,
    "verify": cmd_verify,
}
