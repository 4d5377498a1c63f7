"""Fixtures of the engine tests' own faults (tests/e2e/faults.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.faults import Gate


@pytest.fixture
def gate() -> Iterator[Gate]:
    """A gate a RUN step (network: host) waits at until the test opens it."""
    opened = Gate()
    yield opened
    opened.close()
