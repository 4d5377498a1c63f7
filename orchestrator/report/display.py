"""What a person watches during a build: a live table in a terminal, prefixed log lines
elsewhere (`--progress plain`), or nothing until the summary (`--progress quiet`)."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import IO, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.errors import printable
from orchestrator.execution.events import Event, LogLine, Retrying, Started, Stopping
from orchestrator.execution.status import Kind, Phase
from orchestrator.report.record import RunRecord
from orchestrator.report.summary import STYLE, seconds, short_digest

VERB = {
    Phase.BUILD: "building",
    Phase.TEST: "testing",
    Phase.GATE: "gating",
    Phase.PUSH: "pushing",
    Phase.SIGN: "signing",
    Phase.WAIT: "waiting",
}


class Display(Protocol):
    def __enter__(self) -> Display: ...
    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def handle(self, event: Event) -> None: ...


def describe(event: Event) -> str | None:
    """One line for an event, as the plain log shows it (None: nothing to show)."""
    if isinstance(event, Started):
        again = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        return f"[{event.target}] {VERB[event.phase]}{again}"
    if isinstance(event, LogLine):
        return f"[{event.target}] {event.line}"
    if isinstance(event, Retrying):
        return (
            f"[{event.target}] {event.phase} attempt {event.attempt} failed ({event.reason}); "
            f"retrying in {event.delay_s:.1f}s"
        )
    if isinstance(event, Stopping):
        running = f"; running: {', '.join(event.running)}" if event.running else ""
        return f"stopping: {event.reason}{running}"
    status = event.status
    took = f" in {seconds(event.at - event.started_at)}" if event.started_at else ""
    digest = f" {short_digest(event.digest)}" if event.digest else ""
    if status.kind is Kind.FAILED:
        return f"[{event.target}] FAILED in {status.phase}{took}: {status.reason}"
    return f"[{event.target}] {status.describe()}{took}{digest}"


class PlainDisplay:
    """Whole lines only, under a lock: never two targets in one line."""

    def __init__(self, stream: IO[str], *, logs: bool = True) -> None:
        self.stream = stream
        self.logs = logs
        self.lock = threading.Lock()

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def handle(self, event: Event) -> None:
        if isinstance(event, LogLine) and not self.logs:
            return
        line = describe(event)
        if line is not None:
            with self.lock:
                self.stream.write(printable(line) + "\n")
                self.stream.flush()


class QuietDisplay:
    def __enter__(self) -> QuietDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def handle(self, event: Event) -> None:
        return None


class LiveDisplay:
    """A row per target (status, elapsed, last log line) and an overall progress bar."""

    def __init__(self, console: Console, run: RunRecord) -> None:
        self.console = console
        self.run = run
        self.live = Live(
            console=console, refresh_per_second=8, transient=False, get_renderable=self.render
        )

    def __enter__(self) -> LiveDisplay:
        self.live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.__exit__(kind, exc, tb)

    def handle(self, event: Event) -> None:
        # The run record is updated by the caller; this only adds notable lines.
        if isinstance(event, Retrying | Stopping):
            self.live.console.print(Text(printable(describe(event) or ""), style="yellow"))

    def render(self) -> RenderableType:
        with self.run.lock:
            now = time.time()
            grid = Table(box=None, show_header=False, pad_edge=False, expand=True)
            grid.add_column(no_wrap=True)
            grid.add_column(no_wrap=True, width=11)
            grid.add_column(no_wrap=True, justify="right", width=7)
            grid.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
            done = 0
            for r in self.run.targets.values():
                if r.status is not None:
                    done += 1
                    label, style = str(r.status.kind), STYLE[r.status.kind]
                    end = r.finished
                elif r.started is not None:
                    label, style, end = VERB.get(Phase(r.phase or "build"), "running"), "blue", now
                else:
                    label, style, end = "waiting", "dim", None
                elapsed = seconds(end - r.started) if end and r.started else ""
                last = (
                    r.last_line
                    if r.status is None
                    else (r.status.describe() if not r.status.ok else short_digest(r.digest))
                )
                grid.add_row(
                    r.name, Text(label, style=style), elapsed, Text(printable(last), style="dim")
                )
            total = len(self.run.targets)
            bar = ProgressBar(total=total or 1, completed=done, width=40)
            head = Text(f" {done}/{total} targets, {seconds(now - self.run.started)}")
            footer = Table.grid()
            footer.add_row(bar, head)
            return Group(grid, footer)


def choose_display(progress: str, console: Console, run: RunRecord, stream: IO[str]) -> Display:
    if progress == "quiet":
        return QuietDisplay()
    if progress == "tty" or (progress == "auto" and console.is_terminal):
        return LiveDisplay(console, run)
    return PlainDisplay(stream)
