"""Turn schema-valid documents into a `Spec`: includes merged, defaults applied,
placeholders interpolated, every value keeping the place it was written."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator.errors import ProblemCollector
from orchestrator.spec.fields import Fields
from orchestrator.spec.fields import where as _where
from orchestrator.spec.gates import gates_from, signing_from
from orchestrator.spec.mirrors import read_mirrors
from orchestrator.spec.model import (
    BuilderRef,
    CacheEntry,
    Group,
    Secret,
    Spec,
    Target,
    Where,
)
from orchestrator.spec.overrides import parse_overrides
from orchestrator.spec.registries import read_registries
from orchestrator.spec.variables import GitFacts, InterpolationError, Variables
from orchestrator.spec.yamlpos import Document, PathT

# Fields a Target takes as written (under its own name), and those it takes as tuples.
_AS_IS = {"target": "stage", "test": "test", "description": "description", "network": "network"}
_AS_IS |= {"builder": "builder"}
_TUPLES = frozenset(("tags", "platforms", "ssh", "depends_on"))
_OTHERS = ("args", "labels", "cache_from", "cache_to", "no_cache", "pull", "reproducible")
_FIELDS = frozenset(("gates", "sign", *_OTHERS))
_FIELDS |= frozenset(("context", "dockerfile", "secrets", *_AS_IS, *_TUPLES))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Assembler:
    def __init__(
        self,
        docs: list[Document],
        overrides: Mapping[str, str],
        environ: Mapping[str, str],
        sets: Sequence[str] = (),
    ) -> None:
        self.docs = docs
        self.root = docs[0]
        names = [n for d in docs for n in d.data.get("targets", {})]
        self.sets = parse_overrides(sets, names)
        self.out = ProblemCollector()
        self.var_where: dict[str, Where] = {}
        self.paths: dict[str, Path] = {}
        self.places: dict[tuple[str, str], Path] = {}  # (folder, as written) -> path
        self.folders: dict[int, str] = {}  # each document's folder
        self.fields = Fields(self.root, self.sets)
        block: dict[str, str] = {}
        for doc in docs:
            for name, value in doc.data.get("variables", {}).items():
                here = _where(doc, ("variables", name), key=True)
                if name in block and block[name] != _scalar(value):
                    first = self.var_where[name]
                    self.out.add(
                        here.problem(
                            f"variable also defined in {first.spot()} with another "
                            "value; keep one definition"
                        )
                    )
                    continue
                block.setdefault(name, _scalar(value))
                self.var_where.setdefault(name, here)
        self.vars = Variables(block, overrides, environ, GitFacts(self.root.path.parent))

    def _failed(self, exc: InterpolationError, where: Where) -> None:
        spot = self.var_where.get(exc.variable, where) if exc.variable else where
        self.out.add(spot.problem(str(exc)))

    def check_variables(self) -> dict[str, str]:
        resolved = {}
        in_loops: set[str] = set()
        for name, where in self.var_where.items():
            try:
                resolved[name] = self.vars.interpolate(f"${{{name}}}", "${target}")
            except InterpolationError as exc:
                if name in in_loops:
                    continue  # its loop is reported once, at its first variable
                in_loops |= exc.loop
                spot = self.var_where.get(exc.variable or name, where)
                self.out.add(spot.problem(str(exc)))
        return resolved

    def render(self, value: Any, key: str, where: Mapping[str, Where], target: str) -> Any:
        """`value` interpolated; a text without `$` is kept as it is, as interpolation
        would keep it (most values of a big spec)."""
        if isinstance(value, str):
            if "$" not in value:
                return value
            try:
                return self.vars.interpolate(value, target)
            except InterpolationError as exc:
                self._failed(exc, where.get(key) or where[key.split("[", 1)[0].split(".", 1)[0]])
                return value
        if isinstance(value, list):
            return [self.render(v, f"{key}[{i}]", where, target) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.render(v, f"{key}.{k}", where, target) for k, v in value.items()}
        return value

    def path(self, folder: str, written: str) -> Path:
        """`written` relative to `folder`, normalised; one object per path, so that the
        checks after this hash and compare each path once, not once per target."""
        known = self.places.get((folder, written))
        if known is None:
            text = os.path.normpath(os.path.join(folder, written))
            known = self.paths.get(text)
            if known is None:
                known = self.paths[text] = Path(text)
            self.places[folder, written] = known
        return known

    def target(self, doc: Document, name: str) -> Target:
        raw = self.fields.merged(doc, name)
        where = self.fields.spots(doc, name)
        folder = self.folders.get(id(doc))
        if folder is None:
            folder = self.folders[id(doc)] = str(doc.path.parent)
        given: dict[str, Any] = {}  # the fields written; Target's defaults for the others
        gates: dict[str, Any] = {}
        written = {"context": ".", "dockerfile": "Dockerfile"}
        for key, as_written in raw.items():
            if key not in _FIELDS:
                continue  # an extension field (x-)
            value: Any = self.render(as_written, key, where, name)
            if key in written:
                written[key] = value
            elif key in _AS_IS:
                given[_AS_IS[key]] = value
            elif key in _TUPLES:
                given[key] = tuple(value)
            elif key in ("args", "labels"):
                given[key] = {k: _scalar(v) for k, v in value.items()}
            elif key in ("cache_from", "cache_to"):
                given[key] = tuple(map(_cache, value))
            elif key in ("no_cache", "pull"):
                given[key] = bool(value)
            elif key == "reproducible":
                given[key] = bool(value)
                given["epoch"] = value.get("epoch") if isinstance(value, dict) else None
            elif key == "secrets":
                given[key] = self.secrets(folder, value)
            elif key == "gates":
                gates = value
            elif key == "sign":
                given[key] = signing_from(self.key_paths(folder, value)) if value else None
        if "tags" in raw:
            given["tag_templates"] = tuple(map(str, raw["tags"]))
        context = self.path(folder, written["context"])
        dockerfile = self.path(str(context), written["dockerfile"])
        if gates:
            given["gates"] = gates_from(gates, partial(self.path, str(context)))
        return Target(name, doc.path, context, dockerfile, where=where, **given)

    def key_paths(self, folder: str, sign: dict[str, Any]) -> dict[str, Any]:
        """`sign`'s key files relative to the spec's folder (a KMS URI as written)."""
        out = dict(sign)
        for field in ("key", "public_key"):
            if field in out and "://" not in out[field]:
                out[field] = str(self.path(folder, os.path.expanduser(out[field])))
        return out

    def secrets(self, folder: str, written: list[dict[str, Any]]) -> tuple[Secret, ...]:
        return tuple(
            Secret(
                id=s["id"],
                src=self.path(folder, os.path.expanduser(s["src"])) if "src" in s else None,
                env=s.get("env"),
            )
            for s in written
        )

    def assemble(self) -> Spec:
        variables = self.check_variables()
        targets: dict[str, Target] = {}
        groups: dict[str, Group] = {}
        for doc in self.docs:
            for name in doc.data.get("targets", {}):
                if name in targets:
                    self._duplicate(doc, ("targets", name), "target", targets[name].where[""])
                    continue
                targets[name] = self.target(doc, name)
        for doc in self.docs:
            for name, members in doc.data.get("groups", {}).items():
                here = _where(doc, ("groups", name), key=True)
                if name in groups:
                    self._duplicate(doc, ("groups", name), "group", groups[name].where)
                    continue
                if name in targets:
                    first = targets[name].where[""]
                    self.out.add(
                        here.problem(
                            f"a group cannot share its name with the target defined at "
                            f"{first.spot()}; rename the group"
                        )
                    )
                    continue
                groups[name] = Group(
                    name,
                    tuple(members),
                    here,
                    tuple(_where(doc, ("groups", name, i)) for i in range(len(members))),
                )
        builders, mirrors = self.builders(), read_mirrors(self.docs, self.expand)
        registries = read_registries(self.docs, self.path, self.out)
        self.out.raise_if_any()
        return Spec(
            path=self.root.path,
            targets=targets,
            groups=groups,
            files=tuple(d.path for d in self.docs),
            variables=variables,
            variable_sources={
                name: "--var"
                if name in self.vars.overrides
                else "environment"
                if name in self.vars.environ
                else "spec"
                for name in variables
            },
            builders=builders,
            mirrors=mirrors,
            registries=registries,
        )

    def builders(self) -> dict[str, BuilderRef]:
        """`builders:` of every file; a platform named twice is an error."""
        out: dict[str, BuilderRef] = {}
        for doc in self.docs:
            for platform, value in doc.data.get("builders", {}).items():
                here = _where(doc, ("builders", platform), key=True)
                if platform in out:
                    first = out[platform].where
                    spot = first.spot() if first else "another file"
                    self.out.add(
                        here.problem(
                            f"platform {platform} already has a builder in {spot}; keep one"
                        )
                    )
                    continue
                if isinstance(value, str):
                    out[platform] = BuilderRef(builder=value, where=here)
                elif len(value) != 1:
                    self.out.add(
                        _where(doc, ("builders", platform)).problem(
                            "name one place to build: {builder: NAME} or {context: NAME}"
                        )
                    )
                else:
                    out[platform] = BuilderRef(value.get("builder"), value.get("context"), here)
        return out

    def expand(self, value: str, where: Where) -> str:
        """A value outside any target interpolated; a problem at `where` if it fails."""
        return str(self.render(value, "value", {"value": where}, "${target}"))

    def _duplicate(self, doc: Document, path: PathT, kind: str, first: Where) -> None:
        here = _where(doc, path, key=True)
        self.out.add(
            here.problem(
                f"{kind} {path[-1]!r} is already defined in {first.spot()}; rename one of them"
            )
        )


def _cache(entry: str | dict[str, Any]) -> CacheEntry:
    if isinstance(entry, str):
        pairs = [p.partition("=") for p in entry.split(",")]
        attrs = [(k, v) if sep else ("type", k) for k, sep, v in pairs]
        return CacheEntry(tuple(attrs))
    items = [("type", _scalar(entry["type"]))]
    items += [(k, _scalar(v)) for k, v in entry.items() if k != "type"]
    return CacheEntry(tuple(items))


def assemble(
    docs: list[Document],
    overrides: Mapping[str, str],
    environ: Mapping[str, str],
    sets: Sequence[str] = (),
) -> Spec:
    return _Assembler(docs, overrides, environ, sets).assemble()
