"""The validated spec as frozen dataclasses: what every later stage reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from orchestrator.errors import Problem, display_path
from orchestrator.spec.gates import Gates, Signing


class Where(NamedTuple):
    """Where a value was written: file, line, column and its dotted path in that file.
    A named tuple, not a dataclass: a spec of 100,000 targets makes 200,000 of them,
    and a frozen dataclass takes five times as long to make."""

    file: Path | None  # None: given on the command line (--set)
    line: int
    col: int
    path: str

    def problem(self, message: str) -> Problem:
        if self.file is None:
            return Problem(None, None, None, self.path, message)
        return Problem(self.file, self.line, self.col, self.path, message)

    def spot(self) -> str:
        """`builds.yaml:12` for messages that point elsewhere, or the --set flag."""
        return f"{display_path(self.file)}:{self.line}" if self.file else self.path


@dataclass(frozen=True)
class CacheEntry:
    """One --cache-from/--cache-to entry as ordered key=value attributes."""

    attrs: tuple[tuple[str, str], ...]

    @property
    def type(self) -> str:
        return dict(self.attrs).get("type", "registry")

    def to_flag(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.attrs)


@dataclass(frozen=True)
class Secret:
    id: str
    src: Path | None = None
    env: str | None = None

    def describe(self) -> str:
        """Where the value comes from; never the value itself."""
        return f"id={self.id},src={self.src}" if self.src else f"id={self.id},env={self.env}"


@dataclass(frozen=True)
class Target:
    name: str
    spec_file: Path
    context: Path
    dockerfile: Path
    stage: str | None = None
    test: str | None = None
    description: str = ""
    args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    tag_templates: tuple[str, ...] = ()  # as written, before ${...} interpolation
    platforms: tuple[str, ...] = ()
    cache_from: tuple[CacheEntry, ...] = ()
    cache_to: tuple[CacheEntry, ...] = ()
    secrets: tuple[Secret, ...] = ()
    ssh: tuple[str, ...] = ()
    network: str | None = None
    no_cache: bool = False
    pull: bool = False
    reproducible: bool = False
    epoch: int | None = None  # a fixed SOURCE_DATE_EPOCH (reproducible); None: from git
    builder: str | None = None
    depends_on: tuple[str, ...] = ()
    gates: Gates = field(default_factory=Gates)
    sign: Signing | None = None
    # Where each field (and list item: "tags[0]") was written; defaults included.
    where: Mapping[str, Where] = field(default_factory=dict, compare=False)

    def at(self, key: str) -> Where:
        """Where a field of this target was written, else where the target was."""
        if key in self.where:
            return self.where[key]
        base = key.split("[", 1)[0]
        return self.where.get(base) or self.where[""]


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[str, ...]
    where: Where
    member_where: tuple[Where, ...] = ()


@dataclass(frozen=True)
class BuilderRef:
    """Where a platform builds (`builders:`): a buildx builder, or a docker context
    (that engine's own builder)."""

    builder: str | None = None
    context: str | None = None
    where: Where | None = field(default=None, compare=False)

    def describe(self) -> str:
        if self.context:
            return f"docker context {self.context!r}"
        return f"buildx builder {self.builder!r}" if self.builder else "the current builder"


@dataclass(frozen=True)
class Mirror:
    """`mirrors:` one entry: bases under `source` (a repository, or a prefix ending in
    `/*`) are pulled from `to` instead, tags kept."""

    source: str  # as written: docker.io/library/*, alpine, localhost:5000/seed/busybox
    to: str
    where: Where | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Registry:
    """`registries:` one entry: how stackbake reaches a private registry."""

    host: str  # host[:port], as image references name it
    ca: Path | None = None  # its CA certificate (PEM)
    insecure: bool = False  # its certificate not verified (or plain HTTP)
    where: Where | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Spec:
    path: Path  # the root spec file
    targets: Mapping[str, Target]
    groups: Mapping[str, Group]
    files: tuple[Path, ...] = ()  # the root and every included file
    variables: Mapping[str, str] = field(default_factory=dict)
    # Where each variable's value came from: "--var", "environment" or "spec".
    variable_sources: Mapping[str, str] = field(default_factory=dict)
    builders: Mapping[str, BuilderRef] = field(default_factory=dict)  # platform -> where
    mirrors: tuple[Mirror, ...] = ()
    registries: Mapping[str, Registry] = field(default_factory=dict)  # host -> how

    @cached_property
    def folder(self) -> Path:
        return self.path.parent
