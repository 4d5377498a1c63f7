"""A parent and a child image built for two platforms and pushed: for each
platform, the child's manifest must start with every layer of the parent's and
add its own, and the child must run there with the parent's file in it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from python_on_whales import DockerException, docker

from tests.e2e.oci import platform_layers
from tests.helpers import write_tree

pytestmark = pytest.mark.engine

# platform -> what `uname -m` prints in a container of it
PLATFORMS = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}


@pytest.fixture
def images(registry: str) -> Iterator[dict[str, str]]:
    """Parent and child tags in a repository no earlier run used, so no stale tag
    can be seen; removed from the local image store afterwards."""
    prefix = f"{registry}/e2e-{uuid.uuid4().hex[:12]}"
    tags = {name: f"{prefix}/{name}:1" for name in ("parent", "child")}
    yield tags
    for tag in tags.values():
        with contextlib.suppress(DockerException):
            docker.image.remove(tag, force=True)


def build_and_push(folder: Path, tag: str, files: dict[str, str]) -> None:
    docker.buildx.build(write_tree(folder, files), platforms=list(PLATFORMS), tags=[tag], push=True)


def test_child_is_built_on_the_pushed_parent(
    tmp_path: Path, seed_image: str, images: dict[str, str]
) -> None:
    parent, child = images["parent"], images["child"]
    marker = f"parent {uuid.uuid4()}"
    build_and_push(
        tmp_path / "parent",
        parent,
        {
            "Dockerfile": f"FROM {seed_image}\nCOPY parent.txt /stackbake/parent.txt\n",
            "parent.txt": f"{marker}\n",
        },
    )
    build_and_push(
        tmp_path / "child",
        child,
        {"Dockerfile": f"FROM {parent}\nRUN echo child > /child.txt\n"},
    )

    for platform, machine in PLATFORMS.items():
        parent_layers = platform_layers(parent, platform)
        child_layers = platform_layers(child, platform)
        assert child_layers[: len(parent_layers)] == parent_layers, (
            f"{platform}: the child does not start with the parent's layers\n"
            f"parent {parent_layers}\nchild  {child_layers}"
        )
        assert len(child_layers) > len(parent_layers), f"{platform}: the child added no layer"

        out = docker.run(
            child,
            ["sh", "-c", "uname -m; cat /stackbake/parent.txt /child.txt"],
            platform=platform,
            remove=True,
        )
        assert out.splitlines() == [machine, marker, "child"], platform
