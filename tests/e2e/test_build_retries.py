"""Transient errors are retried, build failures are not. The fault is a TCP proxy in
front of the real registry (on 127.0.0.1, which Docker treats as an insecure registry:
plain HTTP) that resets the connections it is told to, then forwards again."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.faults import ResettingProxy
from tests.e2e.hierarchy import (
    Streaming,
    build,
    docker,
    images_removed_after,
    new_prefix,
    statuses,
    write_mini,
)
from tests.e2e.oci import fetch_manifest

pytestmark = pytest.mark.engine


@pytest.fixture
def proxy(registry: str, seed_image: str) -> Iterator[ResettingProxy]:
    """The proxy, once a push through it is checked to work."""
    server = ResettingProxy(registry)
    probe = f"{server.address}/e2e-{uuid.uuid4().hex[:12]}/probe:1"
    try:
        docker("tag", seed_image, probe)
        try:
            docker("push", "--quiet", probe, timeout=120)
        finally:
            docker("image", "rm", probe, check=False)
        assert server.forwarded > 0, "the push did not go through the proxy"
        yield server
    finally:
        server.close()


def test_a_transient_push_error_is_retried_a_build_error_is_not(
    tmp_path: Path, registry: str, seed_image: str, proxy: ResettingProxy
) -> None:
    repo = f"e2e-{uuid.uuid4().hex[:12]}"
    with images_removed_after(f"{proxy.address}/{repo}") as prefix:
        mini = write_mini(
            tmp_path,
            prefix,
            seed_image,
            {
                "pushed": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ > /m\n"),
                "broken": (
                    "",
                    "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ broken && exit 1\n",
                ),
            },
        )
        env = {"STACKBAKE_RETRY_BASE_S": "0.2"}
        proxy.fail_next(1)  # the first connection of the push is reset
        # Forced: no registry lookup of their keys (through the proxy) before the push.
        run = build(mini, "--push", "--force", "*", "--retries", "2", env=env)
        assert run.code == 1, run.explain()  # broken failed
        assert statuses(run) == {"pushed": "built", "broken": "failed"}, run.explain()
        assert proxy.resets == 1

        pushed = run.targets["pushed"]
        # One build, then at least two tries of the push.
        assert pushed["attempts"] >= 3, pushed
        assert "[pushed] push attempt 1 failed (" in run.out, run.explain()
        assert "connection reset by peer" in run.out
        assert "[pushed] pushing (attempt 2)" in run.out
        retry_lines = [line for line in run.out.splitlines() if "retrying in" in line]
        assert retry_lines, run.explain()
        assert all(line.startswith("[pushed] push attempt") for line in retry_lines), retry_lines
        # It is in the registry behind the proxy, as the very image that was built.
        _, by_tag = fetch_manifest(f"{registry}/{repo}/pushed:1")
        _, by_digest = fetch_manifest(f"{registry}/{repo}/pushed:1", pushed["digest"])
        assert by_tag == by_digest

        broken = run.targets["broken"]
        assert (broken["phase"], broken["attempts"]) == ("build", 1), broken
        assert "exit code: 1" in broken["reason"]
        assert "[broken] building (attempt 2)" not in run.out

        # A registry that keeps failing: the push is given up after --retries retries.
        proxy.fail_next(1000)
        resets_before = proxy.resets
        again = build(
            mini, "pushed", "--push", "--force", "*", "--retries", "1", env=env, tag="again"
        )
        assert again.code == 1, again.explain()
        pushed = again.targets["pushed"]
        assert (pushed["status"], pushed["phase"]) == ("failed", "push"), pushed
        assert pushed["attempts"] == 3, "1 build and 2 push tries expected"
        assert "connection reset by peer" in pushed["reason"], pushed
        assert pushed["reason"].startswith(f"push {mini.tag('pushed')}: "), pushed
        assert proxy.resets > resets_before
        assert "[pushed] pushing (attempt 3)" not in again.out


def test_a_transient_error_of_the_build_itself_is_retried(
    tmp_path: Path, registry: str, seed_image: str, proxy: ResettingProxy
) -> None:
    """The external base is pulled through the proxy: fetching it fails once. The base is
    new content (BuildKit has none of it cached), locked first (the lookup goes through
    the proxy too), so the reset hits BuildKit's fetch of the pinned digest."""
    with images_removed_after(new_prefix(registry)) as prefix:
        upstream = tmp_path / "upstream"
        upstream.mkdir()
        (upstream / "Dockerfile").write_text(f"FROM {seed_image}\nCOPY m /m\n")
        (upstream / "m").write_text(uuid.uuid4().hex)
        fresh_base = f"{prefix}/upstream:1"
        docker("buildx", "build", "--provenance=false", "--push", "-t", fresh_base, str(upstream))
        base = f"{proxy.address}/{fresh_base.partition('/')[2]}"
        mini = write_mini(
            tmp_path,
            prefix,
            base,
            {"ext": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ > /m\n")},
        )
        locked = subprocess.run(
            [sys.executable, "-m", "orchestrator", "lock", "-f", str(mini.spec), *mini.var_args()],
            capture_output=True,
            text=True,
            check=False,
        )
        assert locked.returncode == 0, locked.stdout + locked.stderr
        proxy.fail_next(1)  # BuildKit resolves the locked base through the proxy: reset once
        run = build(mini, "--retries", "2", env={"STACKBAKE_RETRY_BASE_S": "0.2"})
        assert run.code == 0, run.explain()
        ext = run.targets["ext"]
        assert (ext["status"], ext["attempts"]) == ("built", 2), run.explain()
        assert "[ext] build attempt 1 failed (" in run.out
        assert "[ext] building (attempt 2)" in run.out
        assert proxy.resets == 1


def test_ctrl_c_ends_a_retry_backoff_at_once(
    tmp_path: Path, registry: str, seed_image: str, proxy: ResettingProxy
) -> None:
    """A long backoff (base 40 s: at least 20 s) is no reason to ignore Ctrl-C."""
    with images_removed_after(new_prefix(registry)) as prefix:
        base = f"{proxy.address}/{seed_image.partition('/')[2]}"
        mini = write_mini(
            tmp_path,
            prefix,
            base,
            {"ext": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ > /m\n")},
        )
        proxy.fail_next(1000)
        running = Streaming(mini, "--retries", "5", env={"STACKBAKE_RETRY_BASE_S": "40"})
        try:
            running.wait_for_line("[ext] build attempt 1 failed", timeout=120)
            sent = time.monotonic()
            running.proc.send_signal(signal.SIGINT)
            run = running.finish(timeout=60)
        finally:
            running.kill()
        took = time.monotonic() - sent
        assert run.code == 130, run.explain()
        announced = re.search(r"\[ext\] build attempt 1 failed .*; retrying in ([\d.]+)s", run.out)
        assert announced, run.explain()
        # It ended before the backoff it had announced (at least 20 s) would have.
        assert took < float(announced.group(1)), f"{took:.1f} s from SIGINT to exit"
        ext = run.targets["ext"]
        assert (ext["status"], ext["reason"]) == ("cancelled", "interrupted"), ext
        assert "[ext] building (attempt 2)" not in run.out
