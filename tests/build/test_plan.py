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
    ("session", "mode", "named"),
    [
        # Alone: a target starts once its parents passed; only its own test stage waits.
        ((), OutputMode(), {"base", "node", "app"}),
        # In a session a child is exported before its parents are tested.
        (ALL, OutputMode(), {"base", "node"}),
        # A push can fail after any build (and a session's target be cancelled first).
        ((), OutputMode(push=True), set()),
        (ALL, OutputMode(push=True), set()),
        # Outputs that tags do not name: nothing is named by its build.
        ((), OutputMode(outputs=("type=local,dest=out",)), set()),
    ],
)
def test_a_build_names_its_image_when_nothing_can_fail_before_its_release(
    project: Project, session: tuple[str, ...], mode: OutputMode, named: set[str]
) -> None:
    assert named_by_build(project.hierarchy, ALL, session, mode) == named


def test_only_what_builds_is_named(project: Project) -> None:
    assert named_by_build(project.hierarchy, ["app"], (), OutputMode()) == {"app"}
    # app alone after py (tested) was found up to date: nothing above app in the session
    assert named_by_build(project.hierarchy, ["node", "app"], ("node", "app"), OutputMode()) == {
        "node",
        "app",
    }


def test_a_tested_ancestor_behind_an_up_to_date_parent_still_holds_back_the_child(
    tmp_path: Path,
) -> None:
    """base has a test stage and builds (forced); py is up to date; app builds in the
    same session as base, so it is exported before base's test ran."""
    write_tree(tmp_path, {**FILES, "base/Dockerfile": "FROM alpine AS t\nFROM alpine\n"})
    h = load_project(None, cwd=tmp_path, environ={}, sets=["base.test=t"]).hierarchy
    building = ["base", "app"]
    assert named_by_build(h, building, ("base", "app"), OutputMode()) == set()
    assert named_by_build(h, building, (), OutputMode()) == {"app"}, "alone: base passed first"


def test_the_session_is_in_build_order(project: Project) -> None:
    assert session_members(project.hierarchy, BuildOptions(jobs=2), ALL[::-1]) == tuple(ALL)
