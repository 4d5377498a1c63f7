"""Safe YAML loading that keeps the line and column of every key and value.

PyYAML's composer gives nodes with marks; we build plain Python values from them
ourselves (spec/yamlnodes.py, which refuses duplicate keys and YAML 1.1 traps) so that
every value has a path (`("targets", "web", "tags", 0)`) and a position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from orchestrator.errors import Problem, SpecError
from orchestrator.spec.textfile import read_text
from orchestrator.spec.yamlnodes import Builder, Loader, PathT, Stop, Table, dotted

__all__ = ["Document", "PathT", "Pos", "dotted", "load_yaml"]


class Pos(NamedTuple):
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Document:
    """A loaded YAML file: its data and where each piece of it was written.

    Positions under `targets` are found when first asked, by reading `text` again: a
    valid spec of 100,000 targets never asks, and noting 700,000 of them while loading
    took a third of its time. Those elsewhere (a few, but for a large group) are noted."""

    path: Path
    data: Any
    text: str | None = field(default=None, repr=False)  # None: no positions to find again
    # (line, col) of each value and each key (by its value's path) outside `targets`
    values: Table = field(default_factory=dict, repr=False)
    keys: Table = field(default_factory=dict, repr=False)
    _all: tuple[Table, Table] | None = field(default=None, init=False, repr=False)

    def tables(self, path: PathT) -> tuple[Table, Table]:
        """The (values, keys) position tables that hold `path`."""
        if not path or path[0] != "targets" or self.text is None:
            return self.values, self.keys
        if self._all is None:
            self._all = ({}, {})
            loader = Loader(self.text)
            try:
                if (node := loader.get_single_node()) is not None:
                    Builder(self.path, loader, (self.values, self.keys), self._all).build(node, ())
            finally:
                loader.dispose()
        return self._all

    def where(self, path: PathT, *, key: bool = False) -> Pos:
        """Position of a value (or of its key), falling back to the nearest ancestor."""
        values, keys = self.tables(path)
        table = keys if key else values
        probe = tuple(path)
        while probe:
            if probe in table:
                return Pos._make(table[probe])
            if not key and probe in keys:
                return Pos._make(keys[probe])
            probe = probe[:-1]
        return Pos._make(self.values.get((), (1, 1)))

    def problem(self, path: PathT, message: str, *, key: bool = False) -> Problem:
        pos = self.where(path, key=key)
        return Problem(self.path, pos.line, pos.col, dotted(path), message)


def load_yaml(path: Path) -> Document:
    """Load one YAML file safely, with positions; raises SpecError on any problem."""
    text, unreadable = read_text(path)
    if unreadable is not None or text is None:
        raise SpecError([unreadable or Problem(path, None, None, "", "cannot read it")])
    doc = Document(path=path, data=None, text=text)
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([Problem(path, 1, 1, "", "the file is empty; start with 'version: 1'")])
        builder = Builder(path, loader, (doc.values, doc.keys))
        doc.data = builder.build(node, ())
    except Stop as stop:
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
        what = (
            f"character U+{exc.character:04X} is not allowed; write it as an escape in a "
            "double-quoted string (\\x..)"
        )
        raise SpecError([Problem(path, line, col, "", f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(path, None, None, "", f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise SpecError(builder.problems)
    return doc
