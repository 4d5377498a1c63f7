"""The engine goes away in the middle of a build and comes back: the running target fails
with the reason said plainly, as a transient error, and is built again once the engine
answers; the state folder is whole, and the next run finds everything up to date. On
the second engine (scripts/second-engine.sh), so that this host's first engine is left
alone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.faults import Gate
from tests.e2e.hierarchy import (
    Streaming,
    build,
    images_removed_after,
    new_prefix,
    statuses,
    write_mini,
)

pytestmark = pytest.mark.engine


def engine_b(*args: str) -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/second-engine.sh"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_target_running_when_the_engine_restarts_is_built_again(
    tmp_path: Path, registry: str, seed_image: str, second_engine: str, gate: Gate
) -> None:
    on_b = {"DOCKER_HOST": second_engine, "STACKBAKE_RETRY_BASE_S": "1"}
    with images_removed_after(new_prefix(registry), second_engine) as prefix:
        app = f"ARG REG\nFROM ${{REG}}/base:1\nRUN echo @MARKER@ && {gate.wait_command()}\n"
        mini = write_mini(
            tmp_path,
            prefix,
            seed_image,
            {
                "base": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ > /m\n"),
                "app": ("network: host", app),
            },
        )
        running = Streaming(mini, "--retry-timeout", "120", env=on_b)
        try:
            assert gate.knocked.wait(240), "app's build never reached the gate"
            engine_b("stop")  # the engine goes away with app's RUN in it
            gate.open()  # the attempt after the restart goes through
            engine_b()
            run = running.finish(timeout=300)
        finally:
            gate.open()
            running.kill()
        assert run.code == 0, run.explain()
        assert statuses(run) == {"base": "built", "app": "built"}
        failed = [line for line in run.out.splitlines() if "[app] build attempt 1 failed" in line]
        assert failed, run.explain()
        assert "the Docker engine went away" in failed[0], failed[0]
        assert run.targets["app"]["retries"] >= 1

        state = mini.folder / ".stackbake"
        for path in state.rglob("*.json"):  # whole: every file parses
            json.loads(path.read_text(encoding="utf-8"))
        again = build(mini, env=on_b, tag="again")
        assert statuses(again) == {"base": "up-to-date", "app": "up-to-date"}, again.explain()
