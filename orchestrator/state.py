"""What stackbake keeps beside a spec, in `.stackbake/`: one owner for the folder (as
pre-commit's `Store` owns its cache), so no other module builds a path in it.

    durations.json        each target's last build duration: the schedule's weights
    hashes.json           file digests by (size, mtime, inode): the stat cache of build keys
    inputs/TARGET.json    the inputs of TARGET's last build: what `plan --explain` compares
    valid.json            spec files found schema-valid before, by their bytes
    logs/TARGET.log       each target's log of the last run
    logs/PART/TARGET.log  the same, of one platform's part of a farm (build/farm.py)
    logs/_session.log     bake's own lines in the last session
    logs/_session-RUN.*   a session's bake file and metadata file, while it runs
    run.lock              held by the run that builds here (`run_lock`)

Reads are lenient: a missing or damaged file is nothing known. Every write is atomic.
Each `StateDir` has a `run_id` of its own: names it hands out for one run's files are
never another run's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.atomic import write_atomic
from orchestrator.errors import EXIT_FAILED, StackbakeError

STATE_DIR = ".stackbake"
SESSION = "_session"  # the session's own log and files (target names cannot start with "_")
LOCK_POLL_S = 0.1  # how often a waiting run tries the run lock again


@dataclass(frozen=True)
class Holder:
    """Who holds the run lock."""

    pid: int
    command: str
    since: float

    def describe(self) -> str:
        started = time.strftime("%H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid} ({self.command}), since {started}"


class RunLocked(StackbakeError):
    """Another run holds the run lock of this spec's folder."""

    exit_code = EXIT_FAILED

    def __init__(self, folder: Path, holder: Holder | None) -> None:
        who = holder.describe() if holder else "another run"
        super().__init__(f"{folder} is in use by {who}; wait for it, or run without --no-wait")
        self.holder = holder


class StateDir:
    def __init__(self, folder: Path, *, part: str = "") -> None:
        """The state of the spec whose folder is `folder`; `part`: a farm's part
        (build/farm.py), whose logs are kept apart from the other parts'."""
        self.root = folder / STATE_DIR
        self.part = part
        self.run_id = uuid.uuid4().hex[:12]

    def reports(self, chosen: Path | None = None) -> Path:
        """Where the gates write their files (SBOMs): `chosen` (--reports DIR), else
        .stackbake/reports."""
        return chosen or self.root / "reports"

    # JSON documents
    def _load(self, name: str) -> Any:
        try:
            return json.loads((self.root / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _save(self, name: str, data: Any, *, indent: int | None = 1) -> None:
        separators = (",", ":") if indent is None else None
        text = json.dumps(data, indent=indent, separators=separators, sort_keys=indent is not None)
        write_atomic(self.root / name, text + "\n")

    def durations(self) -> dict[str, float]:
        data = self._load("durations.json")
        if not isinstance(data, dict):
            return {}
        return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}

    def save_durations(self, measured: Mapping[str, float]) -> None:
        """Merged into what is known: a target not built this run keeps its duration."""
        self._save("durations.json", self.durations() | dict(measured))

    def hashes(self) -> dict[str, list[Any]]:
        data = self._load("hashes.json")
        return data if isinstance(data, dict) else {}

    def save_hashes(self, entries: Mapping[str, list[Any]]) -> None:
        self._save("hashes.json", dict(entries), indent=None)

    def inputs(self, target: str) -> dict[str, Any] | None:
        data = self._load(f"inputs/{target}.json")
        return data if isinstance(data, dict) else None

    def save_inputs(self, target: str, data: Mapping[str, Any]) -> None:
        self._save(f"inputs/{target}.json", dict(data))

    def valid_files(self) -> list[str]:
        data = self._load("valid.json")
        return [k for k in data if isinstance(k, str)] if isinstance(data, list) else []

    def save_valid_files(self, keys: list[str]) -> None:
        with contextlib.suppress(OSError):  # a read-only checkout: validated again next time
            self._save("valid.json", keys, indent=None)

    # Logs and a session's files
    @property
    def logs(self) -> Path:
        return self.root / "logs" / self.part if self.part else self.root / "logs"

    def log(self, target: str | None) -> Path:
        """TARGET's log; None: the session's own (bake's lines)."""
        return self.logs / f"{target or SESSION}.log"

    def new_log(self, target: str | None) -> Path:
        """`log(target)`, emptied for this run: the one place a log is truncated."""
        path = self.log(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
        return path

    def session_file(self, suffix: str) -> Path:
        """A file of this run's session (`bake.json`, `metadata.json`): its own name."""
        return self.logs / f"{SESSION}-{self.run_id}.{suffix}"

    # The run lock
    @contextlib.contextmanager
    def run_lock(
        self,
        command: str,
        *,
        wait: bool,
        on_wait: Callable[[Holder | None], None] = lambda holder: None,
        stop: threading.Event | None = None,
    ) -> Iterator[None]:
        """Hold `.stackbake/run.lock` (an flock: released when the process ends, however
        it ends) while the body runs. Held by another run: RunLocked at once, or with
        `wait` `on_wait(holder)` and a wait until it is free (or `stop` is set: then
        KeyboardInterrupt)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "run.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            told = False
            while not _try_lock(fd):
                holder = _holder(path)
                if not wait:
                    raise RunLocked(self.root.parent, holder)
                if not told:
                    on_wait(holder)
                    told = True
                if stop is not None and stop.wait(LOCK_POLL_S):
                    raise KeyboardInterrupt
                if stop is None:
                    time.sleep(LOCK_POLL_S)
            me = {"pid": os.getpid(), "command": command, "since": time.time()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> Holder | None:
    """What the holder wrote of itself (None: not written yet, or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["command"]), float(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
