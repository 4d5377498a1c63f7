"""A child is built on the parent image this run built, by digest, whatever its tag
says: a stale image under the parent's tag (locally and in the registry) never reaches
the child, even when the child asks BuildKit to pull (which resolves tags in the
registry)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hierarchy import (
    Hierarchy,
    build,
    docker,
    fixture_tree,
    image_inspect,
    labels_of,
    run_in,
    statuses,
    write_files,
)

pytestmark = pytest.mark.engine


@pytest.fixture
def tree(tmp_path: Path, registry: str, seed_image: str) -> Iterator[Hierarchy]:
    with fixture_tree(tmp_path, registry, seed_image) as h:
        yield h


def make_stale(h: Hierarchy, tmp_path: Path) -> tuple[str, str]:
    """An unrelated image under base's tag, locally and in the registry: (a name of
    its own, which the containerd store needs to keep it, and its id)."""
    folder = write_files(
        tmp_path / "stale",
        {
            "Dockerfile": f"FROM {h.seed}\nCOPY base.txt /etc/stackbake/base.txt\n",
            "base.txt": "base STALE\n",
        },
    )
    tag, own = h.tag("base"), h.tag("stale")
    docker("buildx", "build", "--quiet", "--tag", tag, "--tag", own, str(folder), timeout=300)
    docker("push", "--quiet", tag, timeout=300)
    return own, str(image_inspect(tag)["Id"])


def test_the_child_gets_the_new_parent_not_the_stale_tag(tree: Hierarchy, tmp_path: Path) -> None:
    first = build(tree, "tools", tag="first")
    assert first.code == 0, first.explain()
    assert run_in(tree.tag("tools"), "cat /opt/tools/VERSION") == f"tools base {tree.marker}\n"

    # Someone else's image now sits under the parent's tag, here and in the registry.
    _, stale = make_stale(tree, tmp_path)
    # The parent changes (new file content, a new Dockerfile line); the child pulls, so
    # without pinning BuildKit would take the stale parent from the registry.
    new = f"NEW-{uuid.uuid4().hex}"
    (tree.folder / "base/base.txt").write_text(f"base {new}\n", encoding="utf-8")
    tree.dockerfile("base").write_text(
        "ARG BASE_IMAGE=alpine:3.20\n"
        "FROM ${BASE_IMAGE}\n"
        "COPY base.txt /etc/stackbake/base.txt\n"
        f"RUN echo {new} > /etc/stackbake/dockerfile-version\n",
        encoding="utf-8",
    )
    run = build(tree, "tools", "--set", "tools.pull=true", tag="second")
    assert run.code == 0, run.explain()
    assert statuses(run) == {"base": "built", "tools": "built"}
    base_digest = run.targets["base"]["digest"]
    assert base_digest != first.targets["base"]["digest"], "the parent was not rebuilt"
    assert base_digest != stale
    assert image_inspect(tree.tag("base"))["Id"] == base_digest, "release tag not moved"

    # The child has the new parent's file and the new Dockerfile's, not the stale ones.
    assert run_in(tree.tag("tools"), "cat /opt/tools/VERSION") == f"tools base {new}\n"
    assert run_in(tree.tag("tools"), "cat /etc/stackbake/dockerfile-version") == f"{new}\n"
    assert labels_of(tree.tag("tools"))["org.opencontainers.image.base.digest"] == base_digest
    log = (tree.folder / run.targets["tools"]["log"]).read_text(encoding="utf-8")
    assert f":stackbake-{base_digest.split(':')[1]}" in log, "tools was not pinned by digest"


def test_in_a_session_the_child_is_built_on_the_parent_of_the_session(
    tree: Hierarchy, tmp_path: Path
) -> None:
    """Without --pull both targets build in one session: tools is linked to base's build
    there (target:base), never to what base's tag names."""
    first = build(tree, "tools", tag="first")
    assert first.code == 0, first.explain()
    _, stale = make_stale(tree, tmp_path)
    new = f"NEW-{uuid.uuid4().hex}"
    (tree.folder / "base/base.txt").write_text(f"base {new}\n", encoding="utf-8")
    run = build(tree, "tools", tag="second")
    assert run.code == 0, run.explain()
    assert statuses(run) == {"base": "built", "tools": "built"}
    assert (tree.folder / ".stackbake/logs/_session.log").is_file(), "no session"
    base_digest = run.targets["base"]["digest"]
    assert base_digest != stale
    assert image_inspect(tree.tag("base"))["Id"] == base_digest, "release tag not moved"
    assert run_in(tree.tag("tools"), "cat /opt/tools/VERSION") == f"tools base {new}\n"
    base_layers = image_inspect(tree.tag("base"))["RootFS"]["Layers"]
    assert image_inspect(tree.tag("tools"))["RootFS"]["Layers"][: len(base_layers)] == base_layers
    assert labels_of(tree.tag("tools"))["org.opencontainers.image.base.digest"] == ""
