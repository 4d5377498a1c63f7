"""Independent pieces of work a few at a time, stopped together: the first failure,
or Ctrl-C in the caller, cancels the token every piece was given (a backend stops its
process when it is set), nothing new starts, and the error is raised once every
running piece has stopped. For work with no graph to follow (the executor's job)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

from orchestrator.execution.cancel import CancelToken

T = TypeVar("T")
R = TypeVar("R")


def each_at_once(work: Callable[[T, CancelToken], R], items: Sequence[T], limit: int) -> list[R]:
    """`work(item, token)` for every item, at most `limit` at a time; the results in
    the items' order, or the first failure (in time, never a sibling's cancellation)."""
    if not items:
        return []
    token, first = CancelToken(), _First()

    def piece(item: T) -> R:
        if token.cancelled:
            raise _NotStarted
        try:
            return work(item, token)
        except BaseException as exc:
            first.keep(exc)  # before the token is set: a sibling's cancellation comes later
            token.cancel()
            raise

    pool = ThreadPoolExecutor(max(1, min(limit, len(items))))
    try:
        futures: list[Future[R]] = [pool.submit(piece, item) for item in items]
        wait(futures)  # a failure cancels the token, which ends the others soon
        if first.error is not None:
            raise first.error
        return [f.result() for f in futures]
    except BaseException:  # Ctrl-C too, even before all were handed out
        token.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _NotStarted(Exception):
    """A piece that never started: another failed first (never raised to the caller)."""


class _First:
    """The first error any piece raised."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.error: BaseException | None = None

    def keep(self, exc: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc
