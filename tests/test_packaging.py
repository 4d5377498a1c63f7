"""The installed wheel carries the schema and finds it without the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_wheel_ships_the_schema_and_an_installed_copy_finds_it(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("stackbake-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "orchestrator/schemas/builds.schema.json" in names
    assert "orchestrator/schemas/plan.schema.json" in names
    assert not any(n.startswith("schemas/") for n in names)

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run(
        [sys.executable, "-c", "import orchestrator; print(orchestrator.__file__)"],
        cwd=away,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip().startswith(str(site))
    out = subprocess.run(
        [sys.executable, "-m", "orchestrator", "schema"],
        cwd=away,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert json.loads(out) == json.loads((ROOT / "schemas/builds.schema.json").read_text())
