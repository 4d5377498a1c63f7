"""Child processes of a backend: run in their own process group, read a line at a time,
stopped with everything they started; and work on a daemon thread."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from orchestrator.backend.base import TAIL, OnLine
from orchestrator.backend.redact import Redactor
from orchestrator.execution.cancel import CancelToken

T = TypeVar("T")


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop a build and everything it started: SIGINT first (buildx then cancels the
    solve in the engine), SIGTERM if it lingers, and SIGKILL for whatever of its
    process group is left, even when the leader is already gone."""
    for sig, grace in ((signal.SIGINT, 5.0), (signal.SIGTERM, 3.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_streaming(
    argv: list[str],
    env: dict[str, str],
    *,
    on_line: OnLine,
    cancel: CancelToken,
    redactor: Redactor,
    log_file: Path | None,
) -> tuple[int, deque[str]]:
    """Run a command in its own process group, one redacted line at a time."""
    tail: deque[str] = deque(maxlen=TAIL)
    log = log_file.open("a", encoding="utf-8") if log_file else None
    try:
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        cancel.on_cancel(
            lambda: threading.Thread(target=terminate, args=(proc,), daemon=True).start()
        )
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = redactor(raw.decode("utf-8", "replace").rstrip("\r\n"))
            tail.append(line)
            if log:
                log.write(line + "\n")
            on_line(line)
        return proc.wait(), tail
    finally:
        if log:
            log.close()


def background(work: Callable[..., T], *args: Any) -> Future[T]:
    """`work(*args)` on a daemon thread: a run that ends first does not wait for it."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work(*args))
        except BaseException as exc:  # given to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future
