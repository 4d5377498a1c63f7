"""Resolving external bases to digests: `stackbake lock`, `refresh`, and the entries a
build finds missing from the lock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

from orchestrator.backend.base import Backend, RemoteImage
from orchestrator.backend.registry import RegistryUnreachable
from orchestrator.bases.lockfile import Lock, LockedImage, load_lock, lock_path
from orchestrator.errors import EXIT_FAILED, EXIT_OK, Problem, SpecError, display_path
from orchestrator.hierarchy.graph import ExternalBase, Hierarchy
from orchestrator.refs import normalize_platform, parse_ref
from orchestrator.spec.mirrors import mirrored
from orchestrator.spec.model import Mirror


@dataclass(frozen=True)
class BaseChange:
    ref: str  # normalized
    old: str | None  # None: not in the lock before
    new: str | None  # None: no longer used

    def render(self) -> str:
        if self.old is None:
            return f"{self.ref}: locked at {self.new}"
        if self.new is None:
            return f"{self.ref}: dropped (no target uses it)"
        return f"{self.ref}: {self.old} -> {self.new}"


@dataclass(frozen=True)
class Resolution:
    lock: Lock
    changes: list[BaseChange] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # not found, or registry unreachable
    unreachable: dict[str, str] = field(default_factory=dict)  # ref -> why no answer
    mirrors: dict[str, str] = field(default_factory=dict)  # ref -> its name at its mirror

    def why(self, ref: str, *, login: bool = False) -> str:
        """Why `ref` is unresolved."""
        if ref in self.unreachable:
            return f"its registry cannot be reached ({self.unreachable[ref]})"
        if ref in self.mirrors:
            return f"not found at its mirror {self.mirrors[ref]} ('stackbake mirror' copies it)"
        if login:
            return "not found in its registry (or not allowed: docker login)"
        return "not found in a registry"

    def changed_refs(self) -> set[str]:
        return {c.ref for c in self.changes if c.new is not None}


Uses = dict[str, list[tuple[str, ExternalBase]]]  # normalized ref -> (target, use)


def lockable(h: Hierarchy, names: Iterable[str]) -> Uses:
    """External bases of these targets that a tag names (a digest pins itself)."""
    out: Uses = {}
    for name in names:
        for base in h.externals.get(name, []):
            if parse_ref(base.ref).digest is None:
                out.setdefault(base.normalized, []).append((name, base))
    return dict(sorted(out.items()))


def affected(h: Hierarchy, names: Iterable[str], refs: set[str]) -> list[str]:
    """The targets among `names` that build on one of these external bases."""
    return [n for n in names if any(b.normalized in refs for b in h.externals.get(n, []))]


def resolve(
    h: Hierarchy,
    backend: Backend,
    lock: Lock,
    names: list[str],
    *,
    everything: bool,
) -> Resolution:
    """Resolve the lockable bases of `names` in their registries: all of them
    (`everything`: lock, refresh; unused entries dropped) or only those missing from
    the lock (a build). Platforms a target builds that the base lacks are refused
    here, with the Dockerfile line, rather than in the middle of a build."""
    bases = lockable(h, names)
    wanted = list(bases) if everything else [r for r in bases if r not in lock.images]
    found, unreachable = _look_up(backend, wanted, h.spec.mirrors)
    images = dict(lock.images)
    changes = []
    for ref in wanted:
        if ref in found:
            new = LockedImage(found[ref].digest, dict(found[ref].platforms))
            old = lock.images.get(ref)
            if old is None or old.digest != new.digest:
                changes.append(BaseChange(ref, old.digest if old else None, new.digest))
            images[ref] = new
    if everything:
        for ref in sorted(set(images) - set(bases)):
            changes.append(BaseChange(ref, images.pop(ref).digest, None))
    _check_platforms(h, bases, images)
    unresolved = [r for r in wanted if r not in found]
    at = {r: m for r in wanted if (m := mirrored(r, h.spec.mirrors))}
    return Resolution(Lock(lock.path, images, lock.exists), changes, unresolved, unreachable, at)


def _look_up(
    backend: Backend, refs: list[str], mirrors: Sequence[Mirror]
) -> tuple[dict[str, RemoteImage], dict[str, str]]:
    """(what each base names, why a registry did not answer): a mirrored base asked for
    at its mirror (`mirrors:`), the answers keyed by the name the Dockerfile writes."""
    at = {ref: mirrored(ref, mirrors) or ref for ref in refs}
    try:
        answers = backend.lookup(list(dict.fromkeys(at.values())))
        failures: dict[str, str] = {}
    except RegistryUnreachable as exc:  # those bases stay as they are: said so
        answers, failures = exc.found, exc.failures
    found = {ref: answers[name] for ref, name in at.items() if name in answers}
    return found, {ref: failures[name] for ref, name in at.items() if name in failures}


def _check_platforms(h: Hierarchy, bases: Uses, images: dict[str, LockedImage]) -> None:
    problems = []
    for ref, uses in bases.items():
        have = images[ref].platforms if ref in images else {}
        if not have:
            continue
        for user, use in uses:
            offered = {normalize_platform(p) for p in have}
            wanted = h.spec.targets[user].platforms
            lacking = [p for p in wanted if normalize_platform(p) not in offered]
            if lacking and use.origin.base:
                problems.append(
                    Problem(
                        use.origin.file,
                        use.origin.line,
                        None,
                        "",
                        f"{use.origin.detail}: {ref} has no {', '.join(lacking)} image "
                        f"(it has {', '.join(have)}); target {user!r} builds for it: "
                        "change the target's platforms or its base",
                    )
                )
    if problems:
        raise SpecError(problems)


def complete_lock(h: Hierarchy, backend: Backend, names: list[str], stream: IO[str]) -> Lock:
    """builds.lock, with the bases of `names` missing from it resolved now, recorded in it
    and reported (as cargo does for a new dependency); one no registry knows (an image
    loaded offline) is used as the engine has it, and said so."""
    lock = load_lock(lock_path(h.spec.path))
    done = resolve(h, backend, lock, names, everything=False)
    if done.changes:
        done.lock.save()
    for change in done.changes:
        stream.write(f"{display_path(lock.path)}: {change.render()}\n")
    for ref in done.unresolved:
        why = done.why(ref)
        stream.write(f"{ref}: {why}; not pinned, used as the engine has it\n")
    return done.lock


def resolve_all(h: Hierarchy, backend: Backend, stream: IO[str]) -> Resolution:
    """Every external base resolved again (`lock`, `refresh`), with what changed."""
    lock = load_lock(lock_path(h.spec.path))
    done = resolve(h, backend, lock, list(h.spec.targets), everything=True)
    n, moved = len(done.lock.images), [c for c in done.changes if c.old and c.new]
    stream.write(
        f"{display_path(lock.path)}: {n} base{'s' * (n != 1)} resolved, {len(moved)} changed\n"
    )
    for change in done.changes:
        stream.write(f"  {change.render()}\n")
    uses = lockable(h, list(h.spec.targets))
    for ref in done.unresolved:
        where = ", ".join(f"{u.origin.describe(h.spec.folder)}" for _, u in uses[ref])
        why = done.why(ref, login=True)
        stream.write(f"  {ref}: {why}, left unlocked; used by {where}\n")
    return done


def run_lock(h: Hierarchy, backend: Backend, *, stream: IO[str]) -> int:
    """`stackbake lock`: resolve every external base and write the lock; exit 1 when one
    could not be."""
    done = resolve_all(h, backend, stream)
    if done.changes or not done.lock.exists:
        done.lock.save()
    return EXIT_FAILED if done.unresolved else EXIT_OK
