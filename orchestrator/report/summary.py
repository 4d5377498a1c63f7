"""The end-of-run summary: failures first with their log tails, blocked targets grouped
under the failure that blocked them, then the rest in build order."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from orchestrator.errors import display_path, printable
from orchestrator.execution.status import Kind
from orchestrator.report.record import RunRecord, TargetRecord

ORDER = (Kind.FAILED, Kind.BLOCKED, Kind.CANCELLED, Kind.BUILT, Kind.UP_TO_DATE)
STYLE = {
    Kind.FAILED: "bold red",
    Kind.BLOCKED: "yellow",
    Kind.CANCELLED: "magenta",
    Kind.BUILT: "green",
    Kind.UP_TO_DATE: "cyan",
}
TAIL_LINES = 12


def short_digest(digest: str | None) -> str:
    return digest.split(":", 1)[1][:12] if digest else "-"


def seconds(value: float | None) -> str:
    return f"{value:.1f}s" if value is not None else "-"


def counts_line(run: RunRecord) -> str:
    parts = [f"{len(run.by_kind(k))} {k}" for k in ORDER if run.by_kind(k)]
    took = seconds((run.finished or run.started) - run.started)
    head = "Interrupted" if run.interrupted else "Done"
    return f"{head}: {', '.join(parts) or 'nothing to do'} in {took}"


def ordered(run: RunRecord) -> list[TargetRecord]:
    rank = {k: i for i, k in enumerate(ORDER)}
    records = list(run.targets.values())  # already in build order
    return sorted(records, key=lambda r: rank[r.status.kind] if r.status else len(ORDER))


def table(run: RunRecord) -> Table:
    grid = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
    for column in ("TARGET", "STATUS", "PHASE", "DURATION", "DIGEST", "TAGS"):
        grid.add_column(column, no_wrap=column != "TAGS")
    for r in ordered(run):
        kind = r.status.kind if r.status else None
        grid.add_row(
            r.name,
            Text(str(kind or "unknown"), style=STYLE.get(kind, "") if kind else ""),
            str(r.status.phase) if r.status and r.status.phase else "-",
            seconds(r.duration_s),
            short_digest(r.digest),
            ", ".join(r.tags) or "-",
        )
    return grid


def failures(run: RunRecord) -> list[RenderableType]:
    out: list[RenderableType] = []
    for r in run.by_kind(Kind.FAILED):
        assert r.status is not None
        out.append(
            Text(
                printable(f"\n{r.name} failed in {r.status.phase}: {r.status.reason}"),
                style="bold red",
            )
        )
        for line in r.log_tail[-TAIL_LINES:]:
            out.append(Text(printable(f"  | {line}")))
        if r.published:  # a push that failed half-way: these tags did move
            out.append(Text(f"  published before it failed: {', '.join(r.published)}"))
        out.append(Text(f"  full log: {display_path(r.log)}"))
    return out


def blocked_groups(run: RunRecord) -> list[str]:
    lines = []
    for failed in run.by_kind(Kind.FAILED):
        blocked = [
            r.name
            for r in run.by_kind(Kind.BLOCKED)
            if r.status and failed.name in r.status.blocked_by
        ]
        if blocked:
            n = len(blocked)
            lines.append(
                f"{failed.name} failed and blocked {n} target{'s' * (n != 1)}: {', '.join(blocked)}"
            )
    if len(run.by_kind(Kind.FAILED)) > 0 and run.by_kind(Kind.BLOCKED):
        f, b = len(run.by_kind(Kind.FAILED)), len(run.by_kind(Kind.BLOCKED))
        lines.insert(0, f"{f} failure{'s' * (f != 1)} blocked {b} target{'s' * (b != 1)}")
    return lines


def render_summary(run: RunRecord) -> RenderableType:
    parts: list[RenderableType] = [Text(""), table(run), *failures(run)]
    groups = blocked_groups(run)
    if groups:
        parts.append(Text(""))
        parts += [Text(line, style="yellow") for line in groups]
    for stop in run.stops:
        if stop.running:
            parts.append(
                Text(
                    f"{stop.reason}: {', '.join(stop.running)} "
                    f"{'were cancelled' if run.interrupted else 'ran to the end'}"
                )
            )
    if run.skipped_gates:
        skipped = ", ".join(run.skipped_gates)
        parts.append(Text(f"gates skipped for this run (--skip-gate): {skipped}", style="yellow"))
    parts.append(Text(""))
    parts.append(Text(counts_line(run), style="bold"))
    return Group(*parts)


def print_summary(console: Console, run: RunRecord) -> None:
    console.print(render_summary(run))
