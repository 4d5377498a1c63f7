"""The spec's JSON Schema: one file, `schemas/builds.schema.json`, shipped in the wheel."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_NAME = "builds.schema.json"


def schema_text() -> str:
    """The schema as shipped: inside the installed package, else the source tree's copy."""
    packaged = resources.files("orchestrator").joinpath("schemas", SCHEMA_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    # Running from a source checkout (or an editable install): the single source.
    source = Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME
    return source.read_text(encoding="utf-8")


@cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_text())
    return loaded


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (`#/$defs/...`) of a subschema, merging its keywords."""
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    target: Any = schema()
    for part in ref[2:].split("/"):
        target = target[part]
    merged = dict(resolve(target))
    merged["properties"] = {**target.get("properties", {}), **node.get("properties", {})}
    merged.update({k: v for k, v in node.items() if k not in ("$ref", "properties")})
    return merged


def known_keys(node: dict[str, Any]) -> list[str]:
    """The property names a mapping schema accepts (after `$ref`)."""
    return list(resolve(node).get("properties", {}))


def target_schema() -> dict[str, Any]:
    return resolve(schema()["$defs"]["target"])
