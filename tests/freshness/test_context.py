"""The .dockerignore port, without the engine (tests/e2e/test_dockerignore.py compares
it with BuildKit itself)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.freshness.context import (
    BadPattern,
    Matcher,
    go_clean,
    ignore_file,
    read_ignore,
    walk,
)
from tests.helpers import write_tree


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("", "."),
        ("a//b/", "a/b"),
        ("./a/../b", "b"),
        ("/../a", "/a"),
        ("../a", "../a"),
        ("a/./b/..", "a"),
    ],
)
def test_go_clean(raw: str, clean: str) -> None:
    assert go_clean(raw) == clean


def test_read_ignore() -> None:
    text = "\ufeff# comment\n  /abs/  \n!  keep \n\n./a/../b\n #not a comment\n!\n"
    assert read_ignore(text) == ["abs", "!keep", "b", "#not a comment", "!"]


@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [
        (["*.log"], "a.log", True),
        (["*.log"], "x/a.log", False),
        (["**/*.log"], "x/y/a.log", True),
        (["**/*.log"], "a.log", True),
        (["node_modules"], "node_modules/x/y.js", True),
        (["a/**"], "a/b", True),
        (["a/**"], "a", False),
        (["**"], "x/y", True),
        (["*", "!keep"], "keep/x", False),
        (["!docs/readme.md", "docs"], "docs/readme.md", True),
        (["docs", "!docs/readme.md"], "docs/readme.md", False),
        (["a?c"], "abc", True),
        (["a?c"], "a/c", False),
        (["[ab]x"], "bx", True),
        (["a.b"], "axb", False),
        (["\\*x"], "*x", True),
        (["\\*x"], "ax", False),
        (["src/**/mod.py"], "src/mod.py", True),
    ],
)
def test_matching(patterns: list[str], path: str, ignored: bool) -> None:
    assert Matcher.of(patterns).match(path, None)[0] is ignored


def test_bad_patterns() -> None:
    with pytest.raises(BadPattern, match='illegal exclusion pattern: "!"'):
        Matcher.of(["!"])
    with pytest.raises(BadPattern, match="syntax error in pattern 'a\\[b'"):
        Matcher.of(["a[b"])


def test_walk_brings_parents_of_reincluded_paths(tmp_path: Path) -> None:
    write_tree(
        tmp_path, {"build/out.o": "", "build/keep/x.txt": "", "src/a.py": "", "src/b.txt": ""}
    )
    sent = [e.path for e in walk(tmp_path, Matcher.of(["build", "!build/keep/x.txt"]))]
    assert sent == ["build", "build/keep", "build/keep/x.txt", "src", "src/a.py", "src/b.txt"]
    sent = [e.path for e in walk(tmp_path, Matcher.of(["**", "!**/*.py"]))]
    assert sent == ["src", "src/a.py"]


def test_dockerfile_specific_ignore_wins(tmp_path: Path) -> None:
    write_tree(tmp_path, {".dockerignore": "a\n", "app.Dockerfile": "FROM scratch\n"})
    assert ignore_file(tmp_path, tmp_path / "Dockerfile") == tmp_path / ".dockerignore"
    write_tree(tmp_path, {"app.Dockerfile.dockerignore": "b\n"})
    assert ignore_file(tmp_path, tmp_path / "app.Dockerfile") == (
        tmp_path / "app.Dockerfile.dockerignore"
    )
