"""Which failures are worth another attempt, and the one line that says why."""

from __future__ import annotations

import pytest

from orchestrator.backend.failures import classify


@pytest.mark.parametrize(
    ("tail", "reason", "transient"),
    [
        (
            ["#5 ERROR: failed to push r/x:1: 503 Service Unavailable"],
            "ERROR: failed to push r/x:1: 503 Service Unavailable",
            True,
        ),
        (
            ['ERROR: failed to do request: Head "https://r/v2/": dial tcp: connection refused'],
            'ERROR: failed to do request: Head "https://r/v2/": dial tcp: connection refused',
            True,
        ),
        (
            [
                '#7 ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3',
                'ERROR: failed to solve: process "/bin/sh -c curl x" did not complete '
                "successfully: exit code: 3 (connection refused)",
            ],
            'ERROR: failed to solve: process "/bin/sh -c curl x" did not complete successfully: '
            "exit code: 3 (connection refused)",
            False,
        ),
        (
            ["#1 429 Too Many Requests", "ERROR: toomanyrequests: rate limit"],
            "ERROR: toomanyrequests: rate limit",
            True,
        ),
        (
            [
                "ERROR: failed to solve: failed to compute cache key: failed to get stream "
                "processor for application/vnd.in-toto+json: no processor for media-type: unknown"
            ],
            "ERROR: failed to solve: failed to compute cache key: failed to get stream "
            "processor for application/vnd.in-toto+json: no processor for media-type: unknown",
            True,
        ),
        (
            [
                "#6 ERROR: failed to commit 1biddgtxjlsmm7fo5p8ftbqhj to qum2h5upjs8c1uj66at2dv7gr "
                "during finalize: failed to stat active key during commit: snapshot "
                "1biddgtxjlsmm7fo5p8ftbqhj does not exist: not found"
            ],
            "ERROR: failed to commit 1biddgtxjlsmm7fo5p8ftbqhj to qum2h5upjs8c1uj66at2dv7gr "
            "during finalize: failed to stat active key during commit: snapshot "
            "1biddgtxjlsmm7fo5p8ftbqhj does not exist: not found",
            True,
        ),
        ([], "build failed", False),
    ],
)
def test_classify(tail: list[str], reason: str, transient: bool) -> None:
    assert classify(tail) == (reason, transient)
