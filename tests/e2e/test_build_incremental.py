"""Build only what changed, on the real engine: a second build of the fixture hierarchy
sends nothing to BuildKit; one changed file rebuilds exactly its target and what is
built on it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hierarchy import (
    ALL_TARGETS,
    Hierarchy,
    build,
    fixture_tree,
    labels_of,
    local_images,
    remove_local_images,
    statuses,
)

pytestmark = pytest.mark.engine


@pytest.fixture
def tree(tmp_path: Path, registry: str, seed_image: str) -> Iterator[Hierarchy]:
    with fixture_tree(tmp_path, registry, seed_image) as h:
        yield h


def buildkit_ran(tree: Hierarchy, name: str) -> bool:
    """BuildKit's plain progress in the target's log: "#1 [internal] load build...";
    a target that was up to date has an empty log."""
    log = tree.folder / ".stackbake" / "logs" / f"{name}.log"
    return any(line.startswith("#") for line in log.read_text(encoding="utf-8").splitlines())


def test_second_build_sends_nothing_and_a_change_rebuilds_its_subtree(tree: Hierarchy) -> None:
    first = build(tree, tag="first")
    assert first.code == 0, first.explain()
    assert set(statuses(first).values()) == {"built"}

    second = build(tree, tag="second")
    assert second.code == 0, second.explain()
    assert statuses(second) == dict.fromkeys(ALL_TARGETS, "up-to-date")
    assert [n for n in ALL_TARGETS if buildkit_ran(tree, n)] == []
    for name in ALL_TARGETS:
        assert second.targets[name]["digest"] == first.targets[name]["digest"]
        assert second.targets[name]["attempts"] == 0
    assert "Done: 9 up-to-date in " in second.out
    explained = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "plan",
            "--explain",
            "--format",
            "json",
            "-f",
            str(tree.spec),
            *tree.var_args(),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert explained.returncode == 0, explained.stderr
    plan = json.loads(explained.stdout)
    assert {t["name"]: t["action"] for t in plan["targets"]} == dict.fromkeys(
        ALL_TARGETS, "up-to-date"
    )

    (tree.folder / "tools" / "extra.txt").write_text("changed\n", encoding="utf-8")
    third = build(tree, tag="third")
    assert third.code == 0, third.explain()
    rebuilt = {n for n, s in statuses(third).items() if s == "built"}
    assert rebuilt == {"tools", "worker"}
    assert {n for n in ALL_TARGETS if buildkit_ran(tree, n)} == {"tools", "worker"}
    assert "[tools] building: file added: extra.txt" in third.out
    assert "[worker] building: parent tools changed" in third.out


def test_push_run_on_an_empty_store_skips_via_the_registry(tree: Hierarchy) -> None:
    first = build(tree, "--push", tag="first")
    assert first.code == 0, first.explain()
    assert set(statuses(first).values()) == {"built"}
    remove_local_images(tree.prefix)  # a new CI runner: nothing in the image store
    assert local_images(tree.prefix) == []

    second = build(tree, "--push", tag="second")
    assert second.code == 0, second.explain()
    assert statuses(second) == dict.fromkeys(ALL_TARGETS, "up-to-date")
    assert [n for n in ALL_TARGETS if buildkit_ran(tree, n)] == []
    for name in ALL_TARGETS:
        assert second.targets[name]["digest"] == first.targets[name]["digest"]
    assert "[base] up-to-date in the registry: " in second.out
    assert local_images(tree.prefix) == [], "an up-to-date push run pulls nothing"

    (tree.folder / "tools" / "extra.txt").write_text("changed\n", encoding="utf-8")
    third = build(tree, "--push", tag="third")
    assert third.code == 0, third.explain()
    assert {n for n, s in statuses(third).items() if s == "built"} == {"tools", "worker"}
    base = first.targets["base"]["digest"]
    # tools built on the registry's base, pinned by digest, with no local copy of base
    assert labels_of(tree.tag("tools"))["org.opencontainers.image.base.digest"] == base
