"""Atomic writes: the new content whole, and the mode a plain open() would give."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.atomic import write_atomic


def test_the_file_gets_the_umask_mode_not_mkstemps(tmp_path: Path):
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "builds.lock", "version: 1\n")
        os.umask(0o077)
        write_atomic(tmp_path / "private", "x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "builds.lock").read_text() == "version: 1\n"
    assert (tmp_path / "builds.lock").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["builds.lock", "private"]
