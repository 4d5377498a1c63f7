"""each_at_once: results in order, never more than the limit at once, and the first
failure or a Ctrl-C stopping the rest through the token (no sleeps: the pieces wait
on events)."""

from __future__ import annotations

import signal
import threading

import pytest

from orchestrator.execution.at_once import each_at_once
from orchestrator.execution.cancel import CancelToken

WAIT_S = 30  # a bound on a wait that should end at once, never a measured time


def test_results_come_in_the_items_order_and_at_most_limit_run_at_once() -> None:
    lock, running, most = threading.Lock(), [0], [0]
    two_in = threading.Barrier(2, timeout=WAIT_S)

    def work(item: int, token: CancelToken) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        if item < 2:
            two_in.wait()  # the first two overlap, so the limit is reached
        with lock:
            running[0] -= 1
        return item * 10

    assert each_at_once(work, list(range(7)), 2) == [0, 10, 20, 30, 40, 50, 60]
    assert most[0] == 2


def test_no_items_is_no_work() -> None:
    assert each_at_once(lambda item, token: item, [], 4) == []


def test_the_first_failure_cancels_the_running_and_starts_nothing_more() -> None:
    started: list[str] = []
    stopped = threading.Event()
    waiting = threading.Event()

    def work(item: str, token: CancelToken) -> str:
        started.append(item)
        if item == "slow":
            token.on_cancel(stopped.set)  # as a backend stops its process
            waiting.set()
            assert token.event.wait(WAIT_S)
            raise RuntimeError("cancelled")
        assert waiting.wait(WAIT_S)
        raise ValueError(f"{item} failed")

    with pytest.raises(ValueError, match=r"^bad failed$"):
        each_at_once(work, ["slow", "bad", "never-1", "never-2"], 2)
    assert stopped.is_set()
    assert sorted(started) == ["bad", "slow"]


def test_ctrl_c_in_the_caller_cancels_every_running_piece() -> None:
    cancelled: list[int] = []
    lock = threading.Lock()
    in_flight = threading.Barrier(3, timeout=WAIT_S)

    def work(item: int, token: CancelToken) -> None:
        in_flight.wait()
        if item == 0:
            # Ctrl-C, delivered where a terminal's goes: the main thread
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        assert token.event.wait(WAIT_S)
        with lock:
            cancelled.append(item)

    with pytest.raises(KeyboardInterrupt):
        each_at_once(work, [0, 1, 2, 3, 4], 3)
    assert sorted(cancelled) == [0, 1, 2]
