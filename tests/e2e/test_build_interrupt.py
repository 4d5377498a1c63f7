"""Ctrl-C (or SIGTERM) during a build: stackbake stops its buildx processes (and so the RUN they
run in the engine), prints the summary with the target cancelled, and exits 130."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hierarchy import (
    Hierarchy,
    Streaming,
    fixture_tree,
    processes,
    statuses,
    summary_of,
)

pytestmark = pytest.mark.engine

SLEEP = "sleep 300"  # far longer than the 30 s the engine gets to stop it


@pytest.fixture
def tree(tmp_path: Path, registry: str, seed_image: str) -> Iterator[Hierarchy]:
    with fixture_tree(tmp_path, registry, seed_image) as h:
        yield h


def sleeps() -> set[int]:
    return {pid for pid, args in processes() if args == SLEEP}


def our_buildx(h: Hierarchy) -> list[str]:
    """`docker buildx build` (one target) and `bake` (a session, its bake file in the
    fixture's .stackbake/logs) processes of this test's fixture folder (other builds may
    run on this engine at the same time)."""
    return [
        f"{pid} {args}"
        for pid, args in processes()
        if "buildx" in args and (" build " in args or " bake " in args) and str(h.folder) in args
    ]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_cancels_the_running_builds(tree: Hierarchy, signum: signal.Signals) -> None:
    # solo and tools sleep in a RUN; worker waits for tools; base is built first.
    for name in ("solo", "tools"):
        tree.append(name, f"RUN echo {tree.marker} && {SLEEP}\n")
    sleeps_before = sleeps()
    build = Streaming(tree, "solo", "worker")
    try:
        for name in ("solo", "tools"):
            build.wait_for_line(f"[{name}] #", timeout=120)
        # A RUN step is announced before its process starts: wait for both processes.
        deadline = time.monotonic() + 60
        while len(sleeps() - sleeps_before) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        ours = sleeps() - sleeps_before
        assert len(ours) == 2, f"the builds' `{SLEEP}` did not both start: {ours}"
        assert our_buildx(tree), "no buildx process of this build is running"

        interrupted_at = time.monotonic()
        build.proc.send_signal(signum)
        run = build.finish(timeout=60)
        took = time.monotonic() - interrupted_at
    finally:
        build.kill()

    assert run.code == 130, run.explain()
    print(f"\nstopped {took:.1f} s after {signum.name}")
    assert statuses(run) == {
        "base": "built",
        "solo": "cancelled",
        "tools": "cancelled",
        "worker": "cancelled",
    }, run.explain()
    for name in ("solo", "tools"):
        target = run.targets[name]
        assert (target["phase"], target["reason"]) == ("build", "interrupted"), target
        assert target["digest"] is None
        assert target["started"] is not None
    worker = run.targets["worker"]
    assert worker["started"] is None
    assert worker["reason"] == "interrupted"
    assert run.report["result"] == "interrupted"
    assert "stopping: interrupted; running: solo, tools" in run.out
    summary = summary_of(run.out)
    for name in ("solo", "tools", "worker"):
        assert re.search(rf"^{name}\s+cancelled\s", summary, re.MULTILINE), summary
    assert "interrupted: solo, tools were cancelled" in summary
    assert "Interrupted: 3 cancelled, 1 built in " in summary
    skipped = run.testcases()["solo"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "cancelled (interrupted)"

    # No buildx process of this run survives it...
    assert our_buildx(tree) == [], "buildx processes outlived stackbake"
    # ... and the RUNs it had started in the engine are stopped too.
    deadline = time.monotonic() + 30  # the engine stops RUNs asynchronously
    while sleeps() & ours and time.monotonic() < deadline:
        time.sleep(0.5)
    left = sleeps() & ours
    assert not left, f"`{SLEEP}` of the cancelled builds still runs: pids {sorted(left)}"
