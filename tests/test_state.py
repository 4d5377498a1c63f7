"""The state folder: lenient reads, atomic writes, one place for logs and a session's
files, and the run lock between processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from orchestrator.state import Holder, RunLocked, StateDir

HOLD = """\
import sys
from pathlib import Path
from orchestrator.state import StateDir
with StateDir(Path(sys.argv[1])).run_lock("stackbake build app", wait=False):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_damaged_or_missing_files_are_nothing_known(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    assert (state.durations(), state.hashes(), state.inputs("app"), state.valid_files()) == (
        {},
        {},
        None,
        [],
    )
    state.root.mkdir()
    (state.root / "durations.json").write_text("{not json")
    (state.root / "valid.json").write_text('{"a": 1}')
    assert state.durations() == {}
    assert state.valid_files() == []


def test_writes_merge_durations_and_leave_no_temporary_file(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.save_durations({"app": 2.5, "base": 1})
    state.save_durations({"app": 3.0})
    assert state.durations() == {"app": 3.0, "base": 1.0}
    state.save_inputs("app", {"version": 1})
    assert state.inputs("app") == {"version": 1}
    assert sorted(p.name for p in state.root.rglob("*")) == [
        "app.json",
        "durations.json",
        "inputs",
    ]
    assert json.loads((state.root / "durations.json").read_text()) == {"app": 3.0, "base": 1.0}


def test_logs_and_session_files_have_one_place(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    assert state.log("app") == tmp_path / ".stackbake/logs/app.log"
    assert state.log(None) == tmp_path / ".stackbake/logs/_session.log"
    state.new_log("app").write_text("old run\n")
    assert state.new_log("app").read_text() == ""
    other = StateDir(tmp_path)
    assert state.session_file("bake.json") != other.session_file("bake.json")
    assert state.session_file("bake.json").parent == state.logs


def test_the_run_lock_names_its_holder_waits_for_it_and_dies_with_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert holder.stdout is not None
    assert holder.stdin is not None
    assert holder.stdout.readline() == "held\n"
    state = StateDir(tmp_path)
    with pytest.raises(RunLocked) as info, state.run_lock("stackbake build", wait=False):
        pass
    assert info.value.holder is not None
    assert (info.value.holder.pid, info.value.holder.command) == (
        holder.pid,
        "stackbake build app",
    )
    assert str(info.value).startswith(
        f"{tmp_path} is in use by pid {holder.pid} (stackbake build app), since "
    )

    waited: list[Holder | None] = []
    inside = threading.Event()

    def second() -> None:
        with state.run_lock("stackbake build", wait=True, on_wait=waited.append):
            inside.set()

    thread = threading.Thread(target=second)
    thread.start()
    while not waited and thread.is_alive():  # until it says whom it waits for
        thread.join(0.05)
    assert [h.pid for h in waited if h] == [holder.pid]
    assert not inside.is_set()
    holder.kill()  # however the holder ends, the lock is free
    holder.wait()
    thread.join(30)
    assert inside.is_set()


def test_a_wait_for_the_run_lock_ends_when_stopped(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    stop = threading.Event()
    with state.run_lock("first", wait=False):
        stop.set()
        with (
            pytest.raises(KeyboardInterrupt),
            StateDir(tmp_path).run_lock("second", wait=True, stop=stop),
        ):
            pass
