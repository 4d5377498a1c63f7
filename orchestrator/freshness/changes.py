"""`--changed-since GIT_REF`: the targets whose build inputs differ from those at a commit.

The tree at REF comes from `git archive` into a temporary folder (the working tree,
the index and `.git`'s worktrees are left alone). The spec at the same place in it is
loaded with the same `--var`, `--set` and environment, and with this run's `git.*`
and `date` built-ins (a label holding `${git.sha}` is not a change). Build keys, with
each side's `builds.lock`, are computed on both sides with throwaway hash caches and
compared with `explain`. Git keeps only the executable bit, so file modes are
compared as git sees them (755 or 644, folders 755). Keys are Merkle: a target built
on a changed one is changed too ("parent X changed"). The working tree side is what
a build would send: untracked and git-ignored files count.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

from orchestrator.bases.lockfile import load_lock, lock_path
from orchestrator.errors import StackbakeError, UsageError, display_path
from orchestrator.freshness.keys import HashCache, KeyInputs, compute_keys, explain
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hierarchy.project import Project
from orchestrator.spec.model import Target
from orchestrator.spec.variables import GIT_BUILTINS, GitFacts
from orchestrator.state import StateDir

# Loads a spec file with the run's --var/--set/environment plus these overrides.
Loader = Callable[[str, Mapping[str, str]], Project]


def changed_since(
    project: Project, ref: str, names: Sequence[str], load: Loader
) -> dict[str, list[str]]:
    """Of `names` (a selection of `project`), the targets whose key differs from the one
    they had at `ref`, in build order, each with its reasons."""
    folder = project.spec.folder
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None:
        raise UsageError(
            f"--changed-since needs a git checkout, and {display_path(project.spec.path)} "
            "is not in one"
        )
    root = Path(top)
    commit = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if commit is None:
        raise _unknown(ref)
    spec_file = project.spec.path.resolve()
    if not spec_file.is_relative_to(root.resolve()):
        raise UsageError(f"{display_path(project.spec.path)} is not in the git checkout {root}")
    spec_rel = spec_file.relative_to(root.resolve())
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    git = GitFacts(folder)
    pinned = {n: v for n in GIT_BUILTINS if (v := git.get(n)) is not None} | {"date": today}
    now = load(str(project.spec.path), pinned)
    order = now.hierarchy.order(list(names))
    with tempfile.TemporaryDirectory(prefix="stackbake-changes-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        _export(root, commit, tree)
        if not (tree / spec_rel).is_file():
            return {n: [f"spec {spec_rel.as_posix()} does not exist at {ref}"] for n in order}
        try:
            then = load(str(tree / spec_rel), pinned)
            then_locked = _locked(then)
        except StackbakeError as exc:
            first = str(exc).splitlines()[0].replace(f"{tree}{os.sep}", "")
            return {n: [f"spec not loadable at {ref}: {first}"] for n in order}
        cache = HashCache(StateDir(folder).hashes())  # the stat cache's entries, read only
        after = _keys(now.hierarchy, order, cache, _locked(now))
        known = [n for n in order if n in then.spec.targets]
        before = _keys(then.hierarchy, known, HashCache(), then_locked)
        outside = {n for n in order if _outside(now.spec.targets[n], root)}
        outside |= {n for n in known if _outside(then.spec.targets[n], tree)}
    changes: dict[str, list[str]] = {}
    for name in order:
        if name in outside:
            reasons = [f"context outside the git repository: cannot compare with {ref}"]
        elif name not in before:
            reasons = [f"new target (not in the spec at {ref})"]
        else:
            reasons = explain(after[name], before[name])
        for parent in now.hierarchy.parents(name):  # also when a parent's key is the same
            why = f"parent {parent} changed"
            if parent in changes and why not in reasons:
                reasons.append(why)
        if reasons:
            changes[name] = reasons
    return changes


def _locked(project: Project) -> dict[str, str]:
    """The base digests of the project's lock: key inputs, as in a build."""
    return load_lock(lock_path(project.spec.path)).digests()


def _keys(
    h: Hierarchy, names: list[str], cache: HashCache, locked: Mapping[str, str]
) -> dict[str, KeyInputs]:
    """Keys with file modes as git records them, parents' keys recomputed to match."""
    inputs = compute_keys(h, names, cache, locked)
    out: dict[str, KeyInputs] = {}
    for name in h.order(list(inputs)):
        i = inputs[name]
        files = {path: _git_mode(entry) for path, entry in i.files.items()}
        parents = {p: out[p].key for p in i.parents}
        out[name] = KeyInputs(files, i.fields, parents, i.bases)
    return out


def _git_mode(entry: str) -> str:
    """'file 664 <sha>' -> 'file 644 <sha>', 'file 775 ...' -> 'file 755 ...', 'dir 775'
    -> 'dir 755': git keeps a file's executable bit and no folder mode."""
    kind, _, rest = entry.partition(" ")
    if kind == "dir":
        return "dir 755"
    if kind != "file":
        return entry
    mode, _, digest = rest.partition(" ")
    return f"file {'755' if int(mode, 8) & 0o100 else '644'} {digest}"


def _outside(target: Target, root: Path) -> bool:
    top = root.resolve()
    paths = (target.context.resolve(), target.dockerfile.resolve())
    return not all(p.is_relative_to(top) for p in paths)


def _git(folder: Path, *args: str) -> str | None:
    """git's output, or None when it fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise UsageError(f"--changed-since needs git, which did not run: {exc}") from None
    return done.stdout.strip() if done.returncode == 0 else None


def _unknown(ref: str) -> UsageError:
    if ref.startswith("origin/"):
        fetch = f"git fetch --depth=1 origin {ref.removeprefix('origin/')}"
    else:
        fetch = f"git fetch --depth=1 origin {ref}, then pass --changed-since FETCH_HEAD"
    return UsageError(
        f"unknown git ref {ref!r}: no such commit in this checkout; fetch it "
        f"(CI checkouts are often shallow): {fetch}"
    )


def _export(root: Path, commit: str, dest: Path) -> None:
    """`git archive COMMIT` unpacked into dest: regular files, folders and symlinks only,
    nothing written outside dest."""
    with tempfile.TemporaryFile() as errors:
        with subprocess.Popen(
            ["git", "-C", str(root), "archive", "--format=tar", commit],
            stdout=subprocess.PIPE,
            stderr=errors,
        ) as proc:
            assert proc.stdout is not None
            try:
                _unpack(proc.stdout, dest)
                broken = ""
            except tarfile.TarError as exc:
                broken = str(exc)
        if proc.returncode != 0 or broken:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip() or broken
            raise UsageError(f"git archive {commit} failed: {message}")


def _unpack(stream: IO[bytes], dest: Path) -> None:
    top = dest.resolve()
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            path = dest.joinpath(*parts)
            if not parts or parts[0] == "/" or ".." in parts:
                raise UsageError(f"git archive gave an unsafe path: {member.name!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.parent.resolve().is_relative_to(top):  # through a symlink
                raise UsageError(f"git archive gave an unsafe path: {member.name!r}")
            if member.isdir():
                path.mkdir(exist_ok=True)
            elif member.issym():
                os.symlink(member.linkname, path)
            elif member.isfile() and (data := tar.extractfile(member)) is not None:
                mode = 0o755 if member.mode & 0o100 else 0o644
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                with os.fdopen(os.open(path, flags, mode), "wb") as out:
                    shutil.copyfileobj(data, out)
