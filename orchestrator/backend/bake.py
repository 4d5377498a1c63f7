"""Many builds in one BuildKit session: `docker buildx bake` on a generated definition.

One bake client sets up every target's session once and BuildKit solves the whole set
together: a child starts on its parent's result through a `target:` context, with no
export, tag or new client in between. What bake itself lacks, this module adds on top of
its plain progress output: each target's lines (bake prefixes every step with
`[target ...]`), the moment each target's image is exported and its digest, and which
target failed. bake stops the whole session at the first failure; the caller decides
what to do with the targets it never finished (see orchestrator/session.py).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.backend.base import TAIL, BuildRequest, BuildResult, SessionSink

LINK = "target:"  # a named context that is another target of the same session
BAKE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # what bake accepts as a target name
RESERVED = {"internal", "default"}  # bake's own words in `[...]` prefixes and groups
VERTEX = re.compile(r"^#(\d+) (.*)$")
HEADER = re.compile(r"^\[(\S+?)(?: [^\]]*)?\] (.*)$")  # "[app build 2/3] RUN x" -> app
DIGEST = re.compile(r"^(exporting manifest list|exporting manifest|writing image) (sha256:\w+)")
ERROR_BLOCK = re.compile(r"^ > \[(\S+?)[ \]]")  # " > [app 2/3] RUN make:" after a failure
PREFERENCE = ("exporting manifest list", "exporting manifest", "writing image")


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
    request sets, and `target:` links between them. Secrets by reference only."""
    targets: dict[str, object] = {}
    for req in requests:
        contexts = {
            key: LINK + names[source[len(LINK) :]] if source.startswith(LINK) else source
            for key, source in req.contexts.items()
        }
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
    argv = ["docker", "buildx", "bake", "--progress=plain", "--file", str(file)]
    argv += ["--builder", builder] if builder else []
    argv += ["--load"] if load else []
    return [*argv, "--metadata-file", str(metadata)]


@dataclass
class Demux:
    """Reads bake's plain progress a line at a time: whose line it is, which target's
    image was just exported (and its digest), which target's step failed.

    A step's `[target ...]` prefix is the target whose solve printed it first: a parent's
    step reached through `target:` may carry a child's name. Only bake's closing error
    block (` > [target step]`, the step that failed the session) names a failure; a step
    stopped because another failed may print `ERROR: ... context canceled` too."""

    targets: Mapping[str, str]  # bake name -> target
    sink: SessionSink
    owner: dict[str, str] = field(default_factory=dict)  # vertex -> target
    exporters: dict[str, dict[str, str]] = field(default_factory=dict)  # vertex -> digests
    failed: dict[str, None] = field(default_factory=dict)  # in order of failure
    delivered: set[str] = field(default_factory=set)
    tails: dict[str, deque[str]] = field(default_factory=dict)
    blamed: str | None = None  # the target bake's closing error block is about

    def feed(self, line: str) -> None:
        vertex = VERTEX.match(line)
        target = self.blamed
        if vertex is None:
            block = ERROR_BLOCK.match(line)
            if block and block.group(1) in self.targets:
                target = self.blamed = self.targets[block.group(1)]
                self.failed[target] = None
        else:
            number, rest = vertex.groups()
            header = HEADER.match(rest)
            if header and header.group(1) in self.targets:
                target = self.owner[number] = self.targets[header.group(1)]
                if header.group(2).startswith("exporting to "):
                    self.exporters.setdefault(number, {})  # headers repeat when steps interleave
            else:
                target = self.owner.get(number)
                self._step(number, rest, target)
        if target is not None:
            self.tails.setdefault(target, deque(maxlen=TAIL)).append(line)
        self.sink.line(target, line)

    def _step(self, number: str, rest: str, target: str | None) -> None:
        if target is None or number not in self.exporters:
            return
        found = DIGEST.match(rest)
        if found:
            self.exporters[number].setdefault(found.group(1), found.group(2))
        elif rest.startswith("DONE") and target not in self.delivered:
            # Without a digest (another exporter's wording) the metadata file says it
            # once bake is done.
            digests = self.exporters[number]
            digest = next((digests[k] for k in PREFERENCE if k in digests), None)
            if digest:
                self.deliver(target, BuildResult(True, digest=digest, log_tail=self.tail(target)))

    def tail(self, target: str) -> tuple[str, ...]:
        return tuple(self.tails.get(target, ()))

    def deliver(self, target: str, result: BuildResult) -> None:
        self.delivered.add(target)
        self.sink.done(target, result)


Classify = Callable[[Sequence[str]], tuple[str, bool]]


def finish(demux: Demux, code: int, metadata: Path, classify: Classify) -> None:
    """After bake exits: every target it built is delivered (digests from its metadata
    file when the progress did not show one), and the target whose step failed the
    session gets its failure. The rest were stopped by bake (or by a cancel): nothing
    is said of them."""
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
            reason, transient = classify(demux.tail(target))
            demux.deliver(
                target,
                BuildResult(False, reason=reason, transient=transient, log_tail=demux.tail(target)),
            )
