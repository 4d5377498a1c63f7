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
from orchestrator.spec.textfile import read_text

# Real Dockerfiles are kilobytes; BuildKit's parser holds all of one in memory, several
# times over, and the Python wrapper of it more: a bound keeps `validate` small.
MAX_DOCKERFILE = 8 * 1024 * 1024
MAX_CONTINUED = 5000  # lines of one instruction
INSTRUCTIONS = tuple(c.upper() for c in dockerfile.all_cmds())
_VAR = re.compile(
    r"\\(?P<esc>\$)|\$(?:(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|"
    r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-+])(?P<word>[^}]*))?\})"
)


class DockerfileError(Exception):
    def __init__(self, line: int | None, message: str, col: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.col = col if col is not None else (1 if line else None)


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
    base: ImageUse | None = None  # the image the built stage starts FROM, through aliases

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages if s.name]


def expand(word: str, scope: Mapping[str, str]) -> str:
    """Dockerfile variable expansion: $A, ${A}, ${A:-x}, ${A-x}, ${A:+x}, ${A+x}, \\$."""
    if "$" not in word:  # nothing to expand (every form has a `$`)
        return word

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
    text, unreadable = read_text(path, limit=MAX_DOCKERFILE)
    if unreadable is not None or text is None:
        if unreadable is None:
            raise DockerfileError(None, "cannot read it")
        raise DockerfileError(unreadable.line, unreadable.message, unreadable.col)
    _check_continuations(text)
    try:
        commands = tuple(dockerfile.parse_string(text))
    except dockerfile.GoParseError as exc:
        raise DockerfileError(1, f"cannot parse: {exc}") from None
    except dockerfile.GoIOError as exc:
        raise DockerfileError(None, f"cannot read: {exc}") from None
    for cmd in commands:
        if cmd.cmd not in INSTRUCTIONS:
            hint = did_you_mean(cmd.cmd, INSTRUCTIONS)
            raise DockerfileError(cmd.start_line, f"unknown instruction {cmd.cmd}{hint}")
    if not any(c.cmd == "FROM" for c in commands):
        raise DockerfileError(1, "has no FROM instruction; a Dockerfile starts from an image")
    for cmd in commands:
        if cmd.cmd == "FROM":
            break
        if cmd.cmd != "ARG":
            raise DockerfileError(
                cmd.start_line, f"{cmd.cmd} before the first FROM; only ARG may come before it"
            )
    return commands


def _check_continuations(text: str) -> None:
    """BuildKit's parser joins a continued instruction line by line in quadratic time (200k
    continuation lines: 53 s here): an instruction longer than any hand-written one is
    refused before it is parsed."""
    run, start = 0, 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.rstrip().endswith(("\\", "`")):
            run, start = run + 1, start or number
            if run > MAX_CONTINUED:
                raise DockerfileError(
                    start,
                    f"an instruction continued over more than {MAX_CONTINUED} lines; split it "
                    "(or generate a script and COPY it)",
                )
        else:
            run, start = 0, 0


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


class _Walk:
    """One pass over a Dockerfile: stages, what each stage needs, which images it uses."""

    def __init__(self, scope: dict[str, str]) -> None:
        self.scope = scope  # global ARGs: the only variables FROM lines see
        self.stages: list[Stage] = []
        self.uses: dict[int, list[ImageUse]] = {}
        self.needs: dict[int, set[int]] = {}
        self.from_stage: dict[int, int] = {}
        self.from_image: dict[int, ImageUse] = {}

    def stage(self, words: list[str], line: int) -> None:
        if not words:
            raise DockerfileError(line, "FROM names no image; write FROM IMAGE [AS NAME]")
        name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
        index = len(self.stages)
        self.stages.append(Stage(index, expand(name, self.scope).lower() if name else None, line))
        self.uses[index], self.needs[index] = [], set()
        self.reference(words[0], line, "FROM")

    def reference(self, text: str, line: int, instruction: str) -> None:
        if instruction != "FROM" and "$" in text:
            raise DockerfileError(
                line,
                f"{instruction}={text}: BuildKit does not expand variables here; name the "
                f"image in a stage (FROM {text} AS some-name) and use {instruction}=some-name",
            )
        value = expand(text, self.scope) if instruction == "FROM" else text
        current = len(self.stages) - 1
        own = self.stages[current].name if self.stages else None
        if instruction != "FROM" and own and value.lower() == own:
            raise DockerfileError(
                line,
                f"{instruction}={text} names the stage it is in; name an earlier stage or an image",
            )
        by_name = {s.name: s.index for s in self.stages[:-1] if s.name}
        if value.isdigit() and instruction != "FROM" and int(value) < current:
            self.needs[current].add(int(value))
        elif value.lower() in by_name:
            self.needs[current].add(by_name[value.lower()])
            if instruction == "FROM":
                self.from_stage[current] = by_name[value.lower()]
        elif value.lower() != "scratch":
            if not text:
                raise DockerfileError(
                    line,
                    f"{instruction}= names nothing; write {instruction}=STAGE or "
                    f"{instruction}=IMAGE",
                )
            if not value:
                raise DockerfileError(
                    line,
                    f"{instruction} {text} expands to nothing; give the "
                    "ARG a default or set it in the target's args",
                )
            self.uses[current].append(ImageUse(value, text, line, instruction))
            if instruction == "FROM":
                self.from_image[current] = self.uses[current][-1]

    def base(self, index: int) -> ImageUse | None:
        """The image a stage starts FROM, following FROM through stage aliases."""
        at: int | None = index
        while at is not None:
            if at in self.from_image:
                return self.from_image[at]
            at = self.from_stage.get(at)
        return None

    def needed(self, roots: list[int]) -> list[int]:
        seen: set[int] = set()
        todo = list(roots)
        while todo:
            index = todo.pop()
            if index not in seen:
                seen.add(index)
                todo.extend(self.needs[index])
        return sorted(seen)


def analyze(
    commands: tuple[dockerfile.Command, ...],
    *,
    build_args: Mapping[str, str],
    platform: str,
    build_platform: str,
    wanted: Iterable[str | None],
) -> Analysis:
    """Stages of the file and the images used by the stages `wanted` needs (None: last)."""
    walk = _Walk(platform_args(platform, build_platform))
    for cmd in commands:
        if cmd.cmd == "ARG" and not walk.stages:  # only global ARGs reach FROM lines
            _declare(cmd.value, walk.scope, build_args)
        elif cmd.cmd == "FROM":
            walk.stage(list(cmd.value), cmd.start_line)
        elif cmd.cmd == "COPY":
            for flag in cmd.flags:
                if flag.startswith("--from="):
                    walk.reference(flag[len("--from=") :], cmd.start_line, "COPY --from")
        elif cmd.cmd == "RUN":
            for flag in cmd.flags:
                source = _mount_from(flag)
                if source is not None:
                    walk.reference(source, cmd.start_line, "RUN --mount from")
    names = {s.name: s.index for s in walk.stages if s.name}
    roots = [
        names[w.lower()] if w else len(walk.stages) - 1
        for w in wanted
        if w is None or w.lower() in names
    ]
    images = tuple(u for i in walk.needed(roots) for u in walk.uses[i])
    return Analysis(tuple(walk.stages), images, walk.base(roots[0]) if roots else None)
