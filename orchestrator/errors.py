"""The one user-facing exception base and its kinds.

Every error a user can act on is a `StackbakeError`; `error_handler` maps them to a
message and an exit code. Anything else escaping the program is an internal error.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


# C0 and C1 controls but newline and tab, and the marks that reorder text (bidi).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` safe for a terminal: control characters (escape sequences, carriage
    returns, bells) from a spec or a build's output written as `\x1b`, never raw;
    newlines and tabs kept."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 256 else f"\\u{ord(m[0]):04x}", text
    )


def display_path(path: Path | str) -> str:
    """A path as the user should read it: relative to the current folder when inside it."""
    p = Path(path)
    try:
        return os.path.relpath(p) if p.is_absolute() and p.is_relative_to(Path.cwd()) else str(p)
    except (ValueError, OSError):
        return str(p)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, where it is, and what to do about it."""

    file: Path | None
    line: int | None
    col: int | None
    path: str
    message: str

    def render(self) -> str:
        where = ""
        if self.file is not None:
            where = display_path(self.file)
            if self.line is not None:
                where += f":{self.line}"
                if self.col is not None:
                    where += f":{self.col}"
            where += ": "
        subject = f"{self.path}: " if self.path else ""
        return f"{where}{subject}{self.message}"

    def sort_key(self) -> tuple[str, int, int, str]:
        return (str(self.file or ""), self.line or 0, self.col or 0, self.message)


class StackbakeError(Exception):
    """Base of every error the user can act on."""

    exit_code = EXIT_USAGE

    def render(self) -> str:
        return f"error: {self}"


class UsageError(StackbakeError):
    """Bad command line: unknown target, bad flag value, missing spec file."""


class EngineError(StackbakeError):
    """The build engine is missing or cannot do what the run needs."""

    exit_code = EXIT_FAILED


class SpecError(StackbakeError):
    """One or more problems in the spec or the files it names; all shown at once."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(sorted(problems, key=Problem.sort_key))
        super().__init__("\n".join(p.render() for p in self.problems))

    def render(self) -> str:
        n = len(self.problems)
        tail = "" if n == 1 else f"\n{n} problems found; nothing was run."
        return str(self) + tail


class ProblemCollector:
    """Collects problems of a phase; `raise_if_any` ends the phase with all of them."""

    def __init__(self) -> None:
        self._problems: dict[Problem, None] = {}  # in the order found, each once

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems)

    def add(self, problem: Problem) -> None:
        self._problems.setdefault(problem, None)

    def raise_if_any(self) -> None:
        if self._problems:
            raise SpecError(self.problems)
