"""Machine-readable reports: JSON (`--report`), JUnit XML (`--junit`), and Markdown for
`$GITHUB_STEP_SUMMARY`."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from orchestrator.atomic import write_atomic
from orchestrator.errors import display_path
from orchestrator.execution.status import GateResult, Kind
from orchestrator.report.record import RunRecord, TargetRecord
from orchestrator.report.summary import ORDER, counts_line, ordered, short_digest

REPORT_SCHEMA_ID = "stackbake.report/v1"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds")


def _target(r: TargetRecord) -> dict[str, Any]:
    status = r.status
    return {
        "name": r.name,
        "status": str(status.kind) if status else "unknown",
        "phase": str(status.phase) if status and status.phase else None,
        "reason": status.reason if status else "",
        "blocked_by": list(status.blocked_by) if status else [],
        "digest": r.digest,
        "tags": list(r.tags),
        "published": list(r.published),
        "platforms": list(r.platforms),
        "started": iso(r.started),
        "finished": iso(r.finished),
        "duration_s": r.duration_s,
        "attempts": r.attempts,
        "retries": len(r.retries),
        "log": display_path(r.log),
        "gates": [_gate(g) for g in r.gates],
    }


def _gate(g: GateResult) -> dict[str, Any]:
    return {
        "gate": g.gate,
        "platform": g.platform,
        "result": g.result,
        "findings": list(g.findings),
        "skipped": g.skipped or None,
        "duration_s": round(g.duration_s, 3),
        "files": list(g.files),
    }


def report_json(run: RunRecord) -> dict[str, Any]:
    result = "interrupted" if run.interrupted else ("ok" if run.ok else "failed")
    return {
        "schema": REPORT_SCHEMA_ID,
        "spec": run.spec,
        "result": result,
        "started": iso(run.started),
        "finished": iso(run.finished),
        "duration_s": round((run.finished or run.started) - run.started, 3),
        "counts": {str(k): len(run.by_kind(k)) for k in ORDER},
        "skipped_gates": list(run.skipped_gates),
        "reports": run.reports or None,
        "targets": [_target(r) for r in run.targets.values()],
    }


def write_report(path: Path, run: RunRecord) -> None:
    write_atomic(path, json.dumps(report_json(run), indent=2) + "\n")


def junit_xml(run: RunRecord) -> str:
    suite = ET.Element(
        "testsuite",
        {
            "name": "stackbake",
            "tests": str(len(run.targets)),
            "failures": str(len(run.by_kind(Kind.FAILED))),
            "skipped": str(len(run.by_kind(Kind.BLOCKED)) + len(run.by_kind(Kind.CANCELLED))),
            "errors": "0",
            "time": f"{(run.finished or run.started) - run.started:.3f}",
            "timestamp": iso(run.started) or "",
        },
    )
    for r in run.targets.values():
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"stackbake.{Path(run.spec).name}",
                "name": r.name,
                "time": f"{r.duration_s or 0:.3f}",
            },
        )
        status = r.status
        if status is None:
            continue
        if status.kind is Kind.FAILED:
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "message": f"failed in {status.phase}: {status.reason}",
                    "type": str(status.phase),
                },
            )
            failure.text = "\n".join(r.log_tail)
        elif status.kind in (Kind.BLOCKED, Kind.CANCELLED):
            ET.SubElement(case, "skipped", {"message": status.describe()})
        if r.digest:
            ET.SubElement(case, "system-out").text = f"digest {r.digest}"
        for gate in r.gates:
            _gate_case(suite, f"stackbake.{Path(run.spec).name}.{r.name}", gate)
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(len(suite.findall("testcase/failure"))))
    suite.set("skipped", str(len(suite.findall("testcase/skipped"))))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _gate_case(suite: ET.Element, classname: str, gate: GateResult) -> None:
    """A test case per gate and platform: `gate scan on linux/arm64`."""
    where = f" on {gate.platform}" if gate.platform else ""
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "classname": classname,
            "name": f"gate {gate.gate}{where}",
            "time": f"{gate.duration_s:.3f}",
        },
    )
    if gate.skipped:
        ET.SubElement(case, "skipped", {"message": gate.skipped})
    elif not gate.passed:
        failure = ET.SubElement(case, "failure", {"message": gate.describe(), "type": "gate"})
        failure.text = "\n".join(gate.findings)


def write_junit(path: Path, run: RunRecord) -> None:
    write_atomic(path, junit_xml(run))


def markdown(run: RunRecord) -> str:
    icon = {
        Kind.BUILT: "✅",
        Kind.UP_TO_DATE: "✅",
        Kind.FAILED: "❌",
        Kind.BLOCKED: "⛔",
        Kind.CANCELLED: "⏹️",
    }
    lines = [
        f"### stackbake: {counts_line(run)}",
        "",
        "| target | status | phase | duration | digest |",
        "|---|---|---|---|---|",
    ]
    for r in ordered(run):
        kind = r.status.kind if r.status else None
        detail = r.status.describe() if r.status else "unknown"
        lines.append(
            f"| `{r.name}` | {icon.get(kind, '') if kind else ''} {detail} | "
            f"{r.status.phase if r.status and r.status.phase else ''} | "
            f"{r.duration_s or 0:.1f}s | `{short_digest(r.digest)}` |"
        )
    lines += _gates_markdown(run)
    for r in run.by_kind(Kind.FAILED):
        lines += [
            "",
            f"<details><summary>{r.name}: last log lines</summary>",
            "",
            "```",
            *r.log_tail,
            "```",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


def _gates_markdown(run: RunRecord) -> list[str]:
    """The gates of every target and platform; bypassed ones said first."""
    rows = [(r.name, g) for r in ordered(run) for g in r.gates]
    if not rows and not run.skipped_gates:
        return []
    lines = ["", "#### Gates", ""]
    if run.skipped_gates:
        lines += [f"Skipped for this run: {', '.join(f'`{g}`' for g in run.skipped_gates)}", ""]
    lines += ["| target | gate | platform | result |", "|---|---|---|---|"]
    for name, g in rows:
        result = f"skipped ({g.skipped})" if g.skipped else g.result
        found = "; ".join(g.findings).replace("|", "\\|")
        result += f": {found}" if found and not g.skipped else ""
        lines.append(f"| `{name}` | {g.gate} | {g.platform or ''} | {result} |")
    return lines


def append_step_summary(path: Path, run: RunRecord) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(markdown(run))
