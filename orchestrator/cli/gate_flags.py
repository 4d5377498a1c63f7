"""The flags of the runs that gate images (`build`, `refresh`, `check`): which gates to
bypass, and where the gates write their files."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.hints import did_you_mean
from orchestrator.spec.gates import GATE_NAMES


def gate_name(text: str) -> str:
    if text not in GATE_NAMES:
        raise argparse.ArgumentTypeError(
            f"no gate {text!r}{did_you_mean(text, GATE_NAMES)} (gates: {', '.join(GATE_NAMES)})"
        )
    return text


def gate_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reports",
        type=Path,
        metavar="DIR",
        help="where the gates write their files, such as SBOMs (default: .stackbake/reports)",
    )
    p.add_argument(
        "--skip-gate",
        action="append",
        default=[],
        metavar="NAME",
        type=gate_name,
        help="bypass this gate for every target (repeatable); every report says so",
    )
