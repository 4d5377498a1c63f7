"""scripts/daemon.json, the engine configuration scripts/engine-up.sh installs: the
containerd image store, and a BuildKit GC short enough that dockerd 26 can load its
build cache within the 10 s it allows at start (moby#48569)."""

from __future__ import annotations

import json
import re
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_the_daemon_config_keeps_the_image_store_and_a_short_build_cache() -> None:
    config = json.loads((SCRIPTS / "daemon.json").read_text())
    assert config["features"] == {"containerd-snapshotter": True}
    gc = config["builder"]["gc"]
    assert gc["enabled"] is True
    first, last = gc["policy"]
    assert first["filter"] == ["unused-for=10m"]
    assert last["all"] is True
    assert config["builder"]["history"] == {"maxAge": "6h", "maxEntries": 100}


def test_engine_up_installs_it_and_the_start_failure_names_the_same_window() -> None:
    config = json.loads((SCRIPTS / "daemon.json").read_text())
    window = config["builder"]["gc"]["policy"][0]["filter"][0]
    assert 'cp "$here/daemon.json" "$conf"' in (SCRIPTS / "engine-up.sh").read_text()
    hint = re.search(r"builder prune -f --filter (\S+)\"", (SCRIPTS / "lib.sh").read_text())
    assert hint is not None
    assert hint.group(1) == window
