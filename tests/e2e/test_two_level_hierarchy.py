"""A parent and a child image, two platforms, built by stackbake and pushed: for each
platform the child's manifest starts with every layer of the parent's and adds its own,
and the child runs there with the parent's file in it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.e2e.hierarchy import (
    build,
    images_removed_after,
    new_prefix,
    run_in,
    statuses,
    write_mini,
)
from tests.e2e.oci import platform_layers

pytestmark = pytest.mark.engine

# platform -> what `uname -m` prints in a container of it
PLATFORMS = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
TWO = "platforms: [linux/amd64, linux/arm64]"


def test_child_is_built_on_the_pushed_parent(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    marker = f"parent {uuid.uuid4()}"
    with images_removed_after(new_prefix(registry)) as prefix:
        tree = write_mini(
            tmp_path,
            prefix,
            seed_image,
            {
                "parent": (
                    TWO,
                    "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY parent.txt /stackbake/\n",
                ),
                "child": (TWO, "ARG REG\nFROM ${REG}/parent:1\nRUN echo child > /child.txt\n"),
            },
        )
        (tree.folder / "parent/parent.txt").write_text(f"{marker}\n")
        run = build(tree, "--push")
        assert run.code == 0, run.explain()
        assert statuses(run) == {"parent": "built", "child": "built"}
        parent, child = tree.tag("parent"), tree.tag("child")
        for platform, machine in PLATFORMS.items():
            parent_layers = platform_layers(parent, platform)
            child_layers = platform_layers(child, platform)
            assert child_layers[: len(parent_layers)] == parent_layers, (
                f"{platform}: the child does not start with the parent's layers\n"
                f"parent {parent_layers}\nchild  {child_layers}"
            )
            assert len(child_layers) > len(parent_layers), f"{platform}: the child added no layer"
            out = run_in(child, "uname -m; cat /stackbake/parent.txt /child.txt", platform=platform)
            assert out.splitlines() == [machine, marker, "child"], platform
