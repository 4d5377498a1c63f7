"""The run's record and the third phase of `stackbake build`: the record made before
anything runs (every selected target, no status yet), and after the run the durations
kept for the next schedule, the summary, the reports (JSON, JUnit, the GitHub step
summary) and the exit code."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from orchestrator.build.plan import Plan
from orchestrator.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, display_path
from orchestrator.execution.status import Kind
from orchestrator.hierarchy.naming import image_names, key_tag
from orchestrator.report.files import append_step_summary, write_junit, write_report
from orchestrator.report.record import RunRecord, TargetRecord
from orchestrator.report.summary import print_summary
from orchestrator.state import StateDir


def new_record(plan: Plan, state: StateDir) -> RunRecord:
    """The run's record, before anything ran: every selected target, no status yet."""
    targets = plan.project.spec.targets

    def names(n: str) -> tuple[str, ...]:
        if plan.options.mode.key_only:  # a shard's images are known by their keys
            return (key_tag(targets[n], plan.fresh.key(n)),)
        return image_names(targets[n]) if targets[n].tags else ()

    return RunRecord(
        display_path(plan.project.spec.path),
        {
            n: TargetRecord(
                n,
                names(n),
                targets[n].platforms,
                state.log(n),
            )
            for n in plan.selected
        },
        plan.started,
        skipped_gates=plan.options.skip_gates,
        reports=display_path(state.reports(plan.options.reports)),
    )


def finish(
    plan: Plan, record: RunRecord, state: StateDir, console: Console, environ: Mapping[str, str]
) -> int:
    """Durations for the next schedule, the summary, the reports; the exit code."""
    built = [r for r in record.targets.values() if r.status and r.status.kind is Kind.BUILT]
    state.save_durations({r.name: r.duration_s for r in built if r.duration_s is not None})
    print_summary(console, record)
    if plan.options.report:
        write_report(plan.options.report, record)
    if plan.options.junit:
        write_junit(plan.options.junit, record)
    if environ.get("GITHUB_STEP_SUMMARY"):
        append_step_summary(Path(environ["GITHUB_STEP_SUMMARY"]), record)
    if record.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if record.ok else EXIT_FAILED
