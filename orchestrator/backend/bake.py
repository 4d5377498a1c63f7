"""Many builds in one BuildKit session: `docker buildx bake` on a generated definition.

One bake client sets up every target's session once and BuildKit solves the whole set
together: a child starts on its parent's result through a `target:` context, with no
export, tag or new client in between. What bake itself lacks comes from its progress
(backend/progress.py): each target's lines, the moment each target's image is exported
and its digest, and which target failed. bake stops the whole session at the first
failure; the caller decides what to do with the targets it never finished (see
orchestrator/session.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from orchestrator.backend.base import BuildRequest, BuildResult
from orchestrator.backend.progress import Demux

LINK = "target:"  # a named context that is another target of the same bake file
BAKE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # what bake accepts as a target name
RESERVED = {"internal", "default"}  # bake's own words in `[...]` prefixes and groups


def bake_names(targets: Sequence[str]) -> dict[str, str]:
    """A bake name for each target: itself where bake allows it, else a safe spelling
    made unique with its position (stackbake names may hold dots, bake's may not)."""
    names = {}
    for i, target in enumerate(targets):
        ok = BAKE_NAME.match(target) and target not in RESERVED
        names[target] = target if ok else f"t{i}-{re.sub(r'[^A-Za-z0-9_-]', '_', target)}"
    return names


def _literal(value: str) -> str:
    """bake reads a JSON file as HCL, where `${` and `%{` start templates."""
    return value.replace("${", "$${").replace("%{", "%%{")


def definition(requests: Sequence[BuildRequest], names: Mapping[str, str]) -> dict[str, object]:
    """The bake file for these requests: every field of `docker buildx build` that a
    request sets, and its links as `target:` contexts. Secrets by reference only."""
    targets: dict[str, object] = {}
    for req in requests:
        contexts = {**req.contexts, **{k: LINK + names[t] for k, t in req.links.items()}}
        fields: dict[str, object] = {
            "context": str(req.context),
            "dockerfile": str(req.dockerfile),
            "target": req.stage,
            "args": dict(req.args),
            "labels": dict(req.labels),
            "tags": list(req.tags),
            "platforms": list(req.platforms),
            "contexts": contexts,
            "cache-from": list(req.cache_from),
            "cache-to": list(req.cache_to),
            "secret": [s.describe() for s in req.secrets],
            "ssh": list(req.ssh),
            "network": req.network,
            "no-cache": req.no_cache or None,
            "pull": req.pull or None,
            "output": list(req.outputs),
        }
        kept = {k: v for k, v in fields.items() if v not in (None, [], {})}
        targets[names[req.target]] = json.loads(_literal(json.dumps(kept)))
    group = {"default": {"targets": [names[r.target] for r in requests]}}
    return {"group": group, "target": targets}


def bake_argv(file: Path, metadata: Path, *, builder: str | None, load: bool) -> list[str]:
    argv = ["docker", "buildx", "bake", "--progress=rawjson", "--file", str(file)]
    argv += ["--builder", builder] if builder else []
    argv += ["--load"] if load else []
    return [*argv, "--metadata-file", str(metadata)]


Failure = Callable[[Sequence[str]], BuildResult]  # a failed target's result from its log


def finish(demux: Demux, code: int, metadata: Path, failure: Failure) -> None:
    """After bake exits: every target it built is delivered (digests from its metadata
    file when the progress did not show one), and the target whose step failed the
    session gets its failure. The rest were stopped by bake (or by a cancel): nothing
    is said of them."""
    demux.close()
    names = {target: name for name, target in demux.targets.items()}
    if code == 0:  # all built, even if a cancel came as bake was exiting
        data = json.loads(metadata.read_text() or "{}") if metadata.is_file() else {}
        for target, name in names.items():
            if target not in demux.delivered:
                digest = data.get(name, {}).get("containerimage.digest")
                demux.deliver(target, BuildResult(True, digest=digest, log_tail=demux.tail(target)))
        return
    for target in demux.failed:
        if target not in demux.delivered:
            demux.deliver(target, failure(demux.tail(target)))
