"""The files BuildKit sends as a build context: `.dockerignore` exactly as the engine
reads and applies it.

Three pieces of the engine, ported and kept in their shape so they can be compared
line by line: moby/patternmatcher/ignorefile's ReadAll (comments, trimming, Clean,
leading `/`, `!` exceptions), moby/patternmatcher's Pattern.compile and
MatchesUsingParentResults (`**`, `*`, `?`, `[...]`, `\\` escapes, later patterns win,
a path matches when a parent does), and tonistiigi/fsutil's filtered walk (an
excluded directory is left out unless an exception re-includes something inside it,
which brings its parent directories along). A Dockerfile-specific ignore file,
`<Dockerfile>.dockerignore` next to the Dockerfile, replaces the context's
`.dockerignore`. The Dockerfile and `.dockerignore` get no special treatment: BuildKit
sends them when they are not ignored. tests/e2e proves all of it against the engine.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_ESCAPE = set(".+()|{}$")
_PATTERN_CHARS = "*[]?^\\"


def go_clean(path: str) -> str:
    """Go's filepath.Clean on slash paths: collapse `//`, drop `.`, resolve `..`."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = "/".join(parts)
    return ("/" + out) if rooted else (out or ".")


def read_ignore(text: str) -> list[str]:
    """Patterns of an ignore file, as ignorefile.ReadAll returns them."""
    patterns = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.removeprefix("\ufeff") if number == 0 else raw
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append(("!" if invert else "") + pattern)
    return patterns


@dataclass
class Pattern:
    cleaned: str
    exclusion: bool
    kind: str = ""  # exact, prefix, suffix or regexp
    regexp: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        self._compile()

    def _compile(self) -> None:
        """Pattern.compile: exact, prefix (`a/**`), suffix (`**/a`) or a regexp."""
        expr, kind, text = "^", "exact", self.cleaned
        pos, first, in_class = 0, True, False
        while pos < len(text):
            ch, pos = text[pos], pos + 1
            if ch == "*" and text[pos : pos + 1] == "*":
                pos += 1
                if text[pos : pos + 1] == "/":
                    pos += 1
                if pos >= len(text):  # "**" at the end: everything below
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        expr, kind = expr + ".*", "regexp"
                else:  # any number of directories, even none
                    expr, kind = expr + "(.*/)?", "regexp"
                if first:
                    kind = "suffix"
            elif ch == "*":
                expr, kind = expr + "[^/]*", "regexp"
            elif ch == "?":
                expr, kind = expr + "[^/]", "regexp"
            elif ch in _ESCAPE:
                expr += "\\" + ch
            elif ch == "\\":
                if pos < len(text):
                    expr, kind = expr + "\\" + text[pos], "regexp"
                    pos += 1
                else:
                    expr += "\\\\"
            elif ch == "[" and in_class:  # Go reads it as a literal; Python would warn
                expr += "\\["
            elif ch in "[]":
                in_class = ch == "[" or (in_class and expr.endswith(("[", "[^")))
                expr, kind = expr + ch, "regexp"
            elif in_class and ch in "&~|":  # set operators in Python's future syntax
                expr += "\\" + ch
            else:
                expr += ch
            first = False
        if kind == "regexp":
            self.regexp = re.compile(expr + "$", re.DOTALL)
        self.kind = kind

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.cleaned
        if self.kind == "prefix":
            return path.startswith(self.cleaned[:-2])
        if self.kind == "suffix":
            suffix = self.cleaned[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return bool(self.regexp and self.regexp.match(path))

    def without_trailing_glob(self) -> str:
        return self.cleaned.removesuffix("/**").removesuffix("/*")


class BadPattern(ValueError):
    pass


@dataclass
class Matcher:
    patterns: list[Pattern] = field(default_factory=list)

    @classmethod
    def of(cls, lines: list[str]) -> Matcher:
        out = []
        for raw in lines:
            text = go_clean(raw.strip()) if raw.strip() else ""
            if not text:
                continue
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise BadPattern('illegal exclusion pattern: "!"')
                text = text[1:]
            if text.count("[") != text.count("]"):
                raise BadPattern(f"syntax error in pattern {text!r}")
            out.append(Pattern(text, exclusion))
        return cls(out)

    @property
    def exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def match(self, path: str, parent: list[bool] | None) -> tuple[bool, list[bool]]:
        """MatchesUsingParentResults: (ignored?, per-pattern results for children)."""
        matched, info = False, []
        for i, pattern in enumerate(self.patterns):
            hit = bool(parent and parent[i])
            if not hit:
                if pattern.exclusion != matched:
                    info.append(False)
                    continue
                hit = pattern.match(path)
                if not hit and not parent and "/" in path:
                    dirs = path.split("/")[:-1]
                    hit = any(pattern.match("/".join(dirs[: j + 1])) for j in range(len(dirs)))
            info.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, info


@dataclass(frozen=True)
class Entry:
    path: str  # slash path relative to the context
    kind: str  # file, dir, symlink or other
    mode: int
    st: os.stat_result


def ignore_file(context: Path, dockerfile: Path) -> Path | None:
    """The ignore file BuildKit applies: `<Dockerfile>.dockerignore`, else the context's."""
    specific = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if specific.is_file():
        return specific
    general = context / ".dockerignore"
    return general if general.is_file() else None


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "file" if stat.S_ISREG(mode) else "other"


@dataclass
class _Dir:
    entry: Entry
    info: list[bool]
    sent: bool


def walk(context: Path, matcher: Matcher) -> Iterator[Entry]:
    """What BuildKit sends, depth first in name order, as fsutil's filtered walk does:
    an ignored directory is walked only when an exception may re-include something in
    it, and is sent (with every unsent ancestor) just before the first such path."""
    prefix_only = not any(
        p.exclusion and any(c in p.without_trailing_glob() for c in _PATTERN_CHARS)
        for p in matcher.patterns
    )

    exclusions = matcher.exclusions
    exception_dirs = [p.without_trailing_glob() + "/" for p in matcher.patterns if p.exclusion]

    def skip(path: str) -> bool:
        if not prefix_only:
            return False
        if not exclusions:
            return True
        below = path + "/"
        return not any(d.startswith(below) for d in exception_dirs)

    def visit(folder: str, rel: str, parents: list[_Dir]) -> Iterator[Entry]:
        # `folder` is a str path: the same files as the Path `context / rel`, without a
        # Path object per entry.
        sep = "" if folder.endswith("/") else "/"
        for name in sorted(os.listdir(folder)):
            path = f"{rel}/{name}" if rel else name
            st = os.lstat(folder + sep + name)
            entry = Entry(path, _kind(st.st_mode), stat.S_IMODE(st.st_mode), st)
            ignored, info = matcher.match(path, parents[-1].info if parents else None)
            if ignored and entry.kind == "dir" and skip(path):
                continue
            if not ignored:
                for parent in parents:
                    if not parent.sent:
                        parent.sent = True
                        yield parent.entry
                yield entry
            if entry.kind == "dir":
                child = folder + sep + name
                yield from visit(child, path, [*parents, _Dir(entry, info, not ignored)])

    yield from visit(os.fspath(context), "", [])
