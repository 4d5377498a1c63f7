"""YAML nodes to plain values, checked: aliases bounded (loops, alias bombs), nesting
bounded, YAML 1.1 traps refused (`yes`, `010`, dates), duplicate keys refused (YAML
lets the last one win silently, which hides typos in large specs); and the position
of each value and key, by path, in the tables given.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import Problem

PathT = tuple[str | int, ...]
Table = dict[PathT, tuple[int, int]]


def dotted(path: PathT) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# libyaml's parser when PyYAML has it (ten times faster on large specs); both keep marks.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_IMPLICIT: dict[str | None, list[tuple[str, Any]]] = _Base.yaml_implicit_resolvers
_ANY_START = tuple(_IMPLICIT.get(None, []))
_BY_START = {c: (*rs, *_ANY_START) for c, rs in _IMPLICIT.items() if c is not None}


class Loader(_Base):  # type: ignore[valid-type, misc]
    """The safe loader, its tags found as PyYAML finds them, in less time: composing a
    big spec asks for 700,000 (its resolvers by first character are joined once)."""

    if not _Base.yaml_path_resolvers:  # none in a safe loader: its two hooks a node do
        descend_resolver: Any = staticmethod({}.get)  # nothing, called as C, not as Python
        ascend_resolver: Any = staticmethod(tuple)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if kind is yaml.MappingNode:
            return self.DEFAULT_MAPPING_TAG
        if kind is yaml.SequenceNode:
            return self.DEFAULT_SEQUENCE_TAG
        for tag, regexp in _BY_START.get(value[:1], _ANY_START) if implicit[0] else ():
            if regexp.match(value):
                return tag
        return self.DEFAULT_SCALAR_TAG


MAX_DEPTH = 200  # nesting of mappings and lists (libyaml's own limit is 1000)
ALIAS_GROWTH = 10  # values reached again through aliases, per value written (plus ALIAS_FREE)
ALIAS_FREE = 10_000
PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"  # its value is the node's text: no constructor needed
# YAML 1.1 reads these plain words as booleans; only true/false mean that here.
BOOL_WORDS = ("true", "false")


def _pos(node: yaml.Node) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


class Stop(Exception):
    """Building stops: one problem says why (and no other can be trusted after it)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class Builder:
    """Plain values from the nodes of `file`, checked, and the position of each (but
    under `targets`) in `tables` (values, keys); given `every`, of each in those."""

    def __init__(
        self,
        file: Path,
        loader: yaml.SafeLoader,
        tables: tuple[Table, Table],
        every: tuple[Table, Table] | None = None,
    ) -> None:
        self.file = file
        self.loader = loader
        self.every = every is not None
        self.tables: tuple[Table, Table] | None = every or tables
        self.problems: list[Problem] = []
        self.built: set[yaml.Node] = set()  # the nodes built once already (by identity)
        self.again = 0  # values built again, reached through an alias
        self.open: set[yaml.Node] = set()  # nodes being built: one reached again is a loop

    def _stop(self, node: yaml.Node, path: PathT, message: str) -> Stop:
        return Stop(Problem(self.file, *_pos(node), dotted(path), message))

    def _problem(self, node: yaml.Node, path: PathT, message: str) -> None:
        self.problems.append(Problem(self.file, *_pos(node), dotted(path), message))

    def build(self, node: yaml.Node, path: PathT, at: yaml.Node | None = None) -> Any:
        """The value of `node` at `path`; `at`: where it is referred to (a key)."""
        if node in self.built:  # reached again: through an alias
            self._again(node, path, at or node)
        elif len(path) > MAX_DEPTH:
            raise self._stop(at or node, path, f"nested more than {MAX_DEPTH} levels deep")
        else:
            self.built.add(node)
        if self.tables is not None:
            self.tables[0][path] = _pos(node)
        if isinstance(node, yaml.ScalarNode):
            return node.value if node.tag == STR_TAG else self._scalar(node, path)
        if node.tag not in PLAIN_TAGS:
            raise self._stop(node, path, f"YAML tag {node.tag} is not supported here; remove it")
        self.open.add(node)
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [
                item.value if self._plain(item, sub) else self.build(item, sub, item)
                for i, item in enumerate(node.value)
                for sub in ((*path, i),)
            ]
        finally:
            self.open.discard(node)

    def _plain(self, node: yaml.Node, path: PathT) -> bool:
        """Whether `node` is a text met once (most values are), then noted as `build`
        notes it: their values without a call of `build` each."""
        if (
            node.__class__ is not yaml.ScalarNode
            or node.tag != STR_TAG
            or node in self.built
            or len(path) > MAX_DEPTH
        ):
            return False
        self.built.add(node)
        if self.tables is not None:
            self.tables[0][path] = _pos(node)
        return True

    def _again(self, node: yaml.Node, path: PathT, where: yaml.Node) -> None:
        """A node built before, met again: a loop, too deep, or one alias too many."""
        if node in self.open:  # (nodes being built are among those built)
            loop = "this alias refers to a value that holds it: a loop; write the value out"
            raise self._stop(where, path, loop)
        if len(path) > MAX_DEPTH:
            raise self._stop(where, path, f"nested more than {MAX_DEPTH} levels deep")
        self.again += 1
        if self.again > ALIAS_FREE + ALIAS_GROWTH * len(self.built):
            raise self._stop(
                where,
                path,
                "YAML aliases here expand to far more values than the file holds (an "
                "alias bomb?); write the values out, or use fewer nested aliases",
            )

    def _scalar(self, node: yaml.ScalarNode, path: PathT) -> Any:
        try:
            value = self.loader.construct_object(node)
        except ValueError:  # an integer of thousands of digits
            raise self._stop(node, path, "a number too long to read; quote it") from None
        if not node.style and isinstance(value, dt.date):  # also a datetime
            text = node.value
            self._problem(node, path, f"{text} is read by YAML as a date; quote it ('{text}')")
            return node.value
        if not node.style and isinstance(value, bool | int | float):
            text = node.value
            plain = text.lower() in BOOL_WORDS if isinstance(value, bool) else text == str(value)
            if not plain:
                shown = str(value).lower() if isinstance(value, bool) else str(value)
                self._problem(
                    node,
                    path,
                    f"{text} is read by YAML as {shown}; quote it ('{text}') if you mean "
                    f"the text{', or write true or false' if isinstance(value, bool) else ''}",
                )
        return value

    def _mapping(self, node: yaml.MappingNode, path: PathT) -> dict[str, Any]:
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        mine: set[int] | None = None  # the mapping's own keys, when it merges others
        if MERGE_TAG in [k.tag for k, _ in pairs]:
            own = [(k, v) for k, v in pairs if k.tag != MERGE_TAG]
            self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
            mine = {id(k) for k, _ in own}
            pairs = [*own, *((k, v) for k, v in node.value if id(k) not in mine)]
        keys = self.tables[1] if self.tables is not None else None
        out: dict[str, Any] = {}
        # A mapping's own keys win over merged ones (YAML's merge key), the first merged
        # value over later ones; only two own keys alike are a duplicate.
        for key_node, value_node in pairs:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == STR_TAG:
                key: str | None = key_node.value
            else:
                key = self._key(key_node, path)
            if key is None:
                continue
            sub = (*path, key)
            if key in out:
                if mine is None or id(key_node) in mine:
                    first = next(k for k, _ in pairs if self._is_key(k, key))
                    self._problem(
                        key_node,
                        sub,
                        f"duplicate key (first defined on line {_pos(first)[0]}); "
                        "remove one of them",
                    )
                continue
            if keys is not None:
                keys[sub] = _pos(key_node)
            if self._plain(value_node, sub):
                out[key] = value_node.value
            elif path or key != "targets" or self.every:
                out[key] = self.build(value_node, sub, key_node)
            else:  # their positions are found again when asked (yamlpos.Document)
                noted, self.tables = self.tables, None
                out[key] = self.build(value_node, sub, key_node)
                self.tables = noted
        return out

    def _is_key(self, node: yaml.Node, key: str) -> bool:
        """Whether `node`, a key already read, reads as `key`."""
        if not isinstance(node, yaml.ScalarNode):
            return False
        return bool(
            (node.value if node.tag == STR_TAG else self.loader.construct_object(node)) == key
        )

    def _key(self, node: yaml.Node, path: PathT) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            key = None
        elif node.tag == STR_TAG:
            return str(node.value)
        else:
            key = self.loader.construct_object(node)
        if isinstance(key, str):
            return key
        if isinstance(node, yaml.ScalarNode) and key is not None:
            text = node.value
            message = (
                f"the key {text} is read by YAML as {str(key).lower()}, not as text; quote it "
                f"('{text}')"
            )
        else:
            message = "mapping keys must be plain strings"
        self._problem(node, path, message)
        return None
