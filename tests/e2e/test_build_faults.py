"""Faults injected while a run is on: the registry goes away during the push, or is
unreachable from the start, or goes away after the first of a target's tags; Ctrl-C
comes during a test stage or a push. Each registry is the test's own."""

from __future__ import annotations

import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.faults import Gate, PrivateRegistry, ResettingProxy
from tests.e2e.hierarchy import (
    Hierarchy,
    Streaming,
    build,
    images_removed_after,
    local_images,
    processes,
    statuses,
    summary_of,
    write_mini,
)
from tests.e2e.oci import fetch_manifest

pytestmark = pytest.mark.engine

OUTAGE_S = 12  # how long the registry stays down: the fault itself, not a wait
BASE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ > /marker\n"


@pytest.fixture
def own_registry(tmp_path: Path) -> Iterator[PrivateRegistry]:
    registry = PrivateRegistry(tmp_path / "registry")
    registry.start()
    yield registry
    registry.stop()


def gated_tree(tmp_path: Path, prefix: str, seed: str, gate: Gate, **extra: str) -> Hierarchy:
    """base -> app; app's RUN waits at the gate (the test decides when the build ends)."""
    app = f"ARG REG\nFROM ${{REG}}/base:1\nRUN echo @MARKER@ app && {gate.wait_command()}\n"
    return write_mini(
        tmp_path,
        prefix,
        seed,
        {"base": ("", BASE), "app": (extra.get("app", "network: host"), app)},
    )


def ours(h: Hierarchy, *words: str) -> list[str]:
    """This test's docker and buildx processes still running."""
    return [
        args
        for _, args in processes()
        if str(h.prefix) in args or str(h.folder) in args
        if any(word in args for word in words)
    ]


def test_a_registry_down_for_a_while_during_the_push_is_waited_for(
    tmp_path: Path, seed_image: str, own_registry: PrivateRegistry, gate: Gate
) -> None:
    prefix = f"{own_registry.address}/e2e-{uuid.uuid4().hex[:12]}"
    with images_removed_after(prefix):
        mini = gated_tree(tmp_path, prefix, seed_image, gate)
        running = Streaming(mini, "--push", env={"STACKBAKE_RETRY_BASE_S": "0.5"})
        try:
            running.wait_for_line("[base] built", timeout=180)  # and pushed
            assert gate.knocked.wait(180), "app's build never reached the gate"
            own_registry.stop()  # while app builds: its push will find the registry gone
            down = time.monotonic()
            gate.open()
            running.wait_for_line("[app] push attempt 1 failed", timeout=120)
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down)))
            own_registry.start()
            run = running.finish(timeout=300)
        finally:
            gate.open()
            running.kill()
    assert run.code == 0, run.explain()
    assert statuses(run) == {"base": "built", "app": "built"}
    app = run.targets["app"]
    assert app["retries"] >= 1, app
    assert app["published"][0] == mini.tag("app"), app
    assert app["published"][1].startswith(f"{prefix}/app:key-"), app
    for name in ("base", "app"):
        _, by_tag = fetch_manifest(mini.tag(name))
        _, by_digest = fetch_manifest(mini.tag(name), run.targets[name]["digest"])
        assert by_tag == by_digest, name


def test_a_registry_unreachable_at_the_start_is_said_before_anything_builds(
    tmp_path: Path, seed_image: str
) -> None:
    gone = PrivateRegistry(tmp_path / "never-started")
    prefix = f"{gone.address}/e2e-{uuid.uuid4().hex[:12]}"
    with images_removed_after(prefix):
        mini = write_mini(tmp_path, prefix, seed_image, {"base": ("", BASE)})
        run = build(mini, "--push", "--retry-timeout", "3")
        assert run.code == 1, run.explain()
        assert f"error: registry {gone.address} cannot be reached (" in run.err, run.explain()
        assert "asked again for 3 s" in run.err
        assert "[base] building" not in run.out, "it built for a registry it cannot reach"
        assert not run.report_path.exists()
        assert local_images(prefix) == []


def test_a_push_that_fails_half_way_says_which_tags_it_published(
    tmp_path: Path, seed_image: str, own_registry: PrivateRegistry, gate: Gate
) -> None:
    """app's second tag is on a registry that goes away while app builds."""
    second = PrivateRegistry(tmp_path / "second")
    second.start()
    prefix = f"{own_registry.address}/e2e-{uuid.uuid4().hex[:12]}"
    other = f"{second.address}/e2e-{uuid.uuid4().hex[:12]}/app:1"
    try:
        with images_removed_after(prefix):
            tags = f'network: host\ntags: ["${{REG}}/app:1", "{other}"]'
            mini = gated_tree(tmp_path, prefix, seed_image, gate, app=tags)
            running = Streaming(mini, "--push", "--retry-timeout", "2")
            try:
                running.wait_for_line("[base] built", timeout=180)
                assert gate.knocked.wait(180), "app's build never reached the gate"
                second.stop()
                gate.open()
                run = running.finish(timeout=300)
            finally:
                gate.open()
                running.kill()
    finally:
        second.stop()
    assert run.code == 1, run.explain()
    app = run.targets["app"]
    assert (app["status"], app["phase"]) == ("failed", "push"), app
    assert app["published"] == [mini.tag("app")], app
    assert app["reason"].startswith(f"push {other}: "), app
    assert f"published before it failed: {mini.tag('app')}" in summary_of(run.out)
    fetch_manifest(mini.tag("app"))  # the first tag did move


def test_ctrl_c_during_the_test_stage_stops_it_and_cleans_up(
    tmp_path: Path, registry: str, seed_image: str, gate: Gate
) -> None:
    prefix = f"{registry}/e2e-{uuid.uuid4().hex[:12]}"
    with images_removed_after(prefix):
        dockerfile = (
            "ARG REG\nFROM ${REG}/base:1 AS main\n"
            f"FROM main AS test\nRUN echo @MARKER@ && {gate.wait_command()}\nFROM main\n"
        )
        mini = write_mini(
            tmp_path,
            prefix,
            seed_image,
            {"base": ("", BASE), "app": ("test: test\nnetwork: host", dockerfile)},
        )
        running = Streaming(mini)
        try:
            running.wait_for_line("[app] testing", timeout=180)
            assert gate.knocked.wait(120), "the test stage never reached the gate"
            running.proc.send_signal(signal.SIGINT)
            run = running.finish(timeout=60)
        finally:
            gate.open()
            running.kill()
        assert run.code == 130, run.explain()
        assert statuses(run) == {"base": "built", "app": "cancelled"}
        assert run.targets["app"]["phase"] == "test"
        assert "Interrupted: 1 cancelled, 1 built in " in summary_of(run.out)
        assert ours(mini, "buildx") == [], "a buildx process outlived stackbake"
        left = [t for t in local_images(prefix) if ":stackbake-" in t]
        assert left == [], f"staging or pin tags left: {left}"
        assert f"{prefix}/app:1" not in local_images(prefix), "a cancelled target was released"


def test_ctrl_c_during_a_push_stops_it_and_cleans_up(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    proxy = ResettingProxy(registry)
    prefix = f"{proxy.address}/e2e-{uuid.uuid4().hex[:12]}"
    try:
        with images_removed_after(prefix):
            # Forced: no registry lookup of keys before the build (the proxy forwards those
            # anyway until it stalls).
            mini = write_mini(tmp_path, prefix, seed_image, {"base": ("", BASE)})
            running = Streaming(mini, "--push", "--force", "*")
            try:
                running.wait_for_line("[base] building", timeout=120)
                proxy.stall()  # from now on the registry accepts and never answers
                running.wait_for_line("[base] pushing", timeout=180)
                assert proxy.knocked.wait(60), "the push never reached the registry"
                running.proc.send_signal(signal.SIGINT)
                run = running.finish(timeout=60)
            finally:
                running.kill()
            assert run.code == 130, run.explain()
            assert statuses(run) == {"base": "cancelled"}
            assert run.targets["base"]["phase"] == "push"
            assert re.search(r"^Interrupted: 1 cancelled in ", summary_of(run.out), re.M)
            assert ours(mini, "docker push", "buildx") == [], "a push outlived stackbake"
            assert [t for t in local_images(prefix) if ":stackbake-" in t] == []
    finally:
        proxy.close()
