"""Checks of the files and folders a spec points at: contexts and Dockerfiles inside the
spec's folder (symbolic links followed), of the kind they must be; secrets' files."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from orchestrator.errors import ProblemCollector, display_path
from orchestrator.hints import did_you_mean
from orchestrator.spec.model import Spec, Target
from orchestrator.spec.textfile import kind


class PathFacts:
    """What the file system says about each path, asked once per check: the targets of
    a big spec share a few contexts and Dockerfiles (100,000 targets, one folder)."""

    def __init__(self) -> None:
        self._real: dict[Path, str] = {}
        self._real_text: dict[str, tuple[str, bool]] = {}  # each folder met, and more
        self._mode: dict[Path, int | None] = {}
        self.good: set[tuple[Path, Path]] = set()  # (context, Dockerfile) pairs that passed

    def inside(self, path: Path, folder: Path, *, real: bool = False) -> bool:
        """`path` is `folder` or below it (after resolving symbolic links when `real`)."""
        if real:
            there, top = self._resolved(path), self._resolved(folder)
        else:
            there, top = str(path), str(folder)
        return there == top or there.startswith(top.rstrip(os.sep) + os.sep)

    def is_dir(self, path: Path) -> bool:
        mode = self._stat(path)
        return mode is not None and stat.S_ISDIR(mode)

    def is_file(self, path: Path) -> bool:
        mode = self._stat(path)
        return mode is not None and stat.S_ISREG(mode)

    def exists(self, path: Path) -> bool:
        return self._stat(path) is not None

    def _resolved(self, path: Path) -> str:
        if path not in self._real:
            self._real[path] = self._realpath(str(path))
        return self._real[path]

    def _realpath(self, text: str) -> str:
        """os.path.realpath(text), one lstat a path rather than one a component: each
        folder met is resolved once for all the paths in it (100,000 contexts in one)."""
        return self._real_walk(text)[0]

    def _real_walk(self, text: str) -> tuple[str, bool]:
        """realpath(text), and whether no symbolic link was met on the way there (only
        then can the path of a file in it be made by joining its name). A loop, not
        recursion: a path may have thousands of parts."""
        chain: list[tuple[str, str, str]] = []  # (path, its folder, its name), innermost first
        at = text
        while at not in self._real_text:
            head, tail = os.path.split(at)
            if head == at:  # the root
                self._real_text[at] = (os.path.realpath(at), True)
            elif not head or tail in ("", ".", ".."):
                self._real_text[at] = (os.path.realpath(at), False)
            else:
                chain.append((at, head, tail))
                at = head
        for at, head, tail in reversed(chain):
            real_head, plain = self._real_text[head]
            joined = os.path.join(real_head, tail)
            with contextlib.suppress(OSError):  # not there: realpath keeps it as written
                plain = plain and not stat.S_ISLNK(os.lstat(joined).st_mode)
            self._real_text[at] = (joined, True) if plain else (os.path.realpath(at), False)
        return self._real_text[text]

    def _stat(self, path: Path) -> int | None:
        if path not in self._mode:
            try:
                self._mode[path] = os.stat(path).st_mode
            except (OSError, ValueError):
                self._mode[path] = None
        return self._mode[path]


def check_paths(
    spec: Spec,
    target: Target,
    out: ProblemCollector,
    facts: PathFacts,
    *,
    allow_outside_context: bool,
) -> None:
    """The context is a folder inside the spec's (through symbolic links too), the
    Dockerfile a file inside it."""
    pair = (target.context, target.dockerfile)
    if pair in facts.good:
        return
    allow = allow_outside_context
    if not _check_context(spec, target, out, facts, allow_outside_context=allow):
        return
    if _check_dockerfile(spec, target, out, facts, allow_outside_context=allow):
        facts.good.add(pair)


def _check_context(
    spec: Spec,
    target: Target,
    out: ProblemCollector,
    facts: PathFacts,
    *,
    allow_outside_context: bool,
) -> bool:
    ctx = target.context
    inside = facts.inside(ctx, spec.folder)
    if not allow_outside_context and not (inside and facts.inside(ctx, spec.folder, real=True)):
        shown = os.path.relpath(ctx, target.spec_file.parent)
        through = "" if not inside else " (through a symbolic link)"
        out.add(
            target.at("context").problem(
                f"context {shown} is outside the folder of {spec.path.name}{through}; "
                "move it inside or pass --allow-outside-context"
            )
        )
        return False
    if not facts.is_dir(ctx):
        what = "does not exist"
        if facts.exists(ctx):
            what = f"is {kind(ctx) or 'a file'}, not a folder"
        shown = os.path.relpath(ctx, target.spec_file.parent)
        out.add(
            target.at("context").problem(
                f"context {shown} {what}; fix 'context' (relative to {target.spec_file.name}'s "
                "folder)"
            )
        )
        return False
    return True


def _check_dockerfile(
    spec: Spec,
    target: Target,
    out: ProblemCollector,
    facts: PathFacts,
    *,
    allow_outside_context: bool,
) -> bool:
    ctx = target.context
    outside = not facts.inside(target.dockerfile, spec.folder, real=True)
    if not allow_outside_context and outside:
        shown = os.path.relpath(target.dockerfile, target.spec_file.parent)
        out.add(
            target.at("dockerfile").problem(
                f"Dockerfile {shown} is outside the folder of {spec.path.name}; move it "
                "inside or pass --allow-outside-context"
            )
        )
        return False
    if facts.exists(target.dockerfile) and not facts.is_file(target.dockerfile):
        out.add(
            target.at("dockerfile").problem(
                f"Dockerfile {display_path(target.dockerfile)} is {kind(target.dockerfile)}, "
                "not a file; fix 'dockerfile' (relative to the context)"
            )
        )
        return False
    if not facts.is_file(target.dockerfile):
        present = sorted(p.name for p in ctx.iterdir() if "dockerfile" in p.name.lower())
        hint = did_you_mean(target.dockerfile.name, present) or (
            f"; found: {', '.join(present)}" if present else ""
        )
        unset = (
            ""
            if "context" in target.where
            else ("; 'context' is not set, so it is the folder of " + target.spec_file.name)
        )
        out.add(
            target.at("dockerfile").problem(
                f"Dockerfile {display_path(target.dockerfile)} does not exist{hint}; fix "
                f"'dockerfile' (relative to the context){unset}"
            )
        )
        return False
    return True


def check_secret_files(target: Target, out: ProblemCollector) -> None:
    """A secret's `src` is a file (checked by validate too: it does not depend on the
    environment a build runs in); each id once; ssh entries name a socket or a key."""
    first: dict[str, int] = {}
    for i, secret in enumerate(target.secrets):
        if first.setdefault(secret.id, i) != i:
            out.add(
                target.at(f"secrets[{i}]").problem(
                    f"secret id {secret.id!r} is also secrets[{first[secret.id]}]; give each "
                    "its own id"
                )
            )
    for i, ssh in enumerate(target.ssh):
        name, sep, value = ssh.partition("=")
        if not name or (sep and not value):
            out.add(
                target.at(f"ssh[{i}]").problem(
                    f"ssh {ssh!r}: write default, ID, or ID=PATH (an agent socket or a key)"
                )
            )
    for i, secret in enumerate(target.secrets):
        if secret.src and not secret.src.is_file():
            what = kind(secret.src)
            said = f"is {what}, not a file" if what else "does not exist"
            out.add(
                target.at(f"secrets[{i}]").problem(
                    f"secret {secret.id!r}: file {display_path(secret.src)} {said}"
                )
            )
