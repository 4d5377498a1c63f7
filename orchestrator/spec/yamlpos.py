"""Safe YAML loading that keeps the line and column of every key and value.

PyYAML's composer gives nodes with marks; we build plain Python values from them
ourselves so that every value has a path (`("targets", "web", "tags", 0)`) and a
position. Duplicate keys are refused: YAML allows the last one to win silently,
which hides typos in large specs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import Problem, SpecError

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Pos:
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Document:
    """A loaded YAML file: its data and where each piece of it was written."""

    path: Path
    data: Any
    values: dict[PathT, Pos] = field(default_factory=dict)
    keys: dict[PathT, Pos] = field(default_factory=dict)

    def where(self, path: PathT, *, key: bool = False) -> Pos:
        """Position of a value (or of its key), falling back to the nearest ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if not key and probe in self.keys:
                return self.keys[probe]
            probe = probe[:-1]
        return self.values.get((), Pos(1, 1))

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


def _pos(node: yaml.Node) -> Pos:
    return Pos(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, doc: Document, loader: yaml.SafeLoader) -> None:
        self.doc = doc
        self.loader = loader
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: PathT) -> Any:
        self.doc.values[path] = _pos(node)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node)
                if not isinstance(key, str | int | float | bool) or key is None:
                    self.problems.append(
                        self.doc.problem(path, "mapping keys must be plain strings")
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                sub = (*path, key)
                if key in out:
                    first = self.doc.keys[sub]
                    p = _pos(key_node)
                    self.problems.append(
                        Problem(
                            self.doc.path,
                            p.line,
                            p.col,
                            dotted(sub),
                            f"duplicate key (first defined on line {first.line}); "
                            "remove one of them",
                        )
                    )
                    continue
                self.doc.keys[sub] = _pos(key_node)
                out[key] = self.build(value_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node)


def load_yaml(path: Path) -> Document:
    """Load one YAML file safely, with positions; raises SpecError on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(path, None, None, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(path, None, None, "", f"cannot read: {exc}")]) from None
    doc = Document(path=path, data=None)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([Problem(path, 1, 1, "", "the file is empty; start with 'version: 1'")])
        builder = _Builder(doc, loader)
        doc.data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}, {what}"
        raise SpecError([Problem(path, line, col, "", f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(path, None, None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise SpecError(builder.problems)
    return doc
