from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.hierarchy.project import load_project
from orchestrator.spec.paths import PathFacts
from tests.helpers import write_tree


def counted(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """The paths os.NAME (stat or lstat) is asked about from now on."""
    asked: list[str] = []
    real = getattr(os, name)

    def counting(path: object, *args: object, **kwargs: object) -> os.stat_result:
        asked.append(str(path))
        return real(path, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(os, name, counting)
    return asked


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
    facts = PathFacts()
    asked = counted(monkeypatch, "stat")
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


def test_paths_in_one_folder_are_resolved_with_one_lstat_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """realpath asks about every component of a path; 100,000 contexts in one folder
    asked about that folder 100,000 times. It is resolved once, and each path in it
    then costs one lstat (the same answers as os.path.realpath, links followed)."""
    n = 100
    write_tree(tmp_path, {f"spec/apps/a{i}/Dockerfile": "FROM scratch\n" for i in range(n)})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "spec/apps/link").symlink_to(tmp_path / "elsewhere")
    facts = PathFacts()
    top = tmp_path / "spec"
    asked = counted(monkeypatch, "lstat")
    inside = [facts.inside(top / "apps" / "a0", top, real=True)]
    first = len(asked)  # the folders up to apps, then a0
    inside += [facts.inside(top / "apps" / f"a{i}", top, real=True) for i in range(1, n)]
    then = len(asked) - first
    inside.append(facts.inside(top / "apps" / "link", top, real=True))
    inside.append(facts.inside(top / "apps" / "missing" / "x", top, real=True))
    monkeypatch.undo()
    assert inside == [True] * n + [False, True]
    assert then == n - 1


def test_a_path_of_thousands_of_parts_resolves_as_realpath_does(tmp_path: Path) -> None:
    deep = tmp_path.joinpath("gone", *["d"] * 1200)  # deeper than Python's recursion limit
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "d").symlink_to(tmp_path / "d")  # a link that loops back
    facts = PathFacts()
    assert facts._realpath(str(deep)) == os.path.realpath(deep)
    assert facts._realpath(str(tmp_path / "d/d/x")) == os.path.realpath(tmp_path / "d/d/x")
