"""The engine scripts are cheap no-ops once the engine and the seed are there,
so bootstrap and CI can run them every time."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.oci import fetch_manifest

pytestmark = pytest.mark.engine

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def run_timed(script: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(
        ["bash", str(SCRIPTS / script)], capture_output=True, text=True, timeout=120, check=False
    )
    return done, time.monotonic() - start


def test_engine_up_only_prints_versions_when_the_engine_runs(engine: str) -> None:
    done, seconds = run_timed("engine-up.sh")
    assert done.returncode == 0, done.stderr
    assert f"engine {engine}" in done.stdout
    assert "buildx" in done.stdout
    assert len(done.stdout.splitlines()) == 3, f"it did more than print versions:\n{done.stdout}"
    print(f"\nengine-up.sh with the engine running: {seconds:.1f} s")


def test_seed_image_is_a_no_op_when_the_registry_has_it(seed_image: str) -> None:
    before = fetch_manifest(seed_image)
    done, seconds = run_timed("seed-image.sh")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{seed_image}\n"
    assert fetch_manifest(seed_image) == before, "the seed image was pushed again"
    print(f"\nseed-image.sh with the seed there: {seconds:.1f} s")
