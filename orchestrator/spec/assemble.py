"""Turn schema-valid documents into a `Spec`: includes merged, defaults applied,
placeholders interpolated, every value keeping the place it was written."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.errors import ProblemCollector
from orchestrator.spec.model import BuilderRef, CacheEntry, Group, Secret, Spec, Target, Where
from orchestrator.spec.overrides import Override, parse_overrides
from orchestrator.spec.variables import GitFacts, InterpolationError, Variables
from orchestrator.spec.yamlpos import Document, PathT, dotted

_MERGED_MAPPINGS = ("args", "labels")


def _where(doc: Document, path: PathT, *, key: bool = False) -> Where:
    pos = (doc.keys if key else doc.values).get(path) or doc.where(path, key=key)
    return Where(doc.path, pos[0], pos[1], dotted(path))


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
        # Where the `defaults` values were written: the same for every target.
        self.default_where: dict[tuple[int, PathT], Where] = {}
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

    def interpolate(self, text: str, where: Where, target: str | None) -> str:
        try:
            return self.vars.interpolate(text, target)
        except InterpolationError as exc:
            spot = self.var_where.get(exc.variable, where) if exc.variable else where
            self.out.add(spot.problem(str(exc)))
            return text

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

    def layers(self, doc: Document, name: str) -> list[tuple[Document, PathT]]:
        layers: list[tuple[Document, PathT]] = []
        if "defaults" in self.root.data:
            layers.append((self.root, ("defaults",)))
        if doc is not self.root and "defaults" in doc.data:
            layers.append((doc, ("defaults",)))
        layers.append((doc, ("targets", name)))
        return layers

    def merged_fields(self, doc: Document, name: str) -> tuple[dict[str, Any], dict[str, Where]]:
        """Fields of a target over its defaults, and where each value came from."""
        fields: dict[str, Any] = {}
        where: dict[str, Where] = {"": _where(doc, ("targets", name), key=True)}
        for layer_doc, prefix in self.layers(doc, name):
            node = layer_doc.data
            for part in prefix:
                node = node.get(part) or {}
            at = self._default_where if prefix == ("defaults",) else _where
            for key, value in node.items():
                if key.startswith("x-"):
                    continue
                where[key] = at(layer_doc, (*prefix, key))
                if key in _MERGED_MAPPINGS:
                    fields.setdefault(key, {}).update(value)
                    for sub in value:
                        where[f"{key}.{sub}"] = at(layer_doc, (*prefix, key, sub))
                    continue
                fields[key] = value
                for i, item in enumerate(value if isinstance(value, list) else []):
                    where[f"{key}[{i}]"] = at(layer_doc, (*prefix, key, i))
                    if isinstance(item, dict):
                        for sub in item:
                            where[f"{key}[{i}].{sub}"] = at(layer_doc, (*prefix, key, i, sub))
        for override in self.sets:
            if override.matches(name):
                self._apply(override, fields, where)
        return fields, where

    def _default_where(self, doc: Document, path: PathT) -> Where:
        """_where of a value under `defaults`, computed once for all targets."""
        cached = self.default_where.get((id(doc), path))
        if cached is None:
            cached = self.default_where[id(doc), path] = _where(doc, path)
        return cached

    @staticmethod
    def _apply(override: Override, fields: dict[str, Any], where: dict[str, Where]) -> None:
        """Command-line values are literal: `$` is escaped before interpolation."""

        def literal(value: Any) -> Any:
            if isinstance(value, str):
                return value.replace("$", "$$")
            if isinstance(value, list):
                return [literal(v) for v in value]
            return value

        spot = Where(None, 0, 0, f"--set {override.raw}")
        if override.name is not None:
            fields.setdefault(override.key, {})[override.name] = literal(override.value)
            where[f"{override.key}.{override.name}"] = spot
            where.setdefault(override.key, spot)
            return
        fields[override.key] = literal(override.value)
        where[override.key] = spot
        for i in range(len(override.value) if isinstance(override.value, list) else 0):
            where[f"{override.key}[{i}]"] = spot

    def render(self, value: Any, key: str, where: dict[str, Where], target: str) -> Any:
        spot = where.get(key) or where[key.split("[", 1)[0].split(".", 1)[0]]
        if isinstance(value, str):
            return self.interpolate(value, spot, target)
        if isinstance(value, list):
            return [self.render(v, f"{key}[{i}]", where, target) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.render(v, f"{key}.{k}", where, target) for k, v in value.items()}
        return value

    def path(self, folder: str, written: str) -> Path:
        """`written` relative to `folder`, normalised; one object per path, so that the
        checks after this hash and compare each path once, not once per target."""
        text = os.path.normpath(os.path.join(folder, written))
        known = self.paths.get(text)
        if known is None:
            known = self.paths[text] = Path(text)
        return known

    def target(self, doc: Document, name: str) -> Target:
        raw, where = self.merged_fields(doc, name)
        f = {k: self.render(v, k, where, name) for k, v in raw.items()}
        folder = str(doc.path.parent)
        context = self.path(folder, f.get("context", "."))
        dockerfile = self.path(str(context), f.get("dockerfile", "Dockerfile"))
        secrets = tuple(
            Secret(
                id=s["id"],
                src=self.path(folder, os.path.expanduser(s["src"])) if "src" in s else None,
                env=s.get("env"),
            )
            for s in f.get("secrets", [])
        )
        return Target(
            name=name,
            spec_file=doc.path,
            context=context,
            dockerfile=dockerfile,
            stage=f.get("target"),
            test=f.get("test"),
            description=f.get("description", ""),
            args={k: _scalar(v) for k, v in f.get("args", {}).items()},
            labels={k: _scalar(v) for k, v in f.get("labels", {}).items()},
            tags=tuple(f.get("tags", [])),
            tag_templates=tuple(str(t) for t in raw.get("tags", [])),
            platforms=tuple(f.get("platforms", [])),
            cache_from=tuple(_cache(c) for c in f.get("cache_from", [])),
            cache_to=tuple(_cache(c) for c in f.get("cache_to", [])),
            secrets=secrets,
            ssh=tuple(f.get("ssh", [])),
            network=f.get("network"),
            no_cache=bool(f.get("no_cache", False)),
            pull=bool(f.get("pull", False)),
            reproducible=bool(f.get("reproducible", False)),
            epoch=f["reproducible"].get("epoch")
            if isinstance(f.get("reproducible"), dict)
            else None,
            builder=f.get("builder"),
            depends_on=tuple(f.get("depends_on", [])),
            where=where,
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
        builders = self.builders()
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
