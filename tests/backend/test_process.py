"""Child processes: a line at a time, logged and masked; stopped with all they started."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from orchestrator.backend.process import run_streaming
from orchestrator.backend.redact import Redactor
from orchestrator.execution.cancel import CancelToken
from orchestrator.spec.model import Secret


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
