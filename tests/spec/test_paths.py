from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.hierarchy.project import load_project
from orchestrator.spec.paths import PathFacts
from tests.helpers import write_tree


def test_inside_is_by_whole_path_components(tmp_path: Path) -> None:
    facts = PathFacts()
    top = tmp_path / "spec"
    assert facts.inside(top, top)
    assert facts.inside(top / "app" / "x", top)
    assert not facts.inside(tmp_path / "spec-other", top)  # a shared prefix is not inside
    assert facts.inside(Path("/a"), Path("/"))


def test_inside_real_follows_symbolic_links(tmp_path: Path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "spec" / "link").symlink_to(tmp_path / "elsewhere")
    facts = PathFacts()
    link = tmp_path / "spec" / "link"
    assert facts.inside(link, tmp_path / "spec")
    assert not facts.inside(link, tmp_path / "spec", real=True)


def test_kinds_are_asked_once_per_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {"f": "x"})
    asked: list[str] = []
    stat = os.stat

    def counting(path: object, *args: object, **kwargs: object) -> os.stat_result:
        asked.append(str(path))
        return stat(path, *args, **kwargs)  # type: ignore[arg-type]

    facts = PathFacts()
    monkeypatch.setattr(os, "stat", counting)
    answers = [facts.is_file(tmp_path / "f"), facts.is_dir(tmp_path / "f"), facts.is_dir(tmp_path)]
    answers.append(facts.exists(tmp_path / "missing"))
    answers.append(facts.exists(tmp_path / "missing"))
    monkeypatch.undo()
    assert answers == [True, False, True, False, False]
    assert asked == [str(tmp_path / "f"), str(tmp_path), str(tmp_path / "missing")]


def test_targets_sharing_a_missing_dockerfile_each_get_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = "version: 1\ntargets:\n  a: {context: app}\n  b: {context: app}\n"
    write_tree(tmp_path, {"builds.yaml": spec, "app/README": "no Dockerfile here"})
    with pytest.raises(SpecError) as info:
        load_project(None, cwd=tmp_path, environ={})
    said = "Dockerfile app/Dockerfile does not exist; fix 'dockerfile' (relative to the context)"
    assert [(p.line, p.path, p.message) for p in info.value.problems] == [
        (3, "targets.a", said),
        (4, "targets.b", said),
    ]
