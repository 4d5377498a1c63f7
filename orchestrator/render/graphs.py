"""`stackbake graph`: the hierarchy as a tree, Mermaid (paste-ready), Graphviz dot or JSON."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from orchestrator.render.common import externals_json, parents_json

if TYPE_CHECKING:
    from orchestrator.hierarchy.graph import Hierarchy

FORMATS = ("tree", "mermaid", "dot", "json")


def _label(h: Hierarchy, name: str) -> str:
    tags = h.spec.targets[name].tags
    return f"{name} ({tags[0]})" if tags else name


def tree(h: Hierarchy, names: list[str]) -> str:
    """Each target under its deepest parent; other parents are named beside it."""
    chosen = set(names)
    level = h.levels()

    rank = {"from": 2, "copy": 1, "declared": 0}

    def primary(name: str) -> str | None:
        """The parent it starts FROM, else the deepest one."""
        parents = [p for p in h.parents(name) if p in chosen]
        key = lambda p: (rank[h.edge_kind(p, name)], level[p], p)  # noqa: E731
        return max(parents, key=key) if parents else None

    kids: dict[str | None, list[str]] = {}
    for name in h.order(names):
        kids.setdefault(primary(name), []).append(name)
    lines: list[str] = []

    def line(name: str, prefix: str, branch: str) -> None:
        others = [
            f"{p}{'' if h.edge_kind(p, name) == 'from' else ' ' + h.edge_kind(p, name)}"
            for p in h.parents(name)
            if p in chosen and p != primary(name)
        ]
        also = f"  (also: {', '.join(others)})" if others else ""
        lines.append(f"{prefix}{branch}{_label(h, name)}{also}")

    for root in kids.get(None, []):
        bases = sorted({e.ref for e in h.externals.get(root, [])})
        if bases:
            lines.append(f"[{', '.join(bases)}]")
        # Depth first, from a stack of our own: a chain of any length is no recursion.
        todo: list[tuple[str, str, str, str]] = [(root, "", "", "")]
        while todo:
            name, prefix, branch, inner = todo.pop()
            line(name, prefix, branch)
            mine = kids.get(name, [])
            for i in reversed(range(len(mine))):
                last = i == len(mine) - 1
                branch_i, inner_i = ("└── ", "    ") if last else ("├── ", "│   ")
                todo.append((mine[i], prefix + inner, branch_i, inner_i))
    return "\n".join(lines)


def _ids(names: list[str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name in names:
        base = "t_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        ident, n = base, 2
        while ident in ids.values():
            ident, n = f"{base}_{n}", n + 1
        ids[name] = ident
    return ids


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(h: Hierarchy, names: list[str]) -> str:
    order = h.order(names)
    ids = _ids(order)
    externals = sorted({e.ref for n in order for e in h.externals.get(n, [])})
    ext_ids = {ref: f"ext_{i}" for i, ref in enumerate(externals)}
    lines = ["```mermaid", "graph TD"]
    for ref, ident in ext_ids.items():
        lines.append(f'    {ident}["{_mermaid_text(ref)}"]:::external')
    for name in order:
        tags = h.spec.targets[name].tags
        label = f"{name}<br>{tags[0]}" if tags else name
        lines.append(f'    {ids[name]}["{_mermaid_text(label)}"]')
    for name in order:
        for ref in sorted({e.ref for e in h.externals.get(name, [])}):
            lines.append(f"    {ext_ids[ref]} -.-> {ids[name]}")
        for parent in h.parents(name):
            if parent in ids:
                arrow = {"from": "-->", "copy": "-->|copy|", "declared": "-.->|depends_on|"}
                lines.append(f"    {ids[parent]} {arrow[h.edge_kind(parent, name)]} {ids[name]}")
    lines += ["    classDef external stroke-dasharray: 5 5", "```"]
    return "\n".join(lines)


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def dot(h: Hierarchy, names: list[str]) -> str:
    order = h.order(names)
    lines = ["digraph stackbake {", "  rankdir=TB;", "  node [shape=box];"]
    externals = sorted({e.ref for n in order for e in h.externals.get(n, [])})
    for ref in externals:
        lines.append(f'  "{_dot_text(ref)}" [style=dashed];')
    for name in order:
        tags = h.spec.targets[name].tags
        label = f"{name}\\n{_dot_text(tags[0])}" if tags else name
        lines.append(f'  "{_dot_text(name)}" [label="{label}"];')
    for name in order:
        for ref in sorted({e.ref for e in h.externals.get(name, [])}):
            lines.append(f'  "{_dot_text(ref)}" -> "{_dot_text(name)}" [style=dashed];')
        for parent in h.parents(name):
            if parent in order:
                style = {
                    "from": "",
                    "copy": ' [label="copy"]',
                    "declared": ' [style=dotted, label="depends_on"]',
                }
                edge = f'"{_dot_text(parent)}" -> "{_dot_text(name)}"'
                lines.append(f"  {edge}{style[h.edge_kind(parent, name)]};")
    lines.append("}")
    return "\n".join(lines)


def graph_json(h: Hierarchy, names: list[str]) -> dict[str, Any]:
    order = h.order(names)
    level = h.levels()
    return {
        "nodes": [
            {
                "name": n,
                "level": level[n],
                "tags": list(h.spec.targets[n].tags),
                "external_bases": externals_json(h, n),
            }
            for n in order
        ],
        "edges": [
            {"parent": p["name"], "child": n, "origins": p["origins"]}
            for n in order
            for p in parents_json(h, n)
            if p["name"] in order
        ],
    }


def render_graph(h: Hierarchy, names: list[str], fmt: str) -> str:
    if fmt == "mermaid":
        return mermaid(h, names)
    if fmt == "dot":
        return dot(h, names)
    if fmt == "json":
        return json.dumps(graph_json(h, names), indent=2)
    return tree(h, names)
