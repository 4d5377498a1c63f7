"""The reports' gates: each gate and platform in the JSON report (valid against its
schema), a JUnit test case each, a Markdown table; a gate bypassed with --skip-gate is
said in all three."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from jsonschema import Draft202012Validator

from orchestrator.execution.status import GateResult, Kind, Phase, Status
from orchestrator.report.files import junit_xml, markdown, report_json
from orchestrator.report.record import RunRecord, TargetRecord

SCHEMA = Path(__file__).parents[2] / "schemas" / "report.schema.json"
LEAK = "secret aws-access-key-id in /etc/creds (CRITICAL)"


def run() -> RunRecord:
    platforms = ("linux/amd64", "linux/arm64")
    leaky = TargetRecord("leaky", ("r.example/leaky:1",), platforms, Path(".stackbake/logs/x"))
    leaky.status = Status(Kind.FAILED, Phase.GATE, f"scan: {LEAK} on linux/arm64")
    leaky.started, leaky.finished = 10.0, 12.5
    leaky.gates = (
        GateResult("scan", "linux/amd64", True, duration_s=0.4),
        GateResult("scan", "linux/arm64", False, (LEAK,), duration_s=0.5),
        GateResult("user", "linux/amd64", True, skipped="--skip-gate user"),
        GateResult("sbom", "linux/arm64", True, files=("sbom/leaky/linux-arm64.cyclonedx.json",)),
    )
    return RunRecord(
        "builds.yaml", {"leaky": leaky}, 10.0, 13.0, skipped_gates=("user",), reports="out"
    )


def test_the_json_report_has_every_gate_and_what_was_skipped() -> None:
    report = report_json(run())
    Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(report)
    assert (report["skipped_gates"], report["reports"]) == (["user"], "out")
    [leaky] = report["targets"]
    assert (leaky["phase"], leaky["gates"][1]) == (
        "gate",
        {
            "gate": "scan",
            "platform": "linux/arm64",
            "result": "failed",
            "findings": [LEAK],
            "skipped": None,
            "duration_s": 0.5,
            "files": [],
        },
    )
    assert [g["result"] for g in leaky["gates"]] == ["passed", "failed", "skipped", "passed"]
    assert leaky["gates"][3]["files"] == ["sbom/leaky/linux-arm64.cyclonedx.json"]


def test_junit_has_a_test_case_per_gate_and_platform() -> None:
    suite = ET.fromstring(junit_xml(run())).find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == [
        "leaky",
        "gate scan on linux/amd64",
        "gate scan on linux/arm64",
        "gate user on linux/amd64",
        "gate sbom on linux/arm64",
    ]
    failure = cases["gate scan on linux/arm64"].find("failure")
    assert failure is not None
    assert failure.get("message") == f"scan: {LEAK} on linux/arm64"
    skipped = cases["gate user on linux/amd64"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "--skip-gate user"
    assert cases["gate scan on linux/amd64"].get("classname") == "stackbake.builds.yaml.leaky"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "2", "1")


def test_the_step_summary_has_a_table_of_the_gates() -> None:
    text = markdown(run())
    assert "Skipped for this run: `user`\n" in text
    assert f"| `leaky` | scan | linux/arm64 | failed: {LEAK} |\n" in text
    assert "| `leaky` | user | linux/amd64 | skipped (--skip-gate user) |\n" in text
