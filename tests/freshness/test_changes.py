"""`--changed-since GIT_REF`: targets whose build inputs differ from a commit's, and why."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from orchestrator.errors import UsageError
from orchestrator.freshness.changes import _unpack, changed_since
from orchestrator.hierarchy.project import Project, load_project
from orchestrator.hierarchy.selection import select
from tests.helpers import Result, run_cli, write_tree

# The spec sits below the repository root, so "same place at REF" is tested too.
SPEC = """\
version: 1
defaults:
  tags: ["r.example/${target}:1"]
  platforms: [linux/amd64]
  labels: {revision: "${git.sha}", day: "${date}"}
targets:
  base: {context: base, args: {A: "1"}}
  app: {context: app}
  tool: {context: tool}
"""
FILES = {
    "README.md": "repo\n",
    "images/builds.yaml": SPEC,
    "images/base/Dockerfile": "FROM scratch\nCOPY . /\n",
    "images/base/a.txt": "a\n",
    "images/base/.dockerignore": "*.tmp\n",
    "images/app/Dockerfile": "FROM r.example/base:1\nCOPY . /app\n",
    "images/app/main.py": "print(1)\n",
    "images/app/lib/util.py": "x = 1\n",
    "images/tool/Dockerfile": "FROM scratch\nCOPY . /\n",
    "images/tool/run.sh": "echo\n",
}


IDENTITY = ("-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *IDENTITY, *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def commit(repo: Path, message: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in os.environ if n.startswith("GIT_")]:  # as in a git hook
        monkeypatch.delenv(name)
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_tree(root, FILES)
    for path in root.rglob("*"):  # as a checkout with umask 022 leaves them
        if ".git" not in path.parts:
            path.chmod(0o644 if path.is_file() else 0o755)
    commit(root, "first")
    return root


def loader(**kwargs: Any) -> Callable[[str, Mapping[str, str]], Project]:
    return lambda file, pinned: load_project(file, overrides=pinned, environ={}, **kwargs)


def changes(repo: Path, ref: str = "main", names: list[str] | None = None, **kwargs: Any) -> Any:
    load = loader(**kwargs)
    project = load(str(repo / "images/builds.yaml"), {})
    order = select(project.hierarchy, names or [])
    return changed_since(project, ref, order, load)


def test_nothing_changed(repo: Path) -> None:
    assert changes(repo) == {}


def test_a_file_change_selects_the_target_and_its_dependent(repo: Path) -> None:
    (repo / "images/base/a.txt").write_text("b\n")
    assert changes(repo) == {"base": ["file modified: a.txt"], "app": ["parent base changed"]}


def test_added_removed_untracked_and_dockerignored_files(repo: Path) -> None:
    (repo / "images/app/main.py").unlink()
    (repo / "images/app/new.py").write_text("untracked, but the build sends it\n")
    (repo / "images/base/scratch.tmp").write_text("dockerignored: not sent\n")
    (repo / "README.md").write_text("outside every context\n")
    assert changes(repo) == {"app": ["file removed: main.py", "file added: new.py"]}


def test_a_spec_change(repo: Path) -> None:
    spec = repo / "images/builds.yaml"
    new = SPEC.replace('A: "1"', 'A: "2"').replace("{context: tool}", "{context: tool, target: t}")
    spec.write_text(new)
    (repo / "images/tool/Dockerfile").write_text("FROM scratch AS t\nCOPY . /\n")
    assert changes(repo) == {
        "base": ["args changed: A"],
        "app": ["parent base changed"],
        "tool": ["file modified: Dockerfile", "dockerfile changed", "target changed: None -> 't'"],
    }


def test_a_committed_change_against_an_older_commit(repo: Path) -> None:
    # HEAD moves, so git.sha differs from the older commit's: a label holding it is
    # not a change, nor is a commit touching no context.
    git(repo, "tag", "before")
    (repo / "README.md").write_text("docs only\n")
    commit(repo)
    assert changes(repo, "before") == {}
    (repo / "images/tool/run.sh").write_text("echo 2\n")
    commit(repo)
    assert changes(repo, "before") == {"tool": ["file modified: run.sh"]}
    assert changes(repo, "HEAD") == {}


def test_a_mode_git_does_not_keep_is_no_change_but_the_executable_bit_is(repo: Path) -> None:
    (repo / "images/app/main.py").chmod(0o664)
    (repo / "images/app/lib").chmod(0o775)
    assert changes(repo) == {}
    (repo / "images/tool/run.sh").chmod(0o775)
    assert changes(repo) == {"tool": ["file modified: run.sh"]}


def test_a_new_target_and_one_built_on_it(repo: Path) -> None:
    spec = repo / "images/builds.yaml"
    spec.write_text(SPEC + "  extra: {context: extra}\n")
    write_tree(repo / "images", {"extra/Dockerfile": "FROM scratch\n"})
    (repo / "images/tool/Dockerfile").write_text("FROM r.example/extra:1\nCOPY . /\n")
    assert changes(repo) == {
        "extra": ["new target (not in the spec at main)"],
        "tool": ["file modified: Dockerfile", "dockerfile changed", "parent extra changed"],
    }


def test_a_base_pinned_elsewhere_in_the_lock(repo: Path) -> None:
    (repo / "images/tool/Dockerfile").write_text("FROM alpine:3.20\nCOPY . /\n")
    lock = "version: 1\nimages:\n  docker.io/library/alpine:3.20: {{digest: 'sha256:{}'}}\n"
    (repo / "images/builds.lock").write_text(lock.format("a" * 64))
    commit(repo)
    (repo / "images/builds.lock").write_text(lock.format("b" * 64))
    assert changes(repo) == {
        "tool": [
            f"base docker.io/library/alpine:3.20 changed: sha256:{'a' * 64} -> sha256:{'b' * 64}"
        ]
    }


def test_the_selection_bounds_the_answer(repo: Path) -> None:
    (repo / "images/base/a.txt").write_text("b\n")
    assert changes(repo, names=["base", "tool"]) == {"base": ["file modified: a.txt"]}


def test_spec_missing_at_ref(repo: Path) -> None:
    git(repo, "tag", "before")
    git(repo, "mv", "images", "stack")
    commit(repo)
    project = load_project(str(repo / "stack/builds.yaml"), environ={})
    order = select(project.hierarchy, [])
    assert changed_since(project, "before", order, loader()) == {
        "base": ["spec stack/builds.yaml does not exist at before"],
        "app": ["spec stack/builds.yaml does not exist at before"],
        "tool": ["spec stack/builds.yaml does not exist at before"],
    }


def test_spec_not_loadable_at_ref(repo: Path) -> None:
    spec = repo / "images/builds.yaml"
    spec.write_text(SPEC.replace("context: tool", "context: tool, platfroms: []"))
    commit(repo)
    git(repo, "tag", "broken")
    spec.write_text(SPEC)
    reason = (
        "spec not loadable at broken: images/builds.yaml:9:25: targets.tool.platfroms: "
        "unknown key; did you mean 'platforms'?"
    )
    assert changes(repo, "broken") == {"base": [reason], "app": [reason], "tool": [reason]}


def test_a_context_outside_the_repository_is_always_changed(repo: Path) -> None:
    # Git has no history for it. (A relative path out of the repository does not load
    # at REF at all: every target is changed, with that reason.)
    shared = write_tree(repo.parent / "shared", {"Dockerfile": "FROM scratch\n"})
    spec = repo / "images/builds.yaml"
    spec.write_text(SPEC + f"  shared: {{context: {shared}}}\n")
    commit(repo)
    (repo / "images/tool/Dockerfile").write_text("FROM r.example/shared:1\n")
    commit(repo)
    git(repo, "tag", "before")
    # shared's key is the same at both commits: its dependent is changed all the same
    assert changes(repo, "before", allow_outside_context=True) == {
        "shared": ["context outside the git repository: cannot compare with before"],
        "tool": ["parent shared changed"],
    }


def test_the_working_tree_and_git_state_are_left_alone(repo: Path) -> None:
    (repo / "images/base/a.txt").write_text("b\n")
    status = git(repo, "status", "--porcelain", "--ignored")
    changes(repo)
    assert git(repo, "status", "--porcelain", "--ignored") == status
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not (repo / "images/.stackbake").exists()


# --- unpacking git archive's output --------------------------------------------------


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o664) -> Any:
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.mode = kind, link, mode
    return member


def test_unpack_keeps_symlinks_and_the_executable_bit(tmp_path: Path) -> None:
    stream = tar_of(
        (info("d", tarfile.DIRTYPE, mode=0o775), b""),
        (info("d/x.sh", mode=0o775), b"run"),
        (info("d/link", tarfile.SYMTYPE, "/etc/passwd"), b""),
    )
    _unpack(stream, tmp_path)
    assert (tmp_path / "d/x.sh").read_bytes() == b"run"
    assert os.access(tmp_path / "d/x.sh", os.X_OK)
    assert os.readlink(tmp_path / "d/link") == "/etc/passwd"


@pytest.mark.parametrize(
    "members",
    [
        [(info("../evil"), b"x")],
        [(info("/abs"), b"x")],
        [(info("out", tarfile.SYMTYPE, ".."), b""), (info("out/evil"), b"x")],
    ],
)
def test_unpack_never_writes_outside(tmp_path: Path, members: Any) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UsageError, match="git archive gave an unsafe path"):
        _unpack(tar_of(*members), dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]


# --- the command line -----------------------------------------------------------------


@pytest.fixture
def cli(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        return run_cli(list(args), repo / "images", capsys, monkeypatch)

    return run


def test_cli_unknown_ref_exits_2(cli: Callable[..., Result]) -> None:
    result = cli("plan", "--changed-since", "nope")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "error: unknown git ref 'nope': no such commit in this checkout; fetch it (CI "
        "checkouts are often shallow): git fetch --depth=1 origin nope, then pass "
        "--changed-since FETCH_HEAD\n"
    )
    result = cli("build", "--changed-since", "origin/main")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "error: unknown git ref 'origin/main': no such commit in this checkout; fetch it (CI "
        "checkouts are often shallow): git fetch --depth=1 origin main\n"
    )


def test_cli_outside_a_git_checkout_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path / "plain", {"builds.yaml": "version: 1\ntargets: {a: {}}\n"})
    (tmp_path / "plain/Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    result = run_cli(["plan", "--changed-since", "main"], tmp_path / "plain", capsys, monkeypatch)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "error: --changed-since needs a git checkout, and builds.yaml is not in one\n"
    )


def test_cli_plan_shows_only_changed_targets_with_reasons(
    repo: Path, cli: Callable[..., Result]
) -> None:
    assert cli("plan", "--changed-since", "main").out == "nothing changed since main\n"
    (repo / "images/base/a.txt").write_text("b\n")
    result = cli("plan", "--changed-since", "main")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "Plan for builds.yaml: 2 targets in 2 levels\n"
        "  1. base  [level 0]\n"
        "       changed:   file modified: a.txt\n"
        "       platforms: linux/amd64\n"
        "       tags:      r.example/base:1\n"
        "  2. app  [level 1]\n"
        "       changed:   parent base changed\n"
        "       from:      base (app/Dockerfile:1 FROM r.example/base:1)\n"
        "       platforms: linux/amd64\n"
        "       tags:      r.example/app:1\n"
    )
    data = json.loads(cli("plan", "--changed-since", "main", "--format", "json").out)
    schema = json.loads((Path(__file__).parents[2] / "schemas/plan.schema.json").read_text())
    Draft202012Validator(schema).validate(data)
    assert [(t["name"], t["changes"]) for t in data["targets"]] == [
        ("base", ["file modified: a.txt"]),
        ("app", ["parent base changed"]),
    ]
    # a selection without app: only base, unless its dependents are asked for
    assert "app" not in cli("plan", "base", "--changed-since", "main").out
    assert "app" in cli("plan", "base", "--with-dependents", "--changed-since", "main").out
    assert "changes" not in json.loads(cli("plan", "--format", "json").out)["targets"][0]


def test_cli_build_prints_the_reasons_and_builds_the_changed_targets(
    repo: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestrator.build.pipeline

    asked: list[Any] = []

    def fake_run_build(project: Project, options: Any, backend: Any, **kwargs: Any) -> int:
        asked.append(options)
        return 0

    monkeypatch.setattr(orchestrator.build.pipeline, "run_build", fake_run_build)
    result = cli("build", "--changed-since", "main")
    assert (result.code, result.out, result.err, asked) == (
        0,
        "nothing changed since main\n",
        "",
        [],
    )
    (repo / "images/base/a.txt").write_text("b\n")
    result = cli("build", "--changed-since", "main", "--force", "tool")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "changed since main: base: file modified: a.txt\n"
        "changed since main: app: parent base changed\n"
    )
    assert [(o.targets, o.with_dependents, o.force) for o in asked] == [
        (("base", "app"), False, ("tool",))
    ]
