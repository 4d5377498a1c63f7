"""Shared pieces of the views: paths relative to the spec, origins as data, columns."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import printable

if TYPE_CHECKING:
    from orchestrator.hierarchy.graph import Hierarchy, Origin


@lru_cache(maxsize=4096)  # views of a big spec show the same few paths 100,000 times
def rel(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix() or "."
    except ValueError:
        return path.as_posix()


def origin_json(origin: Origin, folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": origin.kind,
        "file": rel(origin.file, folder),
        "line": origin.line,
        "detail": origin.detail,
    }
    if origin.kind == "dockerfile":
        out |= {"ref": origin.ref, "base": origin.base}
    return out


def parents_json(h: Hierarchy, name: str) -> list[dict[str, Any]]:
    folder = h.spec.folder
    return [
        {
            "name": p,
            "kind": h.edge_kind(p, name),
            "origins": [origin_json(o, folder) for o in h.origins(p, name)],
        }
        for p in h.parents(name)
    ]


def externals_json(h: Hierarchy, name: str) -> list[dict[str, Any]]:
    folder = h.spec.folder
    return [
        {"ref": e.ref, "normalized": e.normalized, "origin": origin_json(e.origin, folder)}
        for e in h.externals.get(name, [])
    ]


def columns(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces; the first row is the header. A
    cell is one line, whatever its text holds (a newline in a description cannot make
    a line of its own)."""
    rows = [[printable(cell).replace("\n", "\\n") for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)
