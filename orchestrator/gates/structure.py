"""The structure_tests gate: container-structure-test on one platform of the image, every
config in one run (`--config A --config B`), its JSON report read for the failed tests.

It runs containers on the engine (QEMU for a foreign platform), so a local image is
named as the engine knows it; a registry image is pulled into the engine first
(`--pull`). Measured on the seed image: ~0.6 s a command test, ~1.5 s a file test (a
container exported for each), about the same on arm64 under QEMU."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.backend.base import OnLine
from orchestrator.execution.cancel import CancelToken
from orchestrator.gates.tool import Done, run_tool


def structure_argv(
    cst: str, image: str, platform: str, configs: Sequence[Path], *, pull: bool
) -> list[str]:
    argv = [cst, "test", "--image", image, "--platform", platform, "--output", "json"]
    for config in configs:
        argv += ["--config", str(config)]
    return [*argv, "--pull"] if pull else argv


def run_structure(
    cst: str,
    image: str,
    platform: str,
    configs: Sequence[Path],
    *,
    pull: bool,
    environ: Mapping[str, str],
    cancel: CancelToken,
    on_line: OnLine,
) -> tuple[str, ...]:
    """The failed tests on `platform` ("NAME: ERROR"); empty when all passed."""
    argv = structure_argv(cst, image, platform, configs, pull=pull)
    done = run_tool(argv, environ, cancel=cancel, on_line=on_line, prefix=f"cst {platform}: ")
    return failures(done)


def failures(done: Done) -> tuple[str, ...]:
    """The failed tests of a run's report; its complaint when there is no report."""
    if done.cancelled:
        return ("cancelled",)
    report = _report(done.out)
    if report is None:
        return (done.reason("container-structure-test"),)
    if not report.get("Total"):
        return ("no test ran: the configs hold none",)
    out = [
        f"{r.get('Name') or 'config'}: {_errors(r)}"
        for r in report.get("Results") or ()
        if isinstance(r, dict) and not r.get("Pass")
    ]
    if not out and done.code != 0:
        out.append(done.reason("container-structure-test"))
    return tuple(out)


def _report(out: str) -> dict[str, Any] | None:
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                return None
            return data if isinstance(data, dict) and "Total" in data else None
    return None


def _errors(result: Mapping[str, Any]) -> str:
    errors = [" ".join(str(e).replace("\n", "\\n").split()) for e in result.get("Errors") or ()]
    return "; ".join(errors) or "failed"
