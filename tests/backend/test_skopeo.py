"""skopeo's flags and its errors in plain words (the copies themselves are exercised on
the real registry by tests/e2e/test_bundle.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from orchestrator.backend.skopeo import SkopeoError, explain, run, tls_flags
from orchestrator.errors import EngineError
from orchestrator.execution.cancel import CancelToken


def test_a_loopback_registry_is_plain_http_and_any_other_is_verified():
    assert tls_flags("docker://localhost:5000/a/b:1") == ["--tls-verify=false"]
    assert tls_flags("docker://127.0.0.1:5000/a/b:1", "--src-tls-verify") == [
        "--src-tls-verify=false"
    ]
    assert tls_flags("localhost:5000/a/b@sha256:" + "0" * 64) == ["--tls-verify=false"]
    assert tls_flags("docker://registry.example.com/a/b:1") == []
    assert tls_flags("oci:/tmp/layout:localhost:5000/a/b:1") == []


def test_errors_name_what_was_being_done_and_the_fix():
    fatal = (
        'time="2026-12-03T11:00:00Z" level=fatal msg="reading manifest 1 in r/a: manifest unknown"'
    )
    error = SkopeoError("read r/a:1", fatal)
    assert str(error) == "read r/a:1: reading manifest 1 in r/a: manifest unknown"
    assert error.not_found
    unauthorized = (
        'level=fatal msg="reading manifest 1 in r.example:5443/a: unauthorized: '
        'authentication required"'
    )
    assert explain(unauthorized) == (
        "reading manifest 1 in r.example:5443/a: unauthorized: authentication required (wrong "
        "or missing credentials for r.example:5443: stackbake login r.example:5443, or docker "
        "login)"
    )
    untrusted = (
        'level=fatal msg="Error parsing image name \\"docker://r.example:5443/a:1\\": pinging '
        'container registry r.example:5443: Get \\"https://r.example:5443/v2/\\": x509: '
        'certificate signed by unknown authority"'
    )
    assert explain(untrusted) == (
        'Error parsing image name "docker://r.example:5443/a:1": pinging container registry '
        'r.example:5443: Get "https://r.example:5443/v2/": x509: certificate signed by unknown '
        "authority (r.example:5443's certificate is not trusted: give its CA in the spec "
        "(registries: {r.example:5443: {ca: FILE}}))"
    )
    refused = "uploading manifest sha256:1 to https://r.example/v2/a: 405 Method Not Allowed"
    assert explain(refused).endswith(
        "(r.example refuses to write (read-only, or this user may not write there))"
    )


def test_a_cancelled_token_stops_a_running_skopeo_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A skopeo that would run for minutes (a stand-in on PATH) is stopped, its
    process gone, once the token it was given is cancelled from another thread."""
    started = tmp_path / "pid"
    fake = tmp_path / "bin" / "skopeo"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho $$ > {started}.tmp\nmv {started}.tmp {started}\nsleep 300\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    token = CancelToken()
    outcome: list[BaseException] = []

    def copy() -> None:
        try:
            run(["copy", "a", "b"], "copy a to b", cancel=token)
        except EngineError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=copy)
    worker.start()
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the stand-in runs
    pid = int(started.read_text())
    token.cancel()
    worker.join(60)
    assert [str(e) for e in outcome] == ["copy a to b: cancelled"]
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
