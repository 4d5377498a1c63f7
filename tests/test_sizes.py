"""Every function in the package fits on a screen (at most 60 lines) and every module is
at most 300 lines: a change that grows one past that splits it by job first."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "orchestrator"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 300


def oversized(folder: Path) -> list[str]:
    """Functions over MAX_FUNCTION_LINES (from `def`, decorators excluded, to their last
    line) and modules over MAX_MODULE_LINES, as "path:line name: N lines"."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(folder.parent)
        if (n := len(text.splitlines())) > MAX_MODULE_LINES:
            found.append(f"{where}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    found.append(f"{where}:{node.lineno} {node.name}: {n} lines")
    return found


def test_no_function_over_60_lines_and_no_module_over_300() -> None:
    assert oversized(PACKAGE) == []


def test_a_long_function_or_module_is_found(tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    folder.mkdir()
    lines = [f"    x{i} = {i}\n" for i in range(60)]
    fits = "def fits():\n" + "".join(lines[:59])  # 60 lines with its def
    grown = "def grown():\n" + "".join(lines)  # 61
    (folder / "long.py").write_text(fits + "\n" + grown)
    (folder / "big.py").write_text("pass\n" * 301)
    assert oversized(folder) == [
        "pkg/big.py: 301 lines",
        "pkg/long.py:62 grown: 61 lines",
    ]
