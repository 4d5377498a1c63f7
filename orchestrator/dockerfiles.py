"""What a Dockerfile builds on: its stages, and the images its needed stages reference.

Parsing is BuildKit's own parser (the `dockerfile` package wraps its Go code), so line
continuations, the escape directive, heredocs and flags read exactly as the engine
reads them. On top of it we do what a build does before it pulls anything: expand
ARGs (Dockerfile defaults, overridden by the target's args, plus the automatic
platform ARGs), resolve stage aliases, and keep only the stages the requested
`target`/`test` stages need.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import dockerfile

from orchestrator.hints import did_you_mean

INSTRUCTIONS = tuple(c.upper() for c in dockerfile.all_cmds())
_VAR = re.compile(
    r"\\(?P<esc>\$)|\$(?:(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|"
    r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+])(?P<word>[^}]*))?\})"
)


class DockerfileError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None  # lower-case, as BuildKit compares stage names
    line: int


@dataclass(frozen=True)
class ImageUse:
    """An image (not a stage) a needed stage builds on or copies from."""

    ref: str  # after ARG expansion
    written: str  # as written in the Dockerfile
    line: int
    instruction: str  # FROM, COPY --from, RUN --mount from


@dataclass(frozen=True)
class Analysis:
    stages: tuple[Stage, ...]
    images: tuple[ImageUse, ...]

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages if s.name]


def expand(word: str, scope: Mapping[str, str]) -> str:
    """Dockerfile variable expansion: $A, ${A}, ${A:-x}, ${A-x}, ${A:+x}, ${A+x}, \\$."""

    def one(m: re.Match[str]) -> str:
        if m["esc"]:
            return "$"
        name = m["plain"] or m["name"]
        value = scope.get(name)
        op, alt = m["op"], expand(m["word"] or "", scope)
        if op == ":-":
            return value if value else alt
        if op == "-":
            return value if value is not None else alt
        if op == ":+":
            return alt if value else ""
        if op == "+":
            return alt if value is not None else ""
        return value or ""

    return _VAR.sub(one, word)


def platform_args(target: str, build: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for prefix, value in (("TARGET", target), ("BUILD", build)):
        parts = [*value.split("/"), ""][:3]
        out |= {
            f"{prefix}PLATFORM": value,
            f"{prefix}OS": parts[0],
            f"{prefix}ARCH": parts[1],
            f"{prefix}VARIANT": parts[2],
        }
    return out


@lru_cache(maxsize=4096)
def _parse_cached(path: Path, mtime_ns: int, size: int) -> tuple[dockerfile.Command, ...]:
    try:
        commands = tuple(dockerfile.parse_file(str(path)))
    except dockerfile.GoParseError as exc:
        raise DockerfileError(None, f"cannot parse: {exc}") from None
    except dockerfile.GoIOError as exc:
        raise DockerfileError(None, f"cannot read: {exc}") from None
    for cmd in commands:
        if cmd.cmd not in INSTRUCTIONS:
            hint = did_you_mean(cmd.cmd, INSTRUCTIONS)
            raise DockerfileError(cmd.start_line, f"unknown instruction {cmd.cmd}{hint}")
    if not any(c.cmd == "FROM" for c in commands):
        raise DockerfileError(None, "has no FROM instruction; a Dockerfile starts from an image")
    for cmd in commands:
        if cmd.cmd == "FROM":
            break
        if cmd.cmd != "ARG":
            raise DockerfileError(
                cmd.start_line, f"{cmd.cmd} before the first FROM; only ARG may come before it"
            )
    return commands


def parse(path: Path) -> tuple[dockerfile.Command, ...]:
    stat = path.stat()
    return _parse_cached(path, stat.st_mtime_ns, stat.st_size)


def _declare(values: Iterable[str], scope: dict[str, str], build_args: Mapping[str, str]) -> None:
    """`ARG A=default B`: a build arg wins over the default; defaults may use earlier ARGs."""
    for item in values:
        name, sep, default = item.partition("=")
        if name in build_args:
            scope[name] = build_args[name]
        elif sep:
            scope[name] = expand(default, scope)


def _mount_from(flag: str) -> str | None:
    if not flag.startswith("--mount="):
        return None
    for part in flag[len("--mount=") :].split(","):
        key, _, value = part.partition("=")
        if key.strip() == "from":
            return value.strip()
    return None


def analyze(
    commands: tuple[dockerfile.Command, ...],
    *,
    build_args: Mapping[str, str],
    platform: str,
    build_platform: str,
    wanted: Iterable[str | None],
) -> Analysis:
    """Stages of the file and the images used by the stages `wanted` needs (None: last)."""
    auto = platform_args(platform, build_platform)
    global_scope: dict[str, str] = dict(auto)
    stages: list[Stage] = []
    uses: dict[int, list[ImageUse]] = {}
    needs: dict[int, set[int]] = {}

    def resolve(text: str, line: int, instruction: str) -> None:
        if instruction != "FROM" and "$" in text:
            raise DockerfileError(
                line,
                f"{instruction}={text}: BuildKit does not expand variables here; name the "
                f"image in a stage (FROM {text} AS some-name) and use {instruction}=some-name",
            )
        value = expand(text, global_scope) if instruction == "FROM" else text
        current = len(stages) - 1
        by_name = {s.name: s.index for s in stages[:-1] if s.name}
        if value.isdigit() and instruction != "FROM" and int(value) < current:
            needs[current].add(int(value))
        elif value.lower() in by_name:
            needs[current].add(by_name[value.lower()])
        elif value.lower() != "scratch":
            if not value:
                raise DockerfileError(
                    line,
                    f"{instruction} {text} expands to nothing; give the "
                    "ARG a default or set it in the target's args",
                )
            uses[current].append(ImageUse(value, text, line, instruction))

    for cmd in commands:
        if cmd.cmd == "ARG" and not stages:  # only global ARGs reach FROM lines
            _declare(cmd.value, global_scope, build_args)
        elif cmd.cmd == "FROM":
            words = list(cmd.value)
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
            if name is not None:
                name = expand(name, global_scope).lower()
            stages.append(Stage(len(stages), name, cmd.start_line))
            uses[len(stages) - 1], needs[len(stages) - 1] = [], set()
            resolve(words[0], cmd.start_line, "FROM")
        elif cmd.cmd == "COPY":
            for flag in cmd.flags:
                if flag.startswith("--from="):
                    resolve(flag[len("--from=") :], cmd.start_line, "COPY --from")
        elif cmd.cmd == "RUN":
            for flag in cmd.flags:
                source = _mount_from(flag)
                if source:
                    resolve(source, cmd.start_line, "RUN --mount from")

    names = {s.name: s.index for s in stages if s.name}
    todo = [
        names[w.lower()] if w else len(stages) - 1
        for w in wanted
        if w is None or w.lower() in names
    ]
    seen: set[int] = set()
    while todo:
        index = todo.pop()
        if index not in seen:
            seen.add(index)
            todo.extend(needs[index])
    images = tuple(u for i in sorted(seen) for u in uses[i])
    return Analysis(tuple(stages), images)
