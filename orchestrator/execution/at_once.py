"""Independent pieces of work a few at a time, stopped together: the first failure,
or Ctrl-C in the caller, cancels the token every piece was given (a backend stops its
process when it is set), nothing new starts, and the error is raised once every
running piece has stopped. For work with no graph to follow (the executor's job)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from orchestrator.execution.cancel import CancelToken

T = TypeVar("T")
R = TypeVar("R")


def each_at_once(work: Callable[[T, CancelToken], R], items: Sequence[T], limit: int) -> list[R]:
    """`work(item, token)` for every item, at most `limit` at a time; the results in
    the items' order."""
    token = CancelToken()
    if not items:
        return []
    with ThreadPoolExecutor(max(1, min(limit, len(items)))) as pool:
        futures: list[Future[R]] = []
        try:
            for item in items:
                futures.append(pool.submit(_unless_cancelled, work, item, token))
            wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C, even before all were handed out: stop them all
            _stop(token, futures)
            raise
        failed = _first_failure(futures)
        if failed is not None:
            _stop(token, futures)
            raise failed
        return [f.result() for f in futures]


def _unless_cancelled(work: Callable[[T, CancelToken], R], item: T, token: CancelToken) -> R:
    if token.cancelled:
        raise Cancelled
    return work(item, token)


class Cancelled(Exception):
    """A piece that never started: another failed first."""


def _stop(token: CancelToken, futures: list[Future[R]]) -> None:
    token.cancel()
    for future in futures:
        future.cancel()


def _first_failure(futures: list[Future[R]]) -> BaseException | None:
    """The error of a piece that failed (the first of those in the items' order)."""
    failures = [f for f in futures if f.done() and not f.cancelled() and f.exception()]
    return failures[0].exception() if failures else None
