"""bake's progress, read per target: `docker buildx bake --progress=rawjson`.

bake prefixes every step's name with the target whose solve reports it (`[app 2/3] RUN
make`). A parent's step reached through a `target:` link is reported by the parent and
by each child: plain progress prints such a step once, under whichever name came last,
so a parent's own RUN could be missing from its log (measured: it was). The raw JSON
keeps every report, so each step's lines go to every target that reported it, rendered
the way plain progress reads (`#7 [app 2/3] RUN make`, `#7 DONE 2.1s`).

From the same stream: the moment a target's image is exported and its digest, and which
step failed (a step stopped because another failed ends in "context canceled").
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.backend.base import TAIL, BuildResult, SessionSink

PREFIX = re.compile(r"^\[(\S+?)[ \]]")  # "[app build 2/3] RUN x" and "[app] exporting" -> app
DIGEST = re.compile(r"^(exporting manifest list|exporting manifest|writing image) (sha256:\w+)")
PREFERENCE = ("exporting manifest list", "exporting manifest", "writing image")
CANCELLED = "context canceled"


def _time(stamp: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None


def _since(started: dt.datetime | None, stamp: str | None) -> str:
    """Seconds from a step's start to a line of its output, as plain progress prints."""
    at = _time(stamp) if stamp else None
    return f"{(at - started).total_seconds():.3f} " if at and started else ""


def _seconds(vertex: Mapping[str, Any]) -> str:
    try:
        started = dt.datetime.fromisoformat(vertex["started"])
        completed = dt.datetime.fromisoformat(vertex["completed"])
    except (KeyError, ValueError):
        return ""
    return f" {(completed - started).total_seconds():.1f}s"


@dataclass
class _Step:
    number: int
    owners: list[str] = field(default_factory=list)  # targets that reported it, in order
    heard: set[str | None] = field(default_factory=set)  # announced to (None: bake's own)
    end: str = ""  # DONE / CACHED / ERROR line, once it ended
    digests: dict[str, str] = field(default_factory=dict)  # an exporter's, by kind
    exporter_of: str | None = None
    started: dt.datetime | None = None


@dataclass
class Demux:
    """Fed bake's output a line at a time (JSON objects span lines); tells the sink each
    rendered line with its target, and each target's image once exported."""

    targets: Mapping[str, str]  # bake name -> target
    sink: SessionSink
    redact: Callable[[str], str] = lambda line: line
    steps: dict[str, _Step] = field(default_factory=dict)  # vertex digest -> step
    failed: dict[str, None] = field(default_factory=dict)  # in order of failure
    delivered: set[str] = field(default_factory=set)
    tails: dict[str, deque[str]] = field(default_factory=dict)
    _object: list[str] = field(default_factory=list)

    def feed(self, line: str) -> None:
        if self._object or line == "{":
            self._object.append(line)
            if line == "}":
                text, self._object = "\n".join(self._object), []
                try:
                    self.message(json.loads(text))
                except (ValueError, KeyError, TypeError):
                    self._say(None, text)
            return
        closing: list[str | None] = list(self.failed) or [None]
        for target in closing:  # bake's own closing lines: about the failure
            self._say(target, line)

    def message(self, status: Mapping[str, Any]) -> None:
        for vertex in status.get("vertexes") or []:
            self._vertex(vertex)
        for update in status.get("statuses") or []:
            step = self.steps.get(update["vertex"])
            if step is None or not update.get("completed"):
                continue
            found = DIGEST.match(update["id"])
            if found:
                step.digests.setdefault(found.group(1), found.group(2))
            self._step_line(step, f"{update['id']} done")
        for log in status.get("logs") or []:
            step = self.steps.get(log["vertex"])
            text = base64.b64decode(log.get("data") or "").decode("utf-8", "replace")
            at = _since(step.started, log.get("timestamp")) if step else ""
            for part in text.splitlines():
                if step is not None:
                    self._step_line(step, f"{at}{part}")  # as plain progress: "#7 0.197 out"
        for warning in status.get("warnings") or []:
            step = self.steps.get(warning.get("vertex", ""))
            short = base64.b64decode(warning.get("short") or "").decode("utf-8", "replace")
            for target in self._owners(step) if step else [None]:
                self._say(target, f"WARNING: {short}")

    def _vertex(self, vertex: Mapping[str, Any]) -> None:
        name = vertex.get("name", "")
        step = self.steps.setdefault(vertex["digest"], _Step(len(self.steps) + 1))
        if step.started is None and vertex.get("started"):
            step.started = _time(vertex["started"])
        prefix = PREFIX.match(name)
        target = self.targets.get(prefix.group(1)) if prefix else None
        if target not in step.heard:
            step.heard.add(target)
            if target is not None:
                step.owners.append(target)
            self._say(target, f"#{step.number} {name}")
            if step.end:  # it ended before this target reported it
                self._say(target, f"#{step.number} {step.end}")
            if target and prefix and name[prefix.end() :].lstrip().startswith("exporting to "):
                step.exporter_of = target
        if not vertex.get("completed") or step.end:
            return
        error = vertex.get("error") or ""
        if error:
            step.end = f"ERROR: {error}"
        else:
            step.end = "CACHED" if vertex.get("cached") else f"DONE{_seconds(vertex)}".rstrip()
        for owner in self._owners(step):
            self._say(owner, f"#{step.number} {step.end}")
        if error and CANCELLED not in error:
            self.failed.update(dict.fromkeys(step.owners))
        if not error and step.exporter_of and step.exporter_of not in self.delivered:
            digest = next((step.digests[k] for k in PREFERENCE if k in step.digests), None)
            if digest:  # else the metadata file says it once bake is done
                target = step.exporter_of
                self.deliver(target, BuildResult(True, digest=digest, log_tail=self.tail(target)))

    def _step_line(self, step: _Step, text: str) -> None:
        for owner in self._owners(step):
            self._say(owner, f"#{step.number} {text}")

    @staticmethod
    def _owners(step: _Step) -> list[str | None]:
        """A step of no target (bake's own) goes to the session's log."""
        return list(step.owners) if step.owners else [None]

    def _say(self, target: str | None, line: str) -> None:
        line = self.redact(line)
        if target is not None:
            self.tails.setdefault(target, deque(maxlen=TAIL)).append(line)
        self.sink.line(target, line)

    def tail(self, target: str) -> tuple[str, ...]:
        return tuple(self.tails.get(target, ()))

    def deliver(self, target: str, result: BuildResult) -> None:
        self.delivered.add(target)
        self.sink.done(target, result)
