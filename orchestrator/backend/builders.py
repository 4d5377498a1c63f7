"""Pre-flight of the builders a run uses (`builders:`, a target's `builder:`,
--builder): each asked once, all at the same time, before anything builds, with
`docker buildx inspect` in its docker context. What is wrong is said for all of them
at once, each with what to do."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from orchestrator.backend.base import BuilderUse
from orchestrator.errors import EngineError
from orchestrator.refs import normalize_platform


def in_context(environ: Mapping[str, str], context: str | None) -> dict[str, str]:
    """The environment of docker commands run in a docker context (DOCKER_HOST would
    win over it: dropped); None: the one `docker context use` chose."""
    env = dict(environ)
    env.pop("DOCKER_CONTEXT", None)
    if context:
        env.pop("DOCKER_HOST", None)
        env["DOCKER_CONTEXT"] = context
    return env


def check_builders(environ: Mapping[str, str], uses: Sequence[BuilderUse]) -> None:
    """EngineError naming every builder that is missing, does not answer or cannot
    build a platform it is given."""
    if not uses:
        return
    with ThreadPoolExecutor(max_workers=min(8, len(uses))) as pool:
        problems = list(pool.map(lambda u: problem(environ, u), uses))
    found = [f"{u.purpose}: {p}" for u, p in zip(uses, problems, strict=True) if p]
    if found:
        raise EngineError("; ".join(found) if len(found) == 1 else "\n  ".join(["", *found]))


def problem(environ: Mapping[str, str], use: BuilderUse) -> str | None:
    """What is wrong with one builder, or None."""
    if use.context:
        found = _run(["docker", "context", "inspect", use.context], in_context(environ, None))
        if isinstance(found, str):
            return found
        if found.returncode != 0:
            return (
                f"docker context {use.context!r} not found (docker context ls lists them); "
                f"create it (docker context create {use.context} --docker "
                "host=ssh://USER@HOST) or name another one"
            )
    argv = ["docker", "buildx", "inspect", *([use.builder] if use.builder else [])]
    done = _run(argv, in_context(environ, use.context))
    if isinstance(done, str):
        return done
    text = done.stdout + done.stderr
    if done.returncode != 0:
        if use.builder and "no builder" in text:
            where = f" in docker context {use.context!r}" if use.context else ""
            return (
                f"buildx builder {use.builder!r} not found{where} (docker buildx ls lists "
                f"them); create it (docker buildx create --name {use.builder}) or name "
                "another one"
            )
        lines = text.strip().splitlines()
        return f"{_name(use)}: {lines[-1] if lines else 'docker buildx inspect failed'}"
    error = re.search(r"^Error:\s*(\S.*)$", text, re.MULTILINE)
    if error:
        return f"{_name(use)} does not answer: {error.group(1)}"
    return _platforms_problem(use, text)


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str] | str:
    """The finished command, or why it could not run."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        return f"cannot run docker ({exc.strerror or exc})"


def _name(use: BuilderUse) -> str:
    if use.builder:
        return f"buildx builder {use.builder!r}"
    return f"docker context {use.context!r}" if use.context else "the current builder"


def _platforms_problem(use: BuilderUse, text: str) -> str | None:
    """A builder that lists its platforms (an inactive one lists none yet) must list
    every platform it is given."""
    listed = [
        p.strip()
        for line in re.findall(r"^Platforms:\s*(.*)$", text, re.MULTILINE)
        for p in line.split(",")
        if p.strip()
    ]
    if not listed:
        return None
    have = {normalize_platform(p.rstrip("*")) for p in listed}
    lacking = [p for p in use.platforms if normalize_platform(p) not in have]
    if not lacking:
        return None
    return (
        f"{_name(use)} cannot build {', '.join(lacking)} (it builds "
        f"{', '.join(p.rstrip('*') for p in listed)}); give {', '.join(lacking)} a builder "
        "that does, or install QEMU emulation on its node"
    )
