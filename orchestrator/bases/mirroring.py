"""`stackbake mirror`: every external base of the spec that `mirrors:` covers, copied
into its mirror as its own registry has it now: every platform, by digest (the digest
unchanged, so the lock, build keys and signatures of the tree do not move because the
bases now come from elsewhere), then builds.lock updated to those digests.

The copy goes through skopeo (`copy --all --preserve-digests`); what a tag names is
looked up as the lock's resolution does (backend/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from orchestrator.backend import skopeo
from orchestrator.backend.registry import RegistryUnreachable, lookup_all
from orchestrator.bases.lockfile import Lock, LockedImage, load_lock, lock_path
from orchestrator.bases.resolution import BaseChange
from orchestrator.errors import EXIT_FAILED, EXIT_OK, UsageError, display_path
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.refs import parse_ref
from orchestrator.spec.mirrors import mirrored

EXAMPLE = "mirrors: {docker.io/library/*: registry.internal/mirror/library/*}"


def destination(at: str) -> str:
    """Where a copy is pushed: a tag is needed, so a base named by digest (`x:1@sha256:..`
    too) goes to the tag `sha256-<hex>`, never to its tag, which another FROM may name
    unpinned (a build pins it by digest all the same)."""
    ref = parse_ref(at)
    if ref.digest:  # never its tag: that names what the tag names, the lock's business
        return f"{ref.repository}:{ref.digest.replace(':', '-')}"
    return f"{ref.repository}:{ref.tag or 'latest'}"


def run_mirror(h: Hierarchy, stream: IO[str], *, dry_run: bool, environ: Mapping[str, str]) -> int:
    """Copy each covered base, report each, update the lock; exit 1 when one failed."""
    mirrors = h.spec.mirrors
    if not mirrors:
        raise UsageError(f"the spec has no mirrors: to copy the bases into; add one: {EXAMPLE}")
    bases = sorted({e.normalized for es in h.externals.values() for e in es})
    covered = {ref: at for ref in bases if (at := mirrored(ref, mirrors))}
    for ref in bases:
        if ref not in covered:
            stream.write(f"{ref}: no mirrors: entry covers it; not copied\n")
    try:
        found, failures = lookup_all(list(covered), environ), {}
    except RegistryUnreachable as exc:
        found, failures = exc.found, exc.failures
    lock = load_lock(lock_path(h.spec.path))
    images, changes = dict(lock.images), []
    for ref, at in covered.items():
        image = found.get(ref)
        if image is None:
            why = failures.get(ref, "not found in its registry (or not allowed: docker login)")
            stream.write(f"{ref}: {why}; not copied\n")
            failures.setdefault(ref, why)
            continue
        dest = destination(at)
        if not dry_run:
            try:
                skopeo.copy(
                    f"docker://{parse_ref(ref).repository}@{image.digest}", f"docker://{dest}"
                )
            except skopeo.SkopeoError as exc:
                stream.write(f"{ref}: {exc}\n")
                failures[ref] = str(exc)
                continue
        verb = "would copy" if dry_run else "copied"
        platforms = ", ".join(image.platforms) or "one platform"
        stream.write(f"{ref}: {verb} {image.digest[:19]} ({platforms}) to {dest}\n")
        if parse_ref(ref).digest is None:
            old = images.get(ref)
            if old is None or old.digest != image.digest:
                changes.append(BaseChange(ref, old.digest if old else None, image.digest))
            images[ref] = LockedImage(image.digest, dict(image.platforms))
    if changes and not dry_run:
        Lock(lock.path, images, lock.exists).save()
    for change in changes:
        said = "would change" if dry_run else "updated"
        stream.write(f"{display_path(lock.path)}: {said}: {change.render()}\n")
    copied = len(covered) - len(failures)
    stream.write(f"{copied} of {len(covered)} base(s) {'to copy' if dry_run else 'mirrored'}\n")
    return EXIT_FAILED if failures else EXIT_OK
