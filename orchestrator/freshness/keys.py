"""Build keys: a hash over everything that makes a target's image what it is.

A key covers the context files BuildKit would send (after `.dockerignore`), the
Dockerfile, the build stage and test stage, args, spec labels, platforms, secret
*ids*, ssh ids, network, the keys of its parents (so a change flows down the tree,
Merkle style) and the pinned digests of its external bases. Per-run values (the
`created` label, the run's git revision) are not inputs. Files are hashed once: a
stat cache remembers (size, mtime_ns, inode) -> digest in `.stackbake/`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.freshness.context import Matcher, ignore_file, read_ignore, walk
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.spec.model import Target
from orchestrator.state import StateDir

KEY_VERSION = 1
KEY_LABEL = "stackbake.key"  # the label that says which key an image was built for


@dataclass
class HashCache:
    """File digests by (size, mtime_ns, inode), so an unchanged tree is not re-read;
    kept in the state folder when it has one (`of`)."""

    entries: dict[str, list[Any]] = field(default_factory=dict)
    state: StateDir | None = None  # None: a throwaway cache, never saved
    dirty: bool = False

    @classmethod
    def of(cls, state: StateDir) -> HashCache:
        return cls(state.hashes(), state)

    def digest(self, file: Path, st: os.stat_result) -> str:
        return self._digest(str(file), st)

    def _digest(self, name: str, st: os.stat_result) -> str:
        """`digest` of the file whose path is `name`: no Path object per file."""
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        known = self.entries.get(name)
        if known and known[:3] == stamp:
            return str(known[3])
        sha = hashlib.sha256()
        with open(name, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                sha.update(chunk)
        self.entries[name] = [*stamp, sha.hexdigest()]
        self.dirty = True
        return sha.hexdigest()

    def save(self) -> None:
        if self.dirty and self.state is not None:
            self.state.save_hashes(self.entries)
            self.dirty = False


@dataclass(frozen=True)
class KeyInputs:
    """What went into one key, kept so a later run can say what changed."""

    files: Mapping[str, str]  # context path -> "file 644 <sha256>", "dir 755", "symlink -> x"
    fields: Mapping[str, Any]  # dockerfile digest, stages, args, labels, platforms...
    parents: Mapping[str, str]  # parent target -> its key
    bases: Mapping[str, str]  # external image -> pinned digest ("" when not pinned)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": KEY_VERSION,
            "files": dict(self.files),
            "fields": dict(self.fields),
            "parents": dict(self.parents),
            "bases": dict(self.bases),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyInputs:
        return cls(data["files"], data["fields"], data["parents"], data["bases"])

    @property
    def key(self) -> str:
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def context_files(context: Path, found: Path | None, cache: HashCache) -> dict[str, str]:
    """What BuildKit would send of `context` with its ignore file (`found`, as ignore_file
    gives it): each path with its kind, mode and (files) digest."""
    patterns = read_ignore(found.read_text(encoding="utf-8")) if found else []
    # str(context / entry.path), without a Path per entry (Path(".") / "a" is "a").
    root = "" if str(context) == "." else os.path.join(context, "")
    files = {}
    for entry in walk(context, Matcher.of(patterns)):
        if entry.kind == "file":
            digest = cache._digest(root + entry.path, entry.st)
            files[entry.path] = f"file {entry.mode:o} {digest}"
        elif entry.kind == "symlink":
            files[entry.path] = f"symlink -> {os.readlink(root + entry.path)}"
        else:
            files[entry.path] = f"{entry.kind} {entry.mode:o}"
    return files


@functools.lru_cache(maxsize=1024)
def _last_commit(context: Path, dockerfile: Path) -> int:
    """When the last commit that touched these paths was made (0 outside git)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(context), "log", "-1", "--format=%ct", "--", ".", str(dockerfile)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 0
    return int(out) if out.isdigit() else 0


def source_date_epoch(target: Target) -> int | None:
    """The SOURCE_DATE_EPOCH of a reproducible target: its fixed epoch, else the time of
    the last commit that touched its context or Dockerfile; None when not reproducible."""
    if not target.reproducible:
        return None
    return (
        target.epoch
        if target.epoch is not None
        else _last_commit(target.context, target.dockerfile)
    )


def target_fields(target: Target, cache: HashCache) -> dict[str, Any]:
    epoch = source_date_epoch(target)
    reproducible = {} if epoch is None else {"source_date_epoch": epoch}  # keys stay as they were
    return reproducible | {
        "dockerfile": cache.digest(target.dockerfile, target.dockerfile.stat()),
        "target": target.stage,
        "test": target.test,
        "args": dict(sorted(target.args.items())),
        "labels": dict(sorted(target.labels.items())),
        "platforms": sorted(target.platforms),
        "secrets": sorted(s.id for s in target.secrets),
        "ssh": sorted(s.split("=", 1)[0] for s in target.ssh),
        "network": target.network,
    }


def compute_keys(
    h: Hierarchy, names: list[str], cache: HashCache, locked: Mapping[str, str] | None = None
) -> dict[str, KeyInputs]:
    """Inputs (and so keys) of `names` and everything they build on, parents first."""
    # `names` and their ancestors (nx.ancestors of each, in one walk up the graph; an
    # unknown name raises NetworkXError as nx.ancestors does).
    wanted = set(names)
    todo = list(names)[::-1]
    while todo:
        for parent in h.dag.predecessors(todo.pop()):
            if parent not in wanted:
                wanted.add(parent)
                todo.append(parent)
    out: dict[str, KeyInputs] = {}
    keys: dict[str, str] = {}  # each parent's key, computed once
    # Targets sharing a context (and its ignore file) send the same files: walk it once.
    walked: dict[tuple[Path, Path | None], dict[str, str]] = {}
    for name in h.order(list(wanted)):
        target = h.spec.targets[name]
        bases = {
            e.normalized: (locked or {}).get(e.normalized, "") for e in h.externals.get(name, [])
        }
        found = ignore_file(target.context, target.dockerfile)
        if (target.context, found) not in walked:
            walked[target.context, found] = context_files(target.context, found, cache)
        parents = {}
        for p in h.parents(name):
            if p not in keys:
                keys[p] = out[p].key
            parents[p] = keys[p]
        out[name] = KeyInputs(
            files=dict(walked[target.context, found]),
            fields=target_fields(target, cache),
            parents=parents,
            bases=dict(sorted(bases.items())),
        )
    cache.save()
    return out


def explain(now: KeyInputs, before: KeyInputs | None) -> list[str]:
    """Why a key differs from the last recorded build, one reason per change."""
    if before is None:
        return ["never built"]
    reasons = []
    for path in sorted(set(now.files) | set(before.files)):
        old, new = before.files.get(path), now.files.get(path)
        if old is None:
            reasons.append(f"file added: {path}")
        elif new is None:
            reasons.append(f"file removed: {path}")
        elif old != new:
            reasons.append(f"file modified: {path}")
    for name in sorted(set(now.fields) | set(before.fields)):
        if now.fields.get(name) != before.fields.get(name):
            detail = _field_change(name, before.fields.get(name), now.fields.get(name))
            reasons.append(f"{name} changed{detail}")
    for parent in sorted(set(now.parents) | set(before.parents)):
        if now.parents.get(parent) != before.parents.get(parent):
            reasons.append(f"parent {parent} changed")
    for base in sorted(set(now.bases) | set(before.bases)):
        if now.bases.get(base) != before.bases.get(base):
            old, new = before.bases.get(base) or "-", now.bases.get(base) or "-"
            reasons.append(f"base {base} changed: {old} -> {new}")
    return reasons


def _field_change(name: str, old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return f": {', '.join(keys)}"
    if name == "dockerfile":
        return ""
    return f": {old!r} -> {new!r}"
