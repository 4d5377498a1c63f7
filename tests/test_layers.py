"""The package's layers (pyproject.toml, [tool.importlinter]): no module imports from a
layer above its own, and every package is in a layer. Checked by import-linter on the
package, and shown to catch an upward import planted in a copy of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=folder, capture_output=True, text=True, check=False
    )


def test_no_module_imports_from_a_layer_above_it() -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 1 kept, 0 broken." in done.stdout


def test_an_upward_import_or_a_package_outside_the_layers_breaks_the_contract(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "orchestrator", tmp_path / "orchestrator")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    schedule = tmp_path / "orchestrator/execution/schedule.py"
    schedule.write_text(schedule.read_text() + "\nimport orchestrator.build.plan  # noqa\n")
    done = lint(tmp_path)
    assert done.returncode == 1
    assert "orchestrator.execution is not allowed to import orchestrator.build" in done.stdout
    schedule.write_text(schedule.read_text().replace("import orchestrator.build.plan", ""))
    (tmp_path / "orchestrator/stray.py").write_text("")
    done = lint(tmp_path)
    assert done.returncode == 1
    assert "orchestrator.stray" in done.stdout + done.stderr
