"""scripts/ci-local.sh's work: the example GitHub workflow's steps run here (plan,
the shards at once on two engines, publish) and leave nothing to build."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.e2e.hierarchy import images_removed_after, new_prefix

pytestmark = pytest.mark.engine


def test_the_example_github_workflow_runs_here(registry: str, second_engine: str) -> None:
    with images_removed_after(new_prefix(registry), second_engine) as prefix:
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts/ci_local.py"), prefix],
            env={**os.environ, "STACKBAKE_REGISTRY": registry},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
        assert "== matrix after publish: []" in done.stdout
        assert done.stdout.count("== shard ") >= 2
        for name in ("base", "shop-web", "report-job"):
            assert f"published {name}: {prefix}/acme/{name}:1.4.2 (sha256:" in done.stdout
