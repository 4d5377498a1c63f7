"""Build keys: stable across runs, folders and mtimes; changed by every real input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.freshness import keys as keys_module
from orchestrator.freshness.keys import HashCache, compute_keys, explain
from orchestrator.hierarchy.project import load_project
from orchestrator.state import StateDir
from tests.helpers import write_tree

SPEC = """\
version: 1
defaults:
  tags: ["r.example/${target}:1"]
targets:
  base: {context: base, args: {A: "1"}, platforms: [linux/amd64]}
  app: {context: app, platforms: [linux/amd64]}
"""
FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "FROM alpine:3.20\nCOPY . /b\n",
    "base/conf/a.txt": "a\n",
    "base/.dockerignore": "*.tmp\n",
    "base/scratch.tmp": "ignored\n",
    "app/Dockerfile": "FROM r.example/base:1\nCOPY . /app\n",
    "app/main.py": "print(1)\n",
}


def keys(root: Path, **kwargs: object) -> dict[str, str]:
    project = load_project(None, cwd=root, environ={}, **kwargs)  # type: ignore[arg-type]
    cache = HashCache.of(StateDir(root))
    inputs = compute_keys(project.hierarchy, list(project.spec.targets), cache)
    return {name: i.key for name, i in inputs.items()}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "one", FILES)


def test_same_tree_same_key_across_runs_processes_and_folders(tree: Path, tmp_path: Path) -> None:
    first = keys(tree)
    assert keys(tree) == first
    other = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(tree, other, symlinks=True)
    assert keys(other) == first
    code = (
        "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[2]);"
        "from tests.freshness.test_keys import keys; print(json.dumps(keys(Path(sys.argv[1]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tree), str(Path(__file__).parents[2])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import json

    assert json.loads(out) == first


def test_mtime_alone_changes_nothing(tree: Path) -> None:
    first = keys(tree)
    os.utime(tree / "base/conf/a.txt", ns=(1, 1))
    assert keys(tree) == first


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        (lambda t: (t / "base/conf/a.txt").write_text("b\n"), {"base", "app"}),
        (lambda t: (t / "base/conf/new.txt").write_text("n\n"), {"base", "app"}),
        (lambda t: (t / "base/conf/a.txt").unlink(), {"base", "app"}),
        (lambda t: (t / "base/conf/a.txt").chmod(0o755), {"base", "app"}),
        (lambda t: (t / "base/empty").mkdir(), {"base", "app"}),
        (lambda t: (t / "base/link").symlink_to("conf"), {"base", "app"}),
        (
            lambda t: (t / "base/Dockerfile").write_text("FROM alpine:3.20\nCOPY . /c\n"),
            {"base", "app"},
        ),
        (lambda t: (t / "base/.dockerignore").write_text("*.tmp\nconf\n"), {"base", "app"}),
        (lambda t: (t / "app/main.py").write_text("print(2)\n"), {"app"}),
        (lambda t: (t / "base/other.tmp").write_text("still ignored\n"), set()),
        (
            lambda t: (t / "builds.yaml").write_text(SPEC.replace('A: "1"', 'A: "2"')),
            {"base", "app"},
        ),
        (
            lambda t: (t / "builds.yaml").write_text(
                SPEC.replace(
                    "app: {context: app, platforms: [linux/amd64]}",
                    "app: {context: app, platforms: [linux/amd64], labels: {team: x}}",
                )
            ),
            {"app"},
        ),
        (
            lambda t: (t / "builds.yaml").write_text(
                SPEC.replace(
                    "app: {context: app,", "app: {context: app, secrets: [{id: tok, env: T}],"
                )
            ),
            {"app"},
        ),
        (
            lambda t: (t / "builds.yaml").write_text(
                SPEC.replace("app: {context: app,", "app: {context: app, tags: [r.example/app:9],")
            ),
            set(),
        ),
    ],
    ids=[
        "file-modified",
        "file-added",
        "file-removed",
        "mode",
        "empty-dir",
        "symlink",
        "dockerfile",
        "dockerignore",
        "leaf-file",
        "ignored-file",
        "arg",
        "label",
        "secret-id",
        "tags-are-not-inputs",
    ],
)
def test_each_input_change(tree: Path, change, changed: set[str]) -> None:  # type: ignore[no-untyped-def]
    before = keys(tree)
    change(tree)
    after = keys(tree)
    assert {n for n in before if before[n] != after[n]} == changed


def test_hash_cache_reads_a_file_once(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def counting(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(Path(file).name)
        return open(file, *args, **kwargs)

    monkeypatch.setattr(keys_module, "open", counting, raising=False)
    project = load_project(None, cwd=tree, environ={})
    compute_keys(project.hierarchy, ["app"], HashCache.of(StateDir(tree)))
    assert {"a.txt", "main.py", "Dockerfile"} <= set(reads), "the first run reads every file"
    reads.clear()
    compute_keys(project.hierarchy, ["app"], HashCache.of(StateDir(tree)))
    assert reads == [], "the second run read files its stat cache knew"


def test_explain_names_each_change(tree: Path) -> None:
    project = load_project(None, cwd=tree, environ={})
    cache = HashCache.of(StateDir(tree))
    before = compute_keys(project.hierarchy, ["app"], cache)
    (tree / "base/conf/a.txt").write_text("b\n")
    (tree / "base/conf/z.txt").write_text("z\n")
    (tree / "builds.yaml").write_text(SPEC.replace('A: "1"', 'A: "2"'))
    project = load_project(None, cwd=tree, environ={})
    now = compute_keys(project.hierarchy, ["app"], cache)
    assert explain(now["base"], before["base"]) == [
        "file modified: conf/a.txt",
        "file added: conf/z.txt",
        "args changed: A",
    ]
    assert explain(now["app"], before["app"]) == ["parent base changed"]
    assert explain(now["app"], None) == ["never built"]


def test_a_locked_base_digest_is_an_input(tree: Path) -> None:
    project = load_project(None, cwd=tree, environ={})
    cache = HashCache.of(StateDir(tree))
    names = list(project.spec.targets)

    def with_lock(digest: str) -> dict[str, str]:
        locked = {"docker.io/library/alpine:3.20": digest}
        return {n: i.key for n, i in compute_keys(project.hierarchy, names, cache, locked).items()}

    unlocked = {n: i.key for n, i in compute_keys(project.hierarchy, names, cache).items()}
    one, two = with_lock("sha256:" + "1" * 64), with_lock("sha256:" + "2" * 64)
    assert {n for n in names if one[n] != unlocked[n]} == {"base", "app"}
    assert {n for n in names if one[n] != two[n]} == {"base", "app"}
    assert with_lock("sha256:" + "1" * 64) == one
