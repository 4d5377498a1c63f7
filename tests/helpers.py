"""Small helpers shared by the unit tests: write a tree of files, run the CLI."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.cli.main import main

SEED = "seed.example/base:1"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (path -> text, dedented) under root; returns root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(
    args: list[str], cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Result:
    monkeypatch.chdir(cwd)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
