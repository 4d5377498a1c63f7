"""Runs at the same time: two in one spec folder take turns (the run lock), two in
different folders on one engine never remove each other's pin tags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.faults import Gate
from tests.e2e.hierarchy import (
    Streaming,
    build,
    images_removed_after,
    local_images,
    new_prefix,
    statuses,
    write_mini,
)

pytestmark = pytest.mark.engine

HOLD = """\
import sys
from pathlib import Path
from orchestrator.state import StateDir
with StateDir(Path(sys.argv[1])).run_lock("stackbake build held-by-the-test", wait=False):
    print("held", flush=True)
    sys.stdin.readline()
"""
SIMPLE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ > /marker\n"


def test_a_second_run_in_the_folder_waits_for_the_first_or_names_it(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = write_mini(tmp_path, prefix, seed_image, {"app": ("", SIMPLE)})
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(mini.folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        waiting: Streaming | None = None
        try:
            assert holder.stdout is not None
            assert holder.stdin is not None
            assert holder.stdout.readline() == "held\n"
            who = f"pid {holder.pid} (stackbake build held-by-the-test), since "

            refused = build(mini, "--no-wait")
            assert refused.code == 1, refused.explain()
            assert f"is in use by {who}" in refused.err, refused.explain()
            assert "run without --no-wait" in refused.err
            assert not refused.report_path.exists(), "a refused run built something"

            waiting = Streaming(mini)
            line = waiting.wait_for_line("waiting: ", timeout=60)
            assert f"is in use by {who}" in line
            holder.stdin.write("\n")  # the holder ends: the waiting run goes on
            holder.stdin.flush()
            holder.wait(30)
            run = waiting.finish(timeout=300)
        finally:
            holder.kill()
            if waiting is not None:
                waiting.kill()
        assert run.code == 0, run.explain()
        assert statuses(run) == {"app": "built"}


def test_runs_in_two_folders_keep_their_own_pins_of_a_shared_parent(
    tmp_path: Path, registry: str, seed_image: str, gate: Gate
) -> None:
    """Both folders build a child on the same up-to-date parent. B's child waits at the
    gate while A runs from start to end; A's end must not take B's pin away."""
    with images_removed_after(new_prefix(registry)) as prefix:
        child = "ARG REG\nFROM ${REG}/p:1\nRUN echo @MARKER@ {name}\n"
        a = write_mini(
            tmp_path / "a",
            prefix,
            seed_image,
            {"p": ("", SIMPLE), "ca": ("", child.replace("{name}", "ca"))},
        )
        slow = child.replace("{name}", "cb") + f"RUN {gate.wait_command()}\n"
        b = write_mini(
            tmp_path / "b",
            prefix,
            seed_image,
            {"p": ("", SIMPLE), "cb": ("network: host", slow)},
        )
        # The same parent in both folders: the same key, up to date in B once A built it.
        (b.folder / "p/Dockerfile").write_text((a.folder / "p/Dockerfile").read_text())
        first = build(a, "p")
        assert statuses(first) == {"p": "built"}, first.explain()

        in_b = Streaming(b, "--per-target")
        try:
            assert gate.knocked.wait(180), "B's child never reached the gate"
            pins = [t for t in local_images(prefix) if t.startswith(f"{prefix}/p:stackbake-")]
            assert len(pins) == 1, f"B's pin of p: {pins}"
            run_a = build(a)
            assert statuses(run_a) == {"p": "up-to-date", "ca": "built"}, run_a.explain()
            left = [t for t in local_images(prefix) if t.startswith(f"{prefix}/p:stackbake-")]
            assert left == pins, "A's end took B's pin of the shared parent"
            gate.open()
            run_b = in_b.finish(timeout=300)
        finally:
            gate.open()
            in_b.kill()
        assert run_b.code == 0, run_b.explain()
        assert statuses(run_b) == {"p": "up-to-date", "cb": "built"}
        assert [t for t in local_images(prefix) if ":stackbake-" in t] == []
