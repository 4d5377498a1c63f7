"""One run of a gate's tool (trivy, container-structure-test): in its own process
group, stopped with everything it started when the run is cancelled; its stdout kept
whole (a JSON report), its stderr passed on a line at a time and its tail kept."""

from __future__ import annotations

import subprocess
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.backend.base import OnLine
from orchestrator.backend.process import terminate
from orchestrator.execution.cancel import CancelToken

ERR_TAIL = 20  # stderr lines kept for the reason of a failure


@dataclass(frozen=True)
class Done:
    code: int  # the exit code; -1: did not start, or cancelled
    out: str  # stdout, whole
    err: tuple[str, ...] = ()  # the last lines of stderr
    cancelled: bool = False

    def reason(self, tool: str) -> str:
        """One line: why the tool failed (its last complaint)."""
        if self.cancelled:
            return "cancelled"
        lines = [line for line in self.err if line.strip()]
        return f"{tool} failed: {lines[-1].strip()}" if lines else f"{tool} exited {self.code}"


def run_tool(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cancel: CancelToken,
    on_line: OnLine,
    prefix: str = "",
) -> Done:
    """Run `argv` to its end (or until `cancel`); stderr lines go to `on_line`."""
    if cancel.cancelled:
        return Done(-1, "", cancelled=True)
    try:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        return Done(-1, "", (f"{argv[0]}: {exc.strerror or exc}",))
    cancel.on_cancel(lambda: _stop(proc))
    tail: deque[str] = deque(maxlen=ERR_TAIL)
    reader = threading.Thread(target=_read_err, args=(proc, tail, on_line, prefix), daemon=True)
    reader.start()
    assert proc.stdout is not None
    out = proc.stdout.read().decode("utf-8", "replace")
    code = proc.wait()
    reader.join()
    return Done(code, out, tuple(tail), cancelled=cancel.cancelled)


def _read_err(
    proc: subprocess.Popen[bytes], tail: deque[str], on_line: OnLine, prefix: str
) -> None:
    assert proc.stderr is not None
    for raw in proc.stderr:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        tail.append(line)
        on_line(prefix + line)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop it unless it has ended (its pid may then be another process's)."""
    if proc.poll() is None:
        threading.Thread(target=terminate, args=(proc,), daemon=True).start()
