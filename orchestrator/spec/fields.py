"""A target's fields: its own over its file's defaults (and the root file's), then the
`--set` flags; and where each was written, worked out when first asked (for a problem,
or an edge a `depends_on` declares): the targets of a big valid spec never ask, and
100,000 of them took a second to answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

from orchestrator.spec.model import Where
from orchestrator.spec.overrides import Override
from orchestrator.spec.yamlpos import Document, PathT, dotted

MERGED_MAPPINGS = ("args", "labels", "gates")  # merged key by key over the defaults
Layer = tuple[Document, PathT]


def where(doc: Document, path: PathT, *, key: bool = False) -> Where:
    """Where the value at `path` (or its key) was written."""
    values, keys = doc.tables(path)
    pos = (keys if key else values).get(path) or doc.where(path, key=key)
    return Where(doc.path, pos[0], pos[1], dotted(path))


class Spots(Mapping[str, Where]):
    """A target's `where`: field (or list item, "tags[0]", or mapping entry, "args.X")
    to where it was written, "" to the target's own name; made on first use."""

    __slots__ = ("_make", "_table")

    def __init__(self, make: Callable[[], dict[str, Where]]) -> None:
        self._make = make
        self._table: dict[str, Where] | None = None

    def _get(self) -> dict[str, Where]:
        table = self._table  # two threads asking at once both make the same table
        if table is None:
            table = self._table = self._make()
        return table

    def __getitem__(self, key: str) -> Where:
        return self._get()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._get()

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


class Fields:
    """The layers a target's fields come from, merged, and where each field was
    written; the `defaults` merged, and their values' places found, once for all."""

    def __init__(self, root: Document, sets: Sequence[Override]) -> None:
        self.root = root
        self.sets = sets
        self.bases: dict[int, dict[str, Any]] = {}  # a document's defaults, merged
        self.default_where: dict[tuple[int, PathT], Where] = {}

    def layers(self, doc: Document, name: str) -> list[Layer]:
        layers: list[Layer] = []
        if "defaults" in self.root.data:
            layers.append((self.root, ("defaults",)))
        if doc is not self.root and "defaults" in doc.data:
            layers.append((doc, ("defaults",)))
        layers.append((doc, ("targets", name)))
        return layers

    def merged(self, doc: Document, name: str) -> dict[str, Any]:
        """Fields of target `name`, as written (before interpolation)."""
        base = self.bases.get(id(doc))
        if base is None:
            base = self.bases[id(doc)] = {}
            for layer_doc, prefix in self.layers(doc, name)[:-1]:
                base = self.bases[id(doc)] = _merged(base, layer_doc.data.get(prefix[0]) or {})
        fields = _merged(base, doc.data["targets"].get(name) or {})
        for override in self.sets:
            if override.matches(name):
                _apply(override, fields)
        return fields

    def spots(self, doc: Document, name: str) -> Spots:
        return Spots(partial(self.table, doc, name))

    def table(self, doc: Document, name: str) -> dict[str, Where]:
        """Where each field of target `name` was written, as `merged` merges them."""
        out: dict[str, Where] = {"": where(doc, ("targets", name), key=True)}
        for layer_doc, prefix in self.layers(doc, name):
            node: Any = layer_doc.data
            for part in prefix:
                node = node.get(part) or {}
            at = self._default_where if prefix == ("defaults",) else where
            for key, value in node.items():
                if key.startswith("x-"):
                    continue
                out[key] = at(layer_doc, (*prefix, key))
                if key in MERGED_MAPPINGS:
                    for sub in value:
                        out[f"{key}.{sub}"] = at(layer_doc, (*prefix, key, sub))
                    continue
                for i, item in enumerate(value if isinstance(value, list) else []):
                    out[f"{key}[{i}]"] = at(layer_doc, (*prefix, key, i))
                    if isinstance(item, dict):
                        for sub in item:
                            out[f"{key}[{i}].{sub}"] = at(layer_doc, (*prefix, key, i, sub))
        for override in self.sets:
            if override.matches(name):
                _set_where(override, out)
        return out

    def _default_where(self, doc: Document, path: PathT) -> Where:
        """`where` of a value under `defaults`, found once for all targets."""
        cached = self.default_where.get((id(doc), path))
        if cached is None:
            cached = self.default_where[id(doc), path] = where(doc, path)
        return cached


def _merged(fields: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """A layer's fields over `fields` (args and labels key by key), in a new dict; its
    extension fields (`x-`) too, which a target ignores."""
    out = {**fields, **layer}
    for key in MERGED_MAPPINGS:
        if key in layer and key in fields:
            out[key] = {**fields[key], **layer[key]}
    return out


def _apply(override: Override, fields: dict[str, Any]) -> None:
    """Command-line values are literal: `$` is escaped before interpolation."""

    def literal(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("$", "$$")
        if isinstance(value, list):
            return [literal(v) for v in value]
        return value

    if override.name is None:
        fields[override.key] = literal(override.value)
    else:
        entry = {override.name: literal(override.value)}
        fields[override.key] = {**fields.get(override.key, {}), **entry}


def _set_where(override: Override, out: dict[str, Where]) -> None:
    spot = Where(None, 0, 0, f"--set {override.raw}")
    if override.name is not None:
        out[f"{override.key}.{override.name}"] = spot
        out.setdefault(override.key, spot)
        return
    out[override.key] = spot
    for i in range(len(override.value) if isinstance(override.value, list) else 0):
        out[f"{override.key}[{i}]"] = spot
