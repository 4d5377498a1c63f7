"""The checks read from an image's config, on facts from recorded trivy reports."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.execution.status import GateResult
from orchestrator.gates import checks
from orchestrator.gates.facts import Facts, ReportError, facts_from
from orchestrator.spec.gates import Gates

DATA = Path(__file__).parent / "data"


def recorded(name: str, platform: str = "linux/arm64") -> Facts:
    return facts_from((DATA / f"trivy-{name}.json").read_text(), platform)


def test_facts_from_a_containerd_report() -> None:
    facts = recorded("secret")
    assert facts.size == 5139968  # Metadata.Size: the layers' uncompressed tar streams
    assert facts.layers == 4
    assert facts.user == "root"
    assert facts.labels == {
        "org.opencontainers.image.base.name": "localhost:5000/seed/busybox:1.35"
    }
    assert facts.healthcheck is None
    assert facts.artifact == "docker.io/gx-probe/secret:1"
    assert [r["Class"] for r in facts.results] == ["config", "secret"]


def test_healthcheck_from_the_config_or_else_the_history() -> None:
    # The remote source keeps Healthcheck; the containerd source drops it (history only).
    assert recorded("hn").healthcheck == ("NONE",)
    assert recorded("vuln").healthcheck == ("CMD-SHELL",)  # containerd: from the history
    data = json.loads((DATA / "trivy-vuln.json").read_text())
    data["Metadata"]["ImageConfig"]["history"] = []
    assert facts_from(json.dumps(data), "linux/amd64").healthcheck is None


def test_not_a_report() -> None:
    with pytest.raises(ReportError, match="not a JSON report"):
        facts_from("FATAL error", "linux/amd64")


def test_max_size_names_both_sizes() -> None:
    facts = recorded("secret")
    assert checks.max_size(Gates(max_size=3_000_000), facts) == ("5.1 MB > 3.0 MB",)
    assert checks.max_size(Gates(max_size=5_139_968), facts) == ()
    big = replace(facts, size=612_000_000)
    assert checks.max_size(Gates(max_size=500_000_000), big) == ("612 MB > 500 MB",)
    result = GateResult("max_size", "linux/arm64", False, ("612 MB > 500 MB",))
    assert result.describe() == "max_size: 612 MB > 500 MB on linux/arm64"


def test_max_layers() -> None:
    facts = recorded("secret")
    assert checks.max_layers(Gates(max_layers=3), facts) == ("4 layers > 3",)
    assert checks.max_layers(Gates(max_layers=4), facts) == ()


def test_labels_names_the_missing_ones() -> None:
    facts = recorded("secret")
    one = Gates(labels=("maintainer", "org.opencontainers.image.base.name"))
    assert checks.labels(one, facts) == ("missing label maintainer",)
    two = Gates(labels=("maintainer", "org.opencontainers.image.version"))
    assert checks.labels(two, facts) == (
        "missing labels maintainer, org.opencontainers.image.version",
    )
    assert checks.labels(Gates(labels=("org.opencontainers.image.base.name",)), facts) == ()


@pytest.mark.parametrize(
    ("user", "found"),
    [
        ("", ("no USER: runs as root",)),
        ("root", ("runs as root (USER root)",)),
        ("0", ("runs as root (USER 0)",)),
        ("0:0", ("runs as root (USER 0:0)",)),
        ("root:x", ("runs as root (USER root:x)",)),
        ("app", ()),
        ("1000:0", ()),
        ("65532", ()),
    ],
)
def test_user_non_root(user: str, found: tuple[str, ...]) -> None:
    facts = replace(recorded("secret"), user=user)
    assert checks.user(Gates(user="non-root"), facts) == found


def test_healthcheck_required() -> None:
    gates = Gates(healthcheck=True)
    assert checks.healthcheck(gates, recorded("secret")) == ("no HEALTHCHECK",)
    assert checks.healthcheck(gates, recorded("hn")) == ("HEALTHCHECK NONE",)
    assert checks.healthcheck(gates, recorded("vuln")) == ()
    assert checks.healthcheck(Gates(), recorded("secret")) == ()


def test_bases_on_the_base_label() -> None:
    facts = recorded("secret")
    assert checks.bases(Gates(bases=("localhost:5000/seed/*",)), facts) == ()
    assert checks.bases(Gates(bases=("localhost:5000/other/*", "x/*")), facts) == (
        "base localhost:5000/seed/busybox:1.35 is not allowed "
        "(gates.bases: localhost:5000/other/*, x/*)",
    )
    short = replace(facts, labels={checks.BASE_LABEL: "busybox:1.35"})
    assert checks.bases(Gates(bases=("docker.io/library/*",)), short) == ()


def test_bases_accepts_a_parent_target_and_an_image_without_the_label() -> None:
    gates = Gates(bases=("localhost:5000/seed/*",))
    child = replace(recorded("secret"), labels={checks.BASE_LABEL: "localhost:5000/co/base:1"})
    assert checks.bases(gates, child, parents=("localhost:5000/co/base:stackbake-ab-run",)) == ()
    assert checks.bases(gates, child) != ()
    assert checks.bases(gates, replace(child, labels={})) == ()
