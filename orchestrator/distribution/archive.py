"""`stackbake archive TARGETS --to DIR [--remove]`: each target's local image, every
platform the engine's store has, to `DIR/TARGET-TAG.tar` with a JSON record beside it.

Every target's image is looked up before anything is written: one missing, or an
archive in DIR that holds another image under the same name, and nothing is archived.
Each archive is written under a temporary name, hashed as it is written, read back
whole (`archive_file.verify_archive`), and only then renamed and recorded; `--remove`
then removes the target's own names from the store, those still naming that image.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from orchestrator import __version__
from orchestrator.atomic import as_created
from orchestrator.distribution.archive_file import (
    Record,
    Verified,
    record_path,
    recorded_digest,
    verify_archive,
)
from orchestrator.errors import EngineError, UsageError, display_path
from orchestrator.hierarchy.naming import image_names
from orchestrator.hierarchy.project import Project
from orchestrator.refs import normalize_platform, parse_ref

Say = Callable[[str], None]


class Store(Protocol):
    """The engine's image store, as archiving needs it."""

    def digests(self, refs: Sequence[str]) -> Mapping[str, str | None]:
        """Each reference's image digest (the image ID: its index), None if absent."""

    def save(self, refs: Sequence[str], out: BinaryIO) -> str:
        """Write `docker save REFS...` to `out`; the SHA-256 (hex) of what was written."""

    def remove(self, refs: Sequence[str]) -> None:
        """Remove these names from the store (the image goes with its last name)."""


@dataclass(frozen=True)
class Wanted:
    """One target's archive, planned before anything is written."""

    target: str
    refs: tuple[str, ...]  # the target's names that name the image; the first is its name
    digest: str
    path: Path
    platforms: tuple[str, ...]  # what the spec builds (empty: the engine's platform)


@dataclass(frozen=True)
class Archived:
    record: Record
    seconds: float
    removed: tuple[str, ...]

    def line(self, wanted: Sequence[str]) -> str:
        r = self.record
        have = {normalize_platform(p) for p in r.platforms}
        missing = [p for p in wanted if normalize_platform(p) not in have]
        note = f" (not in the store: {', '.join(missing)})" if missing else ""
        return (
            f"archived {r.target}: {display_path(r.path)}, {r.size / 1e6:.1f} MB, "
            f"sha256 {r.sha256[:12]}, {' '.join(r.platforms)}{note}, {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class Done:
    folder: Path
    archives: tuple[Archived, ...]
    seconds: float

    def summary(self) -> str:
        size = sum(a.record.size for a in self.archives) / 1e6
        n = len(self.archives)
        removed = sum(len(a.removed) for a in self.archives)
        tail = f"; {removed} local tag{'s' * (removed != 1)} removed" if removed else ""
        return (
            f"{n} archive{'s' * (n != 1)} in {display_path(self.folder)}: {size:.1f} MB "
            f"in {self.seconds:.1f} s, each verified{tail}"
        )


def file_name(ref: str, target: str) -> str:
    """`TARGET-TAG.tar`: a target name and a tag are both [A-Za-z0-9_.-] only."""
    return f"{target}-{parse_ref(ref).tag or 'latest'}.tar"


def plan(project: Project, names: Sequence[str], folder: Path, store: Store) -> list[Wanted]:
    """Every target's archive, or UsageError naming every target that cannot be
    archived (its image not in the store, another image's archive in the way)."""
    targets = {n: project.spec.targets[n] for n in names}
    refs = {n: image_names(t) for n, t in targets.items()}
    found = store.digests([r for rs in refs.values() for r in rs])
    problems: list[str] = []
    wanted: list[Wanted] = []
    for name, names_of in refs.items():
        digest = found.get(names_of[0])
        if digest is None:
            problems.append(
                f"{name}: {names_of[0]} is not in the engine's image store "
                f"(build it first: stackbake build {name})"
            )
            continue
        path = folder.absolute() / file_name(names_of[0], name)
        recorded = recorded_digest(path)
        if recorded not in (None, digest):
            what = f"its record names {recorded}" if recorded else "its record cannot be read"
            problems.append(
                f"{name}: {display_path(path)} already holds another image ({what}); "
                "move it away or archive to another folder"
            )
        other = next((w.target for w in wanted if w.path == path), None)
        if other is not None:
            problems.append(
                f"{name}: its archive {display_path(path)} would be {other}'s too; archive "
                "them to different folders"
            )
        same = tuple(r for r in names_of if found.get(r) == digest)
        wanted.append(Wanted(name, same, digest, path, targets[name].platforms))
    if problems:
        raise UsageError("nothing was archived: " + "; ".join(problems))
    return wanted


def archive_one(wanted: Wanted, store: Store, *, remove: bool) -> Archived:
    """Save, read back, rename, record; then, with `remove`, the target's names."""
    started = time.monotonic()
    checked = _written(wanted, store)
    ref = parse_ref(wanted.refs[0])
    record = Record(
        wanted.target,
        ref.repository,
        ref.tag or "latest",
        wanted.refs,
        wanted.digest,
        checked.platforms,
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        wanted.path,
        checked.sha256,
        checked.size,
        __version__,
    )
    try:
        record.write()
    except BaseException as exc:  # never an archive without its record
        wanted.path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _unwritable(record_path(record.path), exc) from None
        raise
    removed = _remove(wanted, store) if remove else ()
    return Archived(record, time.monotonic() - started, removed)


def _written(wanted: Wanted, store: Store) -> Verified:
    """The archive saved under a temporary name beside its own, read back, renamed."""
    try:
        fd, tmp = tempfile.mkstemp(
            dir=wanted.path.parent, prefix=f".{wanted.path.name}.", suffix=".partial"
        )
    except OSError as exc:
        raise _unwritable(wanted.path, exc) from None
    partial = Path(tmp)
    try:
        as_created(fd)
        with os.fdopen(fd, "wb") as out:
            written = store.save(wanted.refs, out)
            out.flush()
            os.fsync(out.fileno())
            _uncache(out.fileno())
        checked = verify_archive(
            partial, wanted.digest, wanted.refs, written=written, shown=wanted.path
        )
        os.replace(partial, wanted.path)
    except BaseException as exc:  # Ctrl-C too: no half-written archive, not even a hidden one
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _unwritable(wanted.path, exc) from None
        raise
    return checked


def _unwritable(path: Path, exc: OSError) -> EngineError:
    return EngineError(f"cannot write {display_path(path)} ({exc.strerror or exc})")


def _uncache(fd: int) -> None:
    """Drop the file's pages from the page cache, so reading it back reads the disk."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _remove(wanted: Wanted, store: Store) -> tuple[str, ...]:
    """The archived names still naming the archived image (one rebuilt meanwhile stays)."""
    now = store.digests(wanted.refs)
    still = tuple(r for r in wanted.refs if now.get(r) == wanted.digest)
    if still:
        try:
            store.remove(still)
        except EngineError as exc:
            raise EngineError(
                f"{wanted.target}: archived and verified in {display_path(wanted.path)}, "
                f"but removing {', '.join(still)} failed: {exc}"
            ) from None
    return still


def archive_targets(
    project: Project, names: Sequence[str], folder: Path, *, remove: bool, store: Store, say: Say
) -> Done:
    """Every named target archived in `folder`, in order, each said as it is done."""
    started = time.monotonic()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--to {folder}: is not a folder")
    wanted = plan(project, names, folder, store)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--to {folder}: cannot create it ({exc.strerror or exc})") from None
    done = []
    for one in wanted:
        archived = archive_one(one, store, remove=remove)
        say(archived.line(one.platforms))
        if archived.removed:
            say(f"removed {one.target}: {', '.join(archived.removed)} (from the local store)")
        done.append(archived)
    return Done(folder, tuple(done), time.monotonic() - started)
