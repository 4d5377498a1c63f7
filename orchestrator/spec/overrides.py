"""`--set TARGET.KEY=VALUE`: override a target's field from the command line, as in bake.

TARGET may be a glob (`'*'`, `'shop-*'`). KEY is a target field, or `args.NAME` /
`labels.NAME`. List fields take comma-separated values (`tags`, `platforms`, `ssh`),
except cache entries, which contain commas: one `--set` gives one entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.hints import did_you_mean

SCALARS = ("context", "dockerfile", "target", "test", "description", "network", "builder")
LISTS = ("tags", "platforms", "ssh")
ONE_ENTRY_LISTS = ("cache_from", "cache_to")
BOOLS = ("no_cache", "pull", "reproducible")
MAPPINGS = ("args", "labels")
KEYS = (*SCALARS, *LISTS, *ONE_ENTRY_LISTS, *BOOLS, *(f"{m}.NAME" for m in MAPPINGS))


@dataclass(frozen=True)
class Override:
    raw: str
    pattern: str
    key: str  # field, or "args"/"labels"
    name: str | None  # NAME for args/labels
    value: Any

    def matches(self, target: str) -> bool:
        return fnmatchcase(target, self.pattern)


def parse_override(raw: str) -> Override:
    left, sep, value = raw.partition("=")
    pattern, dot, key = left.partition(".")
    if not sep or not dot or not pattern or not key:
        raise UsageError(f"--set {raw!r}: write --set TARGET.KEY=VALUE (TARGET may be a glob)")
    name = None
    if key.split(".", 1)[0] in MAPPINGS:
        key, _, name = key.partition(".")
        if not name:
            raise UsageError(f"--set {raw!r}: write --set TARGET.{key}.NAME=VALUE")
        return Override(raw, pattern, key, name, value)
    if key in SCALARS:
        return Override(raw, pattern, key, None, value)
    if key in LISTS:
        return Override(raw, pattern, key, None, [v.strip() for v in value.split(",") if v.strip()])
    if key in ONE_ENTRY_LISTS:
        return Override(raw, pattern, key, None, [value])
    if key in BOOLS:
        if value.lower() not in ("true", "false"):
            raise UsageError(f"--set {raw!r}: {key} is true or false")
        return Override(raw, pattern, key, None, value.lower() == "true")
    hint = did_you_mean(key, [*SCALARS, *LISTS, *ONE_ENTRY_LISTS, *BOOLS, *MAPPINGS]) or (
        f"; keys: {', '.join(KEYS)}"
    )
    raise UsageError(f"--set {raw!r}: unknown key {key!r}{hint}")


def check_value(override: Override) -> None:
    """The value is checked as the same value written in the spec would be (the schema):
    `--set app.network=bogus` or `--set app.platforms=` (none) is an error, not a quiet
    default."""
    from pathlib import Path

    from orchestrator.spec.validate import validate_document
    from orchestrator.spec.yamlpos import Document

    value = {override.name: override.value} if override.name else override.value
    data = {"version": 1, "targets": {"t": {override.key: value}}}
    problems = validate_document(Document(Path("--set"), data))
    if problems:
        field = problems[0].path.removeprefix("targets.t.")
        raise UsageError(f"--set {override.raw!r}: {field}: {problems[0].message}")


def parse_overrides(raws: Iterable[str], targets: Iterable[str]) -> list[Override]:
    names = list(targets)
    out = []
    for raw in raws:
        override = parse_override(raw)
        check_value(override)
        if not any(override.matches(n) for n in names):
            hint = did_you_mean(override.pattern, names)
            raise UsageError(f"--set {raw!r}: no target matches {override.pattern!r}{hint}")
        out.append(override)
    return out
