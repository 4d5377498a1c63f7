"""`stackbake publish`: the release tags of a whole selection moved at once, from what
shards and per-platform builds pushed under their key tags.

1. find: each target's image of its current key, whole (`REPO:key-<key>`), or else one
   image per platform, each under the key of that platform's build; a platform the
   target asks for and nobody pushed makes the target incomplete, named.
2. refuse: with one target incomplete (or built on an incomplete one), nothing moves
   (`--partial`: everything else that is complete moves), and the targets held back
   are named.
3. move: every target's per-platform images merged into one index under its whole key
   tag first (key tags only: nothing a user pulls changes), a signed target's index
   signed (its platforms were signed and attested when pushed), then the release tags
   copied from it, registry side, parents first, stopping at the first that fails (and
   saying what moved). Targets already published are left as they are, so a publish run
   again after a fix does only what is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

from orchestrator.backend.base import Backend, RemoteImage
from orchestrator.bases.resolution import complete_lock
from orchestrator.build.options import OutputMode
from orchestrator.build.plan import check_outputs
from orchestrator.build.sealing import Sealer
from orchestrator.errors import EXIT_FAILED, EXIT_OK
from orchestrator.execution.cancel import CancelToken
from orchestrator.freshness.keys import HashCache, compute_keys
from orchestrator.hierarchy.naming import image_names, key_tag, registry_pin
from orchestrator.hierarchy.project import Project
from orchestrator.hierarchy.restrict import restrict_platforms
from orchestrator.hierarchy.selection import select
from orchestrator.refs import normalize_platform
from orchestrator.spec.model import Target
from orchestrator.state import StateDir


@dataclass
class Found:
    """Where a target's image of its current key is, or what is missing."""

    whole: str  # REPO:key-<key>
    digest: str | None = None  # the whole image's, when it exists
    parts: dict[str, str] = field(default_factory=dict)  # platform -> REPO@DIGEST
    missing: list[str] = field(default_factory=list)  # platforms nobody pushed

    @property
    def complete(self) -> bool:
        return self.digest is not None or (bool(self.parts) and not self.missing)


def find(
    project: Project, selected: list[str], backend: Backend, state: StateDir, stream: IO[str]
) -> dict[str, Found]:
    h = project.hierarchy
    locked = complete_lock(h, backend, selected, stream).digests()
    cache = HashCache.of(state)
    keys = {n: i.key for n, i in compute_keys(h, selected, cache, locked).items()}
    platforms = sorted({p for n in selected for p in h.spec.targets[n].platforms})
    per: dict[str, dict[str, str]] = {}  # platform -> target -> key of that build
    for platform in platforms:
        cut = restrict_platforms(project, [platform])
        names = [n for n in selected if n in cut.spec.targets]
        per[platform] = {
            n: i.key for n, i in compute_keys(cut.hierarchy, names, cache, locked).items()
        }
    refs = {n: {"": key_tag(h.spec.targets[n], keys[n])} for n in selected}
    for platform, of in per.items():
        for name, key in of.items():
            if name in refs:
                refs[name][platform] = key_tag(h.spec.targets[name], key)
    found = backend.lookup([r for n in selected for r in refs[n].values()])
    return {n: _found(project, n, refs[n], found) for n in selected}


def _found(
    project: Project, name: str, refs: Mapping[str, str], found: Mapping[str, RemoteImage]
) -> Found:
    target = project.spec.targets[name]
    out = Found(refs[""])
    whole = found.get(refs[""])
    wanted = [normalize_platform(p) for p in target.platforms]
    have = {normalize_platform(p) for p in whole.platforms} if whole else set()
    if whole is not None and (not have or set(wanted) <= have):
        out.digest = whole.digest
        return out
    for platform in target.platforms:
        image = found.get(refs.get(platform, ""))
        if image is None:
            out.missing.append(platform)
        else:
            out.parts[platform] = registry_pin(target, image.digest)
    return out  # a target without `platforms` has no per-platform builds


def run_publish(
    project: Project,
    targets: list[str],
    backend: Backend,
    *,
    partial: bool,
    stream: IO[str],
    move: bool = True,
) -> int:
    """Find, refuse, move (see the module docstring). `move` False: the indexes are
    merged under their key tags, and no release tag moves (a farm without --push)."""
    h = project.hierarchy
    selected = select(h, targets)
    check_outputs(h, selected, OutputMode(push=True))
    state = StateDir(project.spec.folder)
    found = find(project, selected, backend, state, stream)
    held: dict[str, str] = {}  # target -> why it is not published
    for name in selected:  # parents first
        f = found[name]
        gone = [p for p in h.parents(name) if p in held]
        if not f.complete:
            on = f" on {', '.join(f.missing)}" if f.missing else ""
            held[name] = f"not in the registry under its key{on}"
        elif gone:
            held[name] = f"builds on {', '.join(gone)}, which is not published"
    ready = [n for n in selected if n not in held]
    for name, why in held.items():
        stream.write(f"{name}: {why}\n")
    if held and not partial:
        if ready:
            stream.write(f"held back (complete, but every target must be): {', '.join(ready)}\n")
        stream.write("publish: nothing moved; build what is missing, then run publish again\n")
        return EXIT_FAILED
    if not all(_merged(n, found[n], backend, stream) for n in ready):
        stream.write("publish: nothing moved; run publish again\n")
        return EXIT_FAILED
    if not move:
        for name in ready:
            stream.write(f"{name}: {found[name].whole}\n")
        stream.write("no release tag moved (without --push); stackbake publish moves them\n")
        return EXIT_FAILED if held else EXIT_OK
    for index, name in enumerate(ready):  # parents first: a child never moves alone
        if not _move(project, name, found[name], backend, stream):
            moved, left = ready[:index], ready[index + 1 :]
            stream.write(
                f"publish: stopped at {name}; moved before it: {', '.join(moved) or 'none'}; "
                f"not moved: {', '.join(left) or 'none'}; run publish again\n"
            )
            return EXIT_FAILED
    return EXIT_FAILED if held else EXIT_OK


def _quiet(text: str) -> None:
    """imagetools' progress: its failures say enough."""


def _merged(name: str, f: Found, backend: Backend, stream: IO[str]) -> bool:
    """The whole key tag, made from the per-platform images where it is missing: only
    key tags, so nothing a user pulls has changed yet."""
    if f.digest is not None:
        return True
    merged = backend.merge(list(f.parts.values()), f.whole, _quiet, CancelToken())
    if not merged.ok:
        stream.write(f"{name}: merging {', '.join(f.parts)} failed: {merged.reason}\n")
    return merged.ok


def _signed(
    target: Target, f: Found, digest: str | None, backend: Backend, stream: IO[str]
) -> bool:
    """A signed target's whole image (the index merged from its platforms, each signed
    and attested by the run that pushed it) signed by digest before a release tag moves,
    in each repository its tags are in (the SBOMs are attested in the first only)."""
    if target.sign is None or digest is None:
        return True
    sealed = Sealer(backend, target, {}, f.whole)
    signed = sealed(registry_pin(target, digest), _quiet, CancelToken())
    if not signed.ok:
        stream.write(f"{target.name}: {signed.reason}\n")
    return signed.ok


def _move(project: Project, name: str, f: Found, backend: Backend, stream: IO[str]) -> bool:
    """The target's release tags onto the image of its whole key tag."""
    tags = list(image_names(project.spec.targets[name]))
    current = backend.lookup([f.whole, *tags])
    digest = current[f.whole].digest if f.whole in current else f.digest
    moving = [t for t in tags if t not in current or current[t].digest != digest]
    if moving and not _signed(project.spec.targets[name], f, digest, backend, stream):
        return False
    if moving:
        copied = backend.copy(f.whole, moving, _quiet, CancelToken())
        if not copied.ok:
            stream.write(f"{name}: moving {', '.join(moving)} failed: {copied.reason}\n")
            return False
    shown = ", ".join(moving) if moving else "already there"
    stream.write(f"published {name}: {shown} ({digest})\n")
    return True
