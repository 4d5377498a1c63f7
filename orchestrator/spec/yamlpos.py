"""Safe YAML loading that keeps the line and column of every key and value.

PyYAML's composer gives nodes with marks; we build plain Python values from them
ourselves so that every value has a path (`("targets", "web", "tags", 0)`) and a
position. Duplicate keys are refused: YAML allows the last one to win silently,
which hides typos in large specs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from orchestrator.errors import Problem, SpecError
from orchestrator.spec.textfile import read_text

PathT = tuple[str | int, ...]


class Pos(NamedTuple):
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Document:
    """A loaded YAML file: its data and where each piece of it was written."""

    path: Path
    data: Any
    # (line, col) of each value and key, made as plain tuples (100,000s for a big spec)
    values: dict[PathT, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathT, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: PathT, *, key: bool = False) -> Pos:
        """Position of a value (or of its key), falling back to the nearest ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return Pos._make(table[probe])
            if not key and probe in self.keys:
                return Pos._make(self.keys[probe])
            probe = probe[:-1]
        return Pos._make(self.values.get((), (1, 1)))

    def problem(self, path: PathT, message: str, *, key: bool = False) -> Problem:
        pos = self.where(path, key=key)
        return Problem(self.path, pos.line, pos.col, dotted(path), message)


def dotted(path: PathT) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# libyaml's parser when PyYAML has it (ten times faster on large specs); both keep marks.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


class _Stop(Exception):
    """Building stops: one problem says why (and no other can be trusted after it)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Builder:
    def __init__(self, doc: Document, loader: yaml.SafeLoader) -> None:
        self.doc = doc
        self.loader = loader
        self.problems: list[Problem] = []
        self.built: set[int] = set()  # ids of the nodes built once already
        self.again = 0  # values built again, reached through an alias
        self.open: set[int] = set()  # nodes being built: one reached again is a loop

    def _stop(self, node: yaml.Node, path: PathT, message: str) -> _Stop:
        line, col = _pos(node)
        return _Stop(Problem(self.doc.path, line, col, dotted(path), message))

    def build(self, node: yaml.Node, path: PathT, at: yaml.Node | None = None) -> Any:
        """The value of `node` at `path`; `at`: where it is referred to (a key)."""
        where = at or node
        if id(node) in self.open:
            raise self._stop(
                where,
                path,
                "this alias refers to a value that holds it: a loop; write the value out",
            )
        if len(path) > MAX_DEPTH:
            raise self._stop(where, path, f"nested more than {MAX_DEPTH} levels deep")
        if id(node) in self.built:
            self.again += 1
            if self.again > ALIAS_FREE + ALIAS_GROWTH * len(self.built):
                raise self._stop(
                    where,
                    path,
                    "YAML aliases here expand to far more values than the file holds (an "
                    "alias bomb?); write the values out, or use fewer nested aliases",
                )
        else:
            self.built.add(id(node))
        self.doc.values[path] = _pos(node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if node.tag not in PLAIN_TAGS:
            raise self._stop(node, path, f"YAML tag {node.tag} is not supported here; remove it")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, i), item) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode, path: PathT) -> Any:
        if node.tag == STR_TAG:
            return node.value
        try:
            value = self.loader.construct_object(node)
        except ValueError:  # an integer of thousands of digits
            raise self._stop(node, path, "a number too long to read; quote it") from None
        if not node.style and isinstance(value, dt.date):  # also a datetime
            self.problems.append(
                self.doc.problem(
                    path, f"{node.value} is read by YAML as a date; quote it ('{node.value}')"
                )
            )
            return node.value
        if not node.style and isinstance(value, bool | int | float):
            text = node.value
            plain = text.lower() in BOOL_WORDS if isinstance(value, bool) else text == str(value)
            if not plain:
                shown = str(value).lower() if isinstance(value, bool) else str(value)
                self.problems.append(
                    self.doc.problem(
                        path,
                        f"{text} is read by YAML as {shown}; quote it ('{text}') if you mean "
                        f"the text{', or write true or false' if isinstance(value, bool) else ''}",
                    )
                )
        return value

    def _mapping(self, node: yaml.MappingNode, path: PathT) -> dict[str, Any]:
        own = [(k, v) for k, v in node.value if k.tag != MERGE_TAG]
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        mine: set[int] = set()
        if len(own) < len(node.value):
            self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
            mine = {id(k) for k, _ in own}
            merged = [(k, v) for k, v in node.value if id(k) not in mine]
        out: dict[str, Any] = {}
        # A mapping's own keys win over merged ones (YAML's merge key), the first merged
        # value over later ones; only two own keys alike are a duplicate.
        for key_node, value_node in (*own, *merged):
            key = self._key(key_node, path)
            if key is None:
                continue
            sub = (*path, key)
            if key in out:
                if not merged or id(key_node) in mine:
                    line, col = _pos(key_node)
                    self.problems.append(
                        Problem(
                            self.doc.path,
                            line,
                            col,
                            dotted(sub),
                            f"duplicate key (first defined on line {self.doc.keys[sub][0]}); "
                            "remove one of them",
                        )
                    )
                continue
            self.doc.keys[sub] = _pos(key_node)
            out[key] = self.build(value_node, sub, key_node)
        return out

    def _key(self, node: yaml.Node, path: PathT) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            key = None
        elif node.tag == STR_TAG:
            return str(node.value)
        else:
            key = self.loader.construct_object(node)
        if isinstance(key, str):
            return key
        line, col = _pos(node)
        if isinstance(node, yaml.ScalarNode) and key is not None:
            text = node.value
            message = (
                f"the key {text} is read by YAML as {str(key).lower()}, not as text; quote it "
                f"('{text}')"
            )
        else:
            message = "mapping keys must be plain strings"
        self.problems.append(Problem(self.doc.path, line, col, dotted(path), message))
        return None


def load_yaml(path: Path) -> Document:
    """Load one YAML file safely, with positions; raises SpecError on any problem."""
    text, unreadable = read_text(path)
    if unreadable is not None or text is None:
        raise SpecError([unreadable or Problem(path, None, None, "", "cannot read it")])
    doc = Document(path=path, data=None)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([Problem(path, 1, 1, "", "the file is empty; start with 'version: 1'")])
        builder = _Builder(doc, loader)
        doc.data = builder.build(node, ())
    except _Stop as stop:
        raise SpecError([stop.problem]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}, {what}"
        raise SpecError([Problem(path, line, col, "", f"invalid YAML: {what}")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise SpecError(
            [
                Problem(
                    path,
                    line,
                    col,
                    "",
                    f"invalid YAML: character U+{exc.character:04X} is not allowed; write it "
                    "as an escape in a double-quoted string (\\x..)",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(path, None, None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise SpecError(builder.problems)
    return doc
