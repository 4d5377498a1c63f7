"""The buildx adapter's pure parts and its process handling (no engine needed)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from orchestrator.backend.base import BuildRequest, CancelToken
from orchestrator.backend.buildx import buildx_argv
from orchestrator.backend.failures import classify
from orchestrator.backend.process import run_streaming
from orchestrator.backend.redact import Redactor
from orchestrator.execution.status import Phase
from orchestrator.spec.model import Secret


def test_argv_passes_everything_through_and_secrets_by_reference(tmp_path: Path) -> None:
    req = BuildRequest(
        target="api",
        phase=Phase.BUILD,
        context=Path("/ctx"),
        dockerfile=Path("/ctx/Dockerfile"),
        stage="runtime",
        args={"A": "1"},
        labels={"l": "v"},
        tags=("r/api:1", "r/api:latest"),
        platforms=("linux/amd64", "linux/arm64"),
        cache_from=("type=registry,ref=r/c",),
        cache_to=("type=local,dest=/c/api",),
        secrets=(Secret("tok", env="TOKEN"), Secret("netrc", src=Path("/home/u/.netrc"))),
        ssh=("default",),
        network="none",
        no_cache=True,
        pull=True,
        builder="b1",
        contexts={"r/base:1": "docker-image://r/base@sha256:ab"},
        outputs=("type=local,dest=o",),
        load=True,
    )
    assert buildx_argv(req, Path("/tmp/m.json")) == [
        "docker",
        "buildx",
        "build",
        "--progress=plain",
        "--builder",
        "b1",
        "--file",
        "/ctx/Dockerfile",
        "--target",
        "runtime",
        "--platform",
        "linux/amd64,linux/arm64",
        "--build-arg",
        "A=1",
        "--label",
        "l=v",
        "--tag",
        "r/api:1",
        "--tag",
        "r/api:latest",
        "--build-context",
        "r/base:1=docker-image://r/base@sha256:ab",
        "--cache-from",
        "type=registry,ref=r/c",
        "--cache-to",
        "type=local,dest=/c/api",
        "--secret",
        "id=tok,env=TOKEN",
        "--secret",
        "id=netrc,src=/home/u/.netrc",
        "--ssh",
        "default",
        "--network",
        "none",
        "--no-cache",
        "--pull",
        "--output",
        "type=local,dest=o",
        "--load",
        "--metadata-file",
        "/tmp/m.json",
        "/ctx",
    ]


@pytest.mark.parametrize(
    ("tail", "reason", "transient"),
    [
        (
            ["#5 ERROR: failed to push r/x:1: 503 Service Unavailable"],
            "ERROR: failed to push r/x:1: 503 Service Unavailable",
            True,
        ),
        (
            ['ERROR: failed to do request: Head "https://r/v2/": dial tcp: connection refused'],
            'ERROR: failed to do request: Head "https://r/v2/": dial tcp: connection refused',
            True,
        ),
        (
            [
                '#7 ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3',
                'ERROR: failed to solve: process "/bin/sh -c curl x" did not complete '
                "successfully: exit code: 3 (connection refused)",
            ],
            'ERROR: failed to solve: process "/bin/sh -c curl x" did not complete successfully: '
            "exit code: 3 (connection refused)",
            False,
        ),
        (
            ["#1 429 Too Many Requests", "ERROR: toomanyrequests: rate limit"],
            "ERROR: toomanyrequests: rate limit",
            True,
        ),
        ([], "build failed", False),
    ],
)
def test_classify(tail: list[str], reason: str, transient: bool) -> None:
    assert classify(tail) == (reason, transient)


def test_redactor_masks_env_and_file_secrets(tmp_path: Path) -> None:
    secret_file = tmp_path / "netrc"
    secret_file.write_text("machine x login u password hunter22\n")
    redact = Redactor.for_secrets(
        [Secret("tok", env="TOKEN"), Secret("netrc", src=secret_file)], {"TOKEN": "s3cr3t-value"}
    )
    assert redact("got s3cr3t-value and hunter22?") == "got *** and hunter22?"
    assert redact("machine x login u password hunter22") == "***"


def test_streaming_is_line_by_line_logged_and_redacted(tmp_path: Path) -> None:
    lines: list[str] = []
    log = tmp_path / "t.log"
    code, tail = run_streaming(
        ["sh", "-c", "echo one; echo the key is abc123; exit 4"],
        dict(os.environ),
        on_line=lines.append,
        cancel=CancelToken(),
        redactor=Redactor(["abc123"]),
        log_file=log,
    )
    assert (code, lines, list(tail)) == (4, ["one", "the key is ***"], ["one", "the key is ***"])
    assert log.read_text() == "one\nthe key is ***\n"


def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    cancel = CancelToken()
    script = f"sleep 300 & echo $! > {pidfile}; echo started; wait"
    done: list[int] = []

    def run() -> None:
        code, _ = run_streaming(
            ["sh", "-c", script],
            dict(os.environ),
            on_line=lambda line: None,
            cancel=cancel,
            redactor=Redactor([]),
            log_file=None,
        )
        done.append(code)

    thread = threading.Thread(target=run)
    thread.start()
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.05)
    child = int(pidfile.read_text())
    cancel.cancel()
    thread.join(timeout=15)
    assert done, "the cancelled command never returned"
    assert done[0] != 0
    time.sleep(0.2)
    assert not alive(child), "the build's background child survived the cancel"


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
