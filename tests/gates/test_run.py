"""run_gates with stand-in tools: what it runs, in what order it answers, skips,
failures of the tool itself, where the SBOMs go, and the image's source."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from orchestrator.execution.cancel import CancelToken
from orchestrator.gates.run import run_gates
from orchestrator.refs import parse_ref
from orchestrator.spec.gates import Gates, Scan
from orchestrator.spec.model import Target
from tests.gates.trivydb import write_db

DATA = Path(__file__).parent / "data"
PLATFORMS = ("linux/amd64", "linux/arm64")


def target(tmp_path: Path, **gates: object) -> Target:
    return Target(
        name="app",
        spec_file=tmp_path / "builds.yaml",
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        gates=Gates(**gates),  # type: ignore[arg-type]
    )


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A trivy that prints a recorded report (and a tiny SBOM), logging its argv."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "trivy"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$CONTAINERD_ADDRESS $@" >> "{folder}/argv"\n'
        'if [ "$1" = convert ]; then echo \'{"bomFormat": "CycloneDX"}\'; exit 0; fi\n'
        f'if [ -n "$FAIL" ]; then echo "FATAL $FAIL" >&2; exit 1; fi\n'
        f'cat "{DATA}/trivy-secret.json"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return folder


def environ(**extra: str) -> dict[str, str]:
    return {**os.environ, "CONTAINERD_ADDRESS": "/run/test.sock", **extra}


def test_every_gate_on_every_platform_in_order(tools: Path, tmp_path: Path) -> None:
    db = write_db(tmp_path / "trivy")
    scan = Scan(db=str(db))
    app = target(tmp_path, max_size=3_000_000, user="non-root", scan=scan, sbom="cyclonedx")
    image = parse_ref("app:1")
    results = run_gates(image, app, PLATFORMS, reports=tmp_path / "r", environ=environ())
    assert [r.describe() for r in results] == [
        "max_size: 5.1 MB > 3.0 MB on linux/amd64",
        "user: runs as root (USER root) on linux/amd64",
        "scan: misconfig DS-0002 Image user should not be 'root' (HIGH); "
        "secret aws-access-key-id in /etc/creds (CRITICAL) on linux/amd64",
        "sbom: passed on linux/amd64",
        "max_size: 5.1 MB > 3.0 MB on linux/arm64",
        "user: runs as root (USER root) on linux/arm64",
        "scan: misconfig DS-0002 Image user should not be 'root' (HIGH); "
        "secret aws-access-key-id in /etc/creds (CRITICAL) on linux/arm64",
        "sbom: passed on linux/arm64",
    ]
    assert results[3].files == ("sbom/app/linux-amd64.cyclonedx.json",)
    assert (tmp_path / "r/sbom/app/linux-arm64.cyclonedx.json").read_text().startswith("{")
    runs = (tools / "argv").read_text().splitlines()
    scans = sorted(line for line in runs if " image " in line)
    assert len(scans) == 2  # one trivy run a platform
    assert len(runs) == 4  # and one convert each
    assert scans[0].startswith("/run/test.sock image --format json --quiet --skip-db-update")
    assert "--image-src containerd --platform linux/amd64" in scans[0]
    assert f"--ignorefile  --cache-dir {db} --list-all-pkgs docker.io/library/app:1" in scans[0]


def test_skipped_gates_need_no_tool(tmp_path: Path) -> None:
    app = target(tmp_path, labels=("maintainer",), scan=Scan())
    results = run_gates(
        parse_ref("app:1"), app, PLATFORMS, skip=frozenset({"labels", "scan"}), environ={}
    )
    assert [r.describe() for r in results] == [
        "labels: skipped (--skip-gate labels) on linux/amd64",
        "scan: skipped (--skip-gate scan) on linux/amd64",
        "labels: skipped (--skip-gate labels) on linux/arm64",
        "scan: skipped (--skip-gate scan) on linux/arm64",
    ]
    assert all(r.passed for r in results)


def test_trivy_failing_fails_its_gates(tools: Path, tmp_path: Path) -> None:
    app = target(tmp_path, max_layers=10, healthcheck=True)
    env = environ(FAIL="unable to find the specified image")
    results = run_gates(parse_ref("app:1"), app, ["linux/arm64"], environ=env)
    assert [r.describe() for r in results] == [
        "max_layers: trivy failed: FATAL unable to find the specified image on linux/arm64",
        "healthcheck: trivy failed: FATAL unable to find the specified image on linux/arm64",
    ]


def test_a_registry_image_is_read_remotely(tools: Path, tmp_path: Path) -> None:
    app = target(tmp_path, max_layers=10, sbom="spdx-json")
    ref = parse_ref("localhost:5000/app@sha256:" + "a" * 64)
    results = run_gates(ref, app, ["linux/arm64"], registry=True, environ=environ())
    assert [r.describe() for r in results] == [
        "max_layers: passed on linux/arm64",
        "sbom: skipped (no reports folder to write it in) on linux/arm64",
    ]
    scan = (tools / "argv").read_text()
    assert "--image-src remote --insecure --platform linux/arm64 --scanners  " in scan
    assert scan.strip().endswith(f"localhost:5000/app@sha256:{'a' * 64}")


def test_without_containerd_a_platform_but_the_host_s_fails(tools: Path, tmp_path: Path) -> None:
    app = target(tmp_path, max_layers=10)
    env = {k: v for k, v in os.environ.items() if k != "CONTAINERD_ADDRESS"}
    env["DOCKER_HOST"] = "tcp://engine.example:2376"
    results = run_gates(parse_ref("app:1"), app, ["linux/amd64", "linux/s390x"], environ=env)
    assert [r.describe() for r in results] == [
        "max_layers: passed on linux/amd64",
        "max_layers: the engine's containerd store cannot be read here, so only linux/amd64 "
        "can be checked: run where the engine's containerd socket is readable, or set "
        "CONTAINERD_ADDRESS on linux/s390x",
    ]
    assert "--image-src docker" in (tools / "argv").read_text()


def test_cancelled(tools: Path, tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    app = target(tmp_path, max_layers=10)
    results = run_gates(parse_ref("app:1"), app, ["linux/amd64"], cancel=token, environ=environ())
    assert [r.describe() for r in results] == ["max_layers: cancelled on linux/amd64"]
    assert not (tools / "argv").exists()


def test_a_cancelled_tool_stops_with_what_it_started(tmp_path: Path) -> None:
    from orchestrator.gates.tool import run_tool

    pidfile = tmp_path / "pid"
    token = CancelToken()
    script = f"sleep 60 & echo $! > {pidfile}; echo started >&2; wait"

    def started(line: str) -> None:
        if line == "started":
            token.cancel()

    begin = time.monotonic()
    done = run_tool(["sh", "-c", script], dict(os.environ), cancel=token, on_line=started)
    assert done.cancelled
    assert done.reason("sh") == "cancelled"
    assert time.monotonic() - begin < 10
    child = int(pidfile.read_text())
    for _ in range(50):
        if not Path(f"/proc/{child}").exists():
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{child}").exists()  # the background sleep went with its group
