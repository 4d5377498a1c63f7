"""A cancellation that the executor, the build runners and the backend all share: the
executor sets it (Ctrl-C, fail-fast), a backend stops its process when it is set."""

from __future__ import annotations

import threading
from collections.abc import Callable


class CancelToken:
    """Set once; callbacks registered before or after run exactly once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.event = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self.event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def cancel(self) -> None:
        with self._lock:
            if self.event.is_set():
                return
            self.event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()
