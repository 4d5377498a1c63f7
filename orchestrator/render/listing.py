"""`stackbake ls`: targets and groups with their contexts."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.render.common import columns, rel
from orchestrator.spec.checks import group_members
from orchestrator.spec.model import Spec


def listing_json(spec: Spec) -> dict[str, Any]:
    members = {g: group_members(spec, g) for g in spec.groups}
    of: dict[str, list[str]] = {t: [] for t in spec.targets}
    for group, names in members.items():
        for name in names:
            of[name].append(group)
    return {
        "targets": [
            {
                "name": t.name,
                "context": rel(t.context, spec.folder),
                "dockerfile": rel(t.dockerfile, t.context),
                "target": t.stage,
                "description": t.description,
                "groups": of[t.name],
            }
            for t in spec.targets.values()
        ],
        "groups": [
            {"name": g, "members": list(spec.groups[g].members), "targets": members[g]}
            for g in spec.groups
        ],
    }


def listing_text(spec: Spec) -> str:
    data = listing_json(spec)
    rows = [["TARGET", "CONTEXT", "DOCKERFILE", "STAGE", "GROUPS", "DESCRIPTION"]]
    rows += [
        [
            t["name"],
            t["context"],
            t["dockerfile"],
            t["target"] or "-",
            ",".join(t["groups"]) or "-",
            t["description"],
        ]
        for t in data["targets"]
    ]
    out = columns(rows)
    if data["groups"]:
        grows = [["GROUP", "TARGETS"]]
        grows += [[g["name"], ", ".join(g["targets"])] for g in data["groups"]]
        out += "\n\n" + columns(grows)
    return out


def render_listing(spec: Spec, fmt: str) -> str:
    return json.dumps(listing_json(spec), indent=2) if fmt == "json" else listing_text(spec)
