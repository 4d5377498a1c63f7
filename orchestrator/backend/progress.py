"""bake's progress, read per target: `docker buildx bake --progress=rawjson`.

bake prefixes every step's name with the target whose solve reports it (`[app 2/3] RUN
make`). A parent's step reached through a `target:` link is reported by the parent and
by each child: plain progress prints such a step once, under whichever name came last,
so a parent's own RUN could be missing from its log (measured: it was). The raw JSON
keeps every report, so each step's lines go to every target that reported it, rendered
the way plain progress reads (`#7 [app 2/3] RUN make`, `#7 DONE 2.1s`).

From the same stream: the moment a target's image is exported and its digest, and which
step failed first (what failed after it was stopped by it: "context canceled", or an
export cut short).

A primer (a build started beside the session, see build/session.py) runs some of the
session's steps first, and BuildKit sends a shared step's output to the client that
started it: a primer's progress is read too (`primer`), for the step output bake's
stream lacks, each piece said once.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.backend.base import TAIL, BuildResult, SessionSink

PREFIX = re.compile(r"^\[(\S+?)[ \]]")  # "[app build 2/3] RUN x" and "[app] exporting" -> app
DIGEST = re.compile(r"^(exporting manifest list|exporting manifest|writing image) (sha256:\w+)")
PREFERENCE = ("exporting manifest list", "exporting manifest", "writing image")
CANCELLED = "context canceled"
OPENING = re.compile(r'^  "(vertexes|statuses|logs|warnings)": \[$')  # a status object's key


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
    """A step's duration, as plain progress prints it after DONE (" 2.1s")."""
    started, completed = _time(vertex.get("started", "")), _time(vertex.get("completed", ""))
    return f" {(completed - started).total_seconds():.1f}s" if started and completed else ""


@dataclass
class _Step:
    number: int
    owners: list[str] = field(default_factory=list)  # targets that reported it, in order
    heard: set[str | None] = field(default_factory=set)  # announced to (None: bake's own)
    end: str = ""  # DONE / CACHED / ERROR line, once it ended
    digests: dict[str, str] = field(default_factory=dict)  # an exporter's, by kind
    exporter_of: str | None = None
    started: dt.datetime | None = None
    said: set[str] = field(default_factory=set)  # statuses already printed "done"


@dataclass
class Objects:
    """Raw JSON progress, a line at a time: each status object (it spans lines) to
    `on_object`, every other line to `on_text`."""

    on_object: Callable[[Mapping[str, Any]], None]
    on_text: Callable[[str], None]
    on_unreadable: Callable[[str], None]
    _lines: list[str] = field(default_factory=list)

    def feed(self, line: str) -> None:
        if self._lines == ["{"] and not OPENING.match(line):
            self._lines = []  # a "{" of plain text (a heredoc in an error)
            self.on_text("{")
        if self._lines or line == "{":
            self._lines.append(line)
            if line == "}":
                text, self._lines = "\n".join(self._lines), []
                try:
                    self.on_object(json.loads(text))
                except (ValueError, KeyError, TypeError, AttributeError):
                    self.on_unreadable(text)
            return
        self.on_text(line)

    def close(self) -> None:
        """The stream ended: what it left half said is text."""
        for line in self._lines:
            self.on_text(line)
        self._lines = []


@dataclass
class Demux:
    """Fed bake's output a line at a time (JSON objects span lines); tells the sink each
    rendered line with its target, and each target's image once exported. Lines are
    masked (`redact`) here, once decoded: step output comes base64-encoded."""

    targets: Mapping[str, str]  # bake name -> target
    sink: SessionSink
    redact: Callable[[str], str] = lambda line: line
    steps: dict[str, _Step] = field(default_factory=dict)  # vertex digest -> step
    failed: dict[str, None] = field(default_factory=dict)  # in order of failure
    delivered: set[str] = field(default_factory=set)
    tails: dict[str, deque[str]] = field(default_factory=dict)
    _partial: dict[tuple[str, int], str] = field(default_factory=dict)  # unfinished lines
    _heard: set[tuple[str, int, str, str]] = field(default_factory=set)  # output pieces
    _early: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)  # before a step
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._bake = Objects(self._message, self._text, self._unreadable)

    def feed(self, line: str) -> None:
        """A line of bake's progress."""
        with self._lock:
            self._bake.feed(line)

    def primer(self) -> Callable[[str], None]:
        """A reader of a primer's progress (one per primer): its step output only."""
        objects = Objects(self._primer_message, lambda line: None, lambda text: None)

        def feed(line: str) -> None:
            with self._lock:
                objects.feed(line)

        return feed

    def close(self) -> None:
        """bake ended: what it left half said is text."""
        with self._lock:
            self._bake.close()
            for (vertex, _), rest in list(self._partial.items()):
                if rest and vertex in self.steps:
                    self._step_line(self.steps[vertex], rest)
            self._partial.clear()

    def _unreadable(self, text: str) -> None:
        self._say(None, f"stackbake: unreadable progress ({text.count(chr(10))} lines)")

    def _primer_message(self, status: Mapping[str, Any]) -> None:
        for log in status.get("logs") or []:
            if log["vertex"] in self.steps:
                self._output(log)
            else:  # bake has not announced this step yet
                self._early.setdefault(log["vertex"], []).append(log)

    def _text(self, line: str) -> None:
        closing: list[str | None] = list(self.failed) or [None]
        for target in closing:  # bake's own closing lines: about the failure
            self._say(target, line)

    def message(self, status: Mapping[str, Any]) -> None:
        """One status object of bake's progress."""
        with self._lock:
            self._message(status)

    def _message(self, status: Mapping[str, Any]) -> None:
        """New steps announced first, their statuses and output, then the steps that
        ended (an export's digests arrive with its end)."""
        vertexes = status.get("vertexes") or []
        for vertex in vertexes:
            self._announce(vertex)
        for update in status.get("statuses") or []:
            step = self.steps.get(update["vertex"])
            if step is None or not update.get("completed") or update["id"] in step.said:
                continue
            step.said.add(update["id"])
            found = DIGEST.match(update["id"])
            if found:
                step.digests.setdefault(found.group(1), found.group(2))
            self._step_line(step, f"{update['id']} done")
        for log in status.get("logs") or []:
            self._output(log)
        for warning in status.get("warnings") or []:
            step = self.steps.get(warning.get("vertex", ""))
            short = base64.b64decode(warning.get("short") or "").decode("utf-8", "replace")
            for target in self._owners(step) if step else [None]:
                self._say(target, f"WARNING: {short}")
        for vertex in vertexes:
            self._end(vertex)

    def _output(self, log: Mapping[str, Any]) -> None:
        """A step's output comes in pieces: whole lines only, so a secret split between
        two pieces is still masked. "#7 0.197 out" as plain progress prints it."""
        step = self.steps.get(log["vertex"])
        piece = (
            log["vertex"],
            int(log.get("stream") or 1),
            log.get("timestamp", ""),
            log.get("data", ""),
        )
        if step is None or piece in self._heard:
            return
        self._heard.add(piece)
        key = piece[:2]
        text = self._partial.pop(key, "")
        text += base64.b64decode(log.get("data") or "").decode("utf-8", "replace")
        *lines, rest = text.split("\n")
        if rest:
            self._partial[key] = rest
        at = _since(step.started, log.get("timestamp"))
        for line in lines:
            self._step_line(step, f"{at}{line.rstrip(chr(13))}")

    def _announce(self, vertex: Mapping[str, Any]) -> None:
        name = vertex.get("name", "")
        step = self.steps.setdefault(vertex["digest"], _Step(len(self.steps) + 1))
        if step.started is None and vertex.get("started"):
            step.started = _time(vertex["started"])
        prefix = PREFIX.match(name)
        target = self.targets.get(prefix.group(1)) if prefix else None
        if target in step.heard:
            return
        step.heard.add(target)
        if target is not None:
            step.owners.append(target)
        self._say(target, f"#{step.number} {name}")
        for log in self._early.pop(vertex["digest"], []):  # a primer's output came first
            self._output(log)
        if step.end:  # it ended before this target reported it
            self._say(target, f"#{step.number} {step.end}")
        if target and prefix and name[prefix.end() :].lstrip().startswith("exporting to "):
            step.exporter_of = target

    def _end(self, vertex: Mapping[str, Any]) -> None:
        step = self.steps[vertex["digest"]]
        if not vertex.get("completed") or step.end:
            return
        for key, rest in list(self._partial.items()):  # its last line had no newline
            if key[0] == vertex["digest"]:
                del self._partial[key]
                self._step_line(step, rest)
        error = vertex.get("error") or ""
        if error:
            step.end = f"ERROR: {error}"
        else:
            step.end = "CACHED" if vertex.get("cached") else f"DONE{_seconds(vertex)}".rstrip()
        for owner in self._owners(step):
            self._say(owner, f"#{step.number} {step.end}")
        if error and CANCELLED not in error and not self.failed:
            # The first failure stops the session. Errors after it are its echoes (an
            # export cut short: "error writing config blob: ... EOF"); their targets are
            # built again alone and fail there if the failure is really theirs.
            self.failed.update(dict.fromkeys(step.owners))
        built = step.exporter_of
        if not error and built is not None and built not in self.delivered:
            digest = next((step.digests[k] for k in PREFERENCE if k in step.digests), None)
            if digest:  # else the metadata file says it once bake is done
                self.deliver(built, BuildResult(True, digest=digest, log_tail=self.tail(built)))

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
