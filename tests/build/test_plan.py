"""The plan: which targets build in one session, and the one rule for when a build names
its image with its release tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.build.plan import named_by_build, session_members
from orchestrator.hierarchy.project import Project, load_project
from tests.build.test_runner import FILES
from tests.helpers import write_tree

# base -> py (test stage) -> app; base -> node
ALL = ["base", "node", "py", "app"]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_tree(tmp_path, FILES)
    return load_project(None, cwd=tmp_path, environ={})


@pytest.mark.parametrize(
    ("mode", "named"),
    [
        # Only a root: every child's image is checked against its parent's after the
        # build, and py must pass its test stage first.
        (OutputMode(), {"base"}),
        # A push can fail after any build (and a session's target be cancelled first).
        (OutputMode(push=True), set()),
        # Outputs that tags do not name: nothing is named by its build.
        (OutputMode(outputs=("type=local,dest=out",)), set()),
    ],
)
def test_a_build_names_its_image_when_nothing_can_fail_before_its_release(
    project: Project, mode: OutputMode, named: set[str]
) -> None:
    assert named_by_build(project.hierarchy, ALL, mode) == named


def test_only_what_builds_is_named(project: Project) -> None:
    assert named_by_build(project.hierarchy, ["app", "node"], OutputMode()) == set()
    assert named_by_build(project.hierarchy, ["base"], OutputMode()) == {"base"}


def test_the_session_is_in_build_order(project: Project) -> None:
    assert session_members(project.hierarchy, BuildOptions(jobs=2), ALL[::-1]) == tuple(ALL)
