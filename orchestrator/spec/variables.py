"""`${...}` interpolation: variables, their precedence, and the built-in placeholders.

Forms: `${NAME}`, `${NAME:-default}` (default when unset or empty), `${NAME:?message}`
(error when unset or empty), `$$` for a literal `$`. Defaults may nest placeholders.
A name resolves from `--var`, then the environment, then the spec's `variables`
block (whose values may use other variables). Built-ins: `${target}`, `${git.sha}`,
`${git.short_sha}`, `${git.branch}`, `${date}` (UTC, YYYYMMDD).
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.hints import did_you_mean

_NAMES = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)")  # every ${NAME that a text may use
MAX_VALUE = 1_000_000  # characters a variable may expand to
MAX_NESTING = 50  # placeholders inside placeholders' defaults, in one text
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_.]*)(?:(?P<op>:-|:\?)(?P<arg>.*))?", re.S)
GIT_BUILTINS = ("git.sha", "git.short_sha", "git.branch")
BUILTINS = ("target", "date", *GIT_BUILTINS)


class InterpolationError(Exception):
    """A placeholder that cannot be resolved; `variable` names the block entry at fault."""

    def __init__(
        self, message: str, variable: str | None = None, loop: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(message)
        self.variable = variable
        self.loop = loop


@dataclass
class GitFacts:
    """`git` built-ins, asked of git once and only when a spec uses them."""

    folder: Path
    _cache: dict[str, str | None] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """The value, or None outside a git checkout with a commit."""
        if name not in self._cache:
            args = {
                "git.sha": ["rev-parse", "HEAD"],
                "git.short_sha": ["rev-parse", "--short=12", "HEAD"],
                "git.branch": ["rev-parse", "--abbrev-ref", "HEAD"],
            }[name]
            try:
                out = subprocess.run(
                    ["git", "-C", str(self.folder), *args],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=30,
                ).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                out = None
            self._cache[name] = out
        return self._cache[name]


@dataclass
class Variables:
    block: Mapping[str, str]
    overrides: Mapping[str, str]
    environ: Mapping[str, str]
    git: GitFacts
    today: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y%m%d"))
    _resolved: dict[tuple[str, str | None], str] = field(default_factory=dict)

    def known(self) -> list[str]:
        return [*BUILTINS, *self.block, *self.overrides]

    def value(self, name: str, target: str | None, stack: tuple[str, ...] = ()) -> str | None:
        if name == "target":
            if target is None:
                raise InterpolationError("${target} is only defined inside a target or defaults")
            return target
        if name in self.overrides:
            return self.overrides[name]
        if name == "date":
            return self.today
        if name in GIT_BUILTINS:
            return self.git.get(name)
        if name in self.environ:
            return self.environ[name]
        if name in self.block:
            return self._block_value(name, target)
        return None

    def _block_value(self, name: str, target: str | None) -> str:
        """A `variables` entry, resolved once per target. Without recursion however long
        a chain of variables built on each other: a depth-first walk on a path of our
        own resolves what a value uses first; a name met again on the path is a loop."""
        path, uses = [name], [iter(self._uses(name))]
        while path:
            used = next(uses[-1], None)
            if used is None:  # all it uses is resolved
                self._resolve(path.pop(), target)
                uses.pop()
            elif (used, target) in self._resolved:
                continue
            elif used in path:
                loop = path[path.index(used) :]
                raise InterpolationError(
                    f"variables refer to each other in a loop: {' -> '.join((*loop, used))}",
                    used,
                    frozenset(loop),
                )
            else:
                path.append(used)
                uses.append(iter(self._uses(used)))
        return self._resolved[name, target]

    def _uses(self, name: str) -> list[str]:
        """The entries of the block that the value of `name` may use."""
        return [n for n in dict.fromkeys(_NAMES.findall(self.block[name])) if self._from_block(n)]

    def _resolve(self, name: str, target: str | None) -> None:
        if (name, target) in self._resolved:
            return
        try:  # what it uses is resolved: no deeper than its own braces
            value = self.interpolate(self.block[name], target, (name,))
        except InterpolationError as exc:
            raise InterpolationError(str(exc), exc.variable or name, exc.loop) from None
        if len(value) > MAX_VALUE:
            raise InterpolationError(
                f"${{{name}}} expands to more than {MAX_VALUE // 1_000_000} MB of text "
                "(variables that repeat each other?); simplify it",
                name,
            )
        self._resolved[name, target] = value

    def _from_block(self, name: str) -> bool:
        """Whether ${name} takes its value from the `variables` block."""
        return (
            name in self.block
            and name not in self.overrides
            and name not in self.environ
            and name not in BUILTINS
        )

    def interpolate(self, text: str, target: str | None, stack: tuple[str, ...] = ()) -> str:
        if "$" not in text:
            return text
        out: list[str] = []
        i = 0
        while i < len(text):
            dollar = text.find("$", i)
            if dollar != i:  # the text up to the next `$` (or the end) as it is
                end = len(text) if dollar < 0 else dollar
                out.append(text[i:end])
                i = end
                continue
            nxt = text[i + 1 : i + 2]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt != "{":
                raise InterpolationError(
                    f"a lone '$' in {text!r}; write '$$' for a literal '$' "
                    "or ${NAME} for a variable"
                )
            end = _closing_brace(text, i + 1)
            if end < 0:
                raise InterpolationError(f"unclosed '${{' in {text!r}; add the missing '}}'")
            out.append(self._placeholder(text[i + 2 : end], target, stack))
            i = end + 1
        return "".join(out)

    def _placeholder(self, body: str, target: str | None, stack: tuple[str, ...]) -> str:
        match = _BODY.fullmatch(body)
        if match is None:
            raise InterpolationError(
                f"'${{{body}}}' is not a placeholder; write ${{NAME}}, ${{NAME:-default}} "
                "or ${NAME:?message}"
            )
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        if len(stack) > MAX_NESTING:
            raise InterpolationError(
                f"placeholders nest more than {MAX_NESTING} deep in their defaults; simplify it"
            )
        value = self.value(name, target, stack)
        stack = (*stack, name)  # a default's placeholders are one level deeper
        if op == ":-":
            return value if value else self.interpolate(arg, target, stack)
        if op == ":?":
            if not value:
                reason = self.interpolate(arg, target, stack) or "is required"
                raise InterpolationError(f"${{{name}}}: {reason}")
            return value
        if value is None and name in GIT_BUILTINS:
            raise InterpolationError(
                f"${{{name}}} needs a git checkout with at least one commit, and "
                f"{self.git.folder} is not one; use ${{{name}:-VALUE}} or --var {name}=VALUE"
            )
        if value is None:
            hint = did_you_mean(name, self.known()) or (
                "; define it under 'variables', pass --var NAME=VALUE, or set it in the environment"
            )
            raise InterpolationError(f"unknown variable ${{{name}}}{hint}")
        return value


_BRACE = re.compile(r"[{}]")


def _closing_brace(text: str, open_at: int) -> int:
    depth = 0
    for m in _BRACE.finditer(text, open_at):
        if m[0] == "{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.start()
    return -1


def parse_assignments(pairs: list[str], flag: str) -> dict[str, str]:
    """`NAME=VALUE` pairs of a repeated flag; raises ValueError naming the bad one."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        settable = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in (*GIT_BUILTINS, "date")
        if not sep or not settable:
            raise ValueError(f"{flag} {pair!r}: write {flag} NAME=VALUE")
        out[name] = value
    return out
