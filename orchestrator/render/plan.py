"""`stackbake plan`: the selected targets in build order, as text or stable JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator.errors import display_path
from orchestrator.freshness.uptodate import Freshness
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.refs import host_platform
from orchestrator.render.common import externals_json, parents_json, rel

PLAN_SCHEMA_ID = "stackbake.plan/v1"
EDGE_LABELS = {"from": "from:", "copy": "copies:", "declared": "after:"}


def plan_json(
    h: Hierarchy,
    order: list[str],
    requested: list[str],
    fresh: Freshness | None = None,
    *,
    changes: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    spec = h.spec
    level = h.levels()
    targets = []
    for name in order:
        t = spec.targets[name]
        targets.append(
            {
                "name": name,
                "level": level[name],
                "requested": name in requested,
                "context": rel(t.context, spec.folder),
                "dockerfile": rel(t.dockerfile, spec.folder),
                "target": t.stage,
                "test": t.test,
                "platforms": list(t.platforms) or [host_platform()],
                "tags": list(t.tags),
                "args": dict(t.args),
                "labels": dict(t.labels),
                "cache_from": [c.to_flag() for c in t.cache_from],
                "cache_to": [c.to_flag() for c in t.cache_to],
                "secrets": [s.id for s in t.secrets],
                "depends_on": list(t.depends_on),
                "parents": parents_json(h, name),
                "external_bases": externals_json(h, name),
            }
        )
        if fresh is not None:
            reasons = fresh.reasons(name)
            targets[-1] |= {
                "key": fresh.key(name),
                "action": "build" if reasons else "up-to-date",
                "reasons": reasons,
            }
        if changes is not None:
            targets[-1]["changes"] = list(changes.get(name, []))
    variables = {
        name: {"value": value, "source": spec.variable_sources.get(name, "spec")}
        for name, value in sorted(spec.variables.items())
    }
    return {
        "schema": PLAN_SCHEMA_ID,
        "spec": display_path(spec.path),
        "variables": variables,
        "targets": targets,
    }


def plan_text(
    h: Hierarchy,
    order: list[str],
    requested: list[str],
    fresh: Freshness | None = None,
    *,
    changes: Mapping[str, list[str]] | None = None,
) -> str:
    data = plan_json(h, order, requested, fresh, changes=changes)
    levels = {t["level"] for t in data["targets"]}
    lines = [
        f"Plan for {data['spec']}: {len(order)} target{'s' * (len(order) != 1)} "
        f"in {len(levels)} level{'s' * (len(levels) != 1)}"
    ]
    outside = [
        f"{name}={v['value']} ({v['source']})"
        for name, v in data["variables"].items()
        if v["source"] != "spec"
    ]
    if outside:
        lines.append(f"Variables not from the spec: {', '.join(outside)}")
    for i, t in enumerate(data["targets"], 1):
        note = "" if t["requested"] else ", needed by the selection"
        stage = f", stage {t['target']}" if t["target"] else ""
        test = f", test stage {t['test']}" if t["test"] else ""
        lines.append(f"{i:>3}. {t['name']}  [level {t['level']}{stage}{test}{note}]")
        if "changes" in t:
            lines.append(f"       {'changed:':<10} {'; '.join(t['changes'])}")
        if "action" in t:
            why = f": {'; '.join(t['reasons'])}" if t["reasons"] else ""
            lines.append(f"       {t['action'] + ':':<10} key {t['key'][:12]}{why}")
        for p in t["parents"]:
            how = "; ".join(_origin(o) for o in p["origins"])
            lines.append(f"       {EDGE_LABELS[p['kind']]:<10} {p['name']} ({how})")
        externals: dict[str, list[str]] = {}
        for e in t["external_bases"]:
            externals.setdefault(e["ref"], []).append(_origin(e["origin"]))
        for ref, origins in externals.items():
            lines.append(f"       {'external:':<10} {ref} ({'; '.join(origins)})")
        lines.append(f"       {'platforms:':<10} {', '.join(t['platforms'])}")
        lines.append(f"       {'tags:':<10} {', '.join(t['tags']) or '(none: named locally)'}")
    return "\n".join(lines)


def _origin(o: dict[str, Any]) -> str:
    where = f"{o['file']}:{o['line']}"
    return f"declared in {where}" if o["kind"] == "declared" else f"{where} {o['detail']}"


def render_plan(
    h: Hierarchy,
    order: list[str],
    requested: list[str],
    fmt: str,
    fresh: Freshness | None = None,
    *,
    changes: Mapping[str, list[str]] | None = None,
) -> str:
    if fmt == "json":
        return json.dumps(plan_json(h, order, requested, fresh, changes=changes), indent=2)
    return plan_text(h, order, requested, fresh, changes=changes)
