"""Checks of the files and folders a spec points at: contexts and Dockerfiles inside the
spec's folder (symbolic links followed), of the kind they must be; secrets' files."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import ProblemCollector, display_path
from orchestrator.hints import did_you_mean
from orchestrator.spec.model import Spec, Target
from orchestrator.spec.textfile import kind


def check_paths(
    spec: Spec,
    target: Target,
    out: ProblemCollector,
    real: dict[Path, Path],
    *,
    allow_outside_context: bool,
) -> None:
    """The context is a folder inside the spec's (through symbolic links too), the
    Dockerfile a file inside it."""
    if _check_context(spec, target, out, real, allow_outside_context=allow_outside_context):
        _check_dockerfile(spec, target, out, real, allow_outside_context=allow_outside_context)


def _check_context(
    spec: Spec,
    target: Target,
    out: ProblemCollector,
    real: dict[Path, Path],
    *,
    allow_outside_context: bool,
) -> bool:
    ctx = target.context
    inside = ctx.is_relative_to(spec.folder)
    folder = _real(spec.folder, real)
    if not allow_outside_context and not (inside and _real(ctx, real).is_relative_to(folder)):
        shown = os.path.relpath(ctx, target.spec_file.parent)
        through = "" if not inside else " (through a symbolic link)"
        out.add(
            target.at("context").problem(
                f"context {shown} is outside the folder of {spec.path.name}{through}; "
                "move it inside or pass --allow-outside-context"
            )
        )
        return False
    if not ctx.is_dir():
        what = f"is {kind(ctx) or 'a file'}, not a folder" if ctx.exists() else "does not exist"
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
    real: dict[Path, Path],
    *,
    allow_outside_context: bool,
) -> None:
    ctx, folder = target.context, _real(spec.folder, real)
    outside = not _real(target.dockerfile, real).is_relative_to(folder)
    if not allow_outside_context and outside:
        shown = os.path.relpath(target.dockerfile, target.spec_file.parent)
        out.add(
            target.at("dockerfile").problem(
                f"Dockerfile {shown} is outside the folder of {spec.path.name}; move it "
                "inside or pass --allow-outside-context"
            )
        )
        return
    if target.dockerfile.exists() and not target.dockerfile.is_file():
        out.add(
            target.at("dockerfile").problem(
                f"Dockerfile {display_path(target.dockerfile)} is {kind(target.dockerfile)}, "
                "not a file; fix 'dockerfile' (relative to the context)"
            )
        )
        return
    if not target.dockerfile.is_file():
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


def _real(path: Path, known: dict[Path, Path]) -> Path:
    """The path with its symbolic links resolved, once per check (targets share
    contexts and Dockerfiles)."""
    if path not in known:
        known[path] = Path(os.path.realpath(path))
    return known[path]


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
