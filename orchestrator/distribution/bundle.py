"""`stackbake bundle`: the selected tree as it is published, in one tar for a site with
no network: an OCI image layout holding every image (every platform, digests kept),
their cosign signatures and attestations (`sha256-<hex>.sig` / `.att`), the external
bases builds.lock pins, builds.lock itself, and `stackbake-bundle.json` with the
SHA-256 of every file in it. `bundle load` checks all of it before loading anything."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from orchestrator import __version__
from orchestrator.backend import skopeo
from orchestrator.backend.manifests import index_platforms, platform_of
from orchestrator.bases.lockfile import load_lock, lock_path
from orchestrator.bases.mirroring import destination
from orchestrator.distribution.record import MANIFEST, Bundled, BundleManifest, Made
from orchestrator.distribution.seal import sign_manifest, signing_of
from orchestrator.errors import EngineError, UsageError
from orchestrator.execution.at_once import each_at_once
from orchestrator.execution.cancel import CancelToken
from orchestrator.hierarchy.naming import image_names
from orchestrator.hierarchy.project import Project
from orchestrator.refs import parse_ref
from orchestrator.signing.cosign import check_signing
from orchestrator.spec.mirrors import mirrored

Say = Callable[[str], None]
LOOKUPS_AT_ONCE = 8
LOCK = "builds.lock"


def _wanted(project: Project, names: Sequence[str], bases: bool) -> list[tuple[str, str, str]]:
    """(target or "" for a base, the name it has in the bundle, where to copy it from):
    each target's first tag; each external base by the digest builds.lock pins."""
    spec, h = project.spec, project.hierarchy
    untagged = [n for n in names if not spec.targets[n].tags]
    if untagged:
        raise UsageError(
            f"{', '.join(untagged)}: no tags, so never pushed; a bundle holds what a registry "
            "has: give the target tags and run 'stackbake build --push'"
        )
    wanted = [(n, image_names(spec.targets[n])[0], image_names(spec.targets[n])[0]) for n in names]
    if not bases:
        return wanted
    locked = load_lock(lock_path(spec.path)).images
    seen: set[str] = set()
    for name in names:
        for base in h.externals.get(name, []):
            ref = parse_ref(base.normalized)
            if base.normalized in seen:
                continue
            seen.add(base.normalized)
            pin = locked.get(base.normalized)
            digest = ref.digest or (pin.digest if pin else None)
            at = mirrored(base.normalized, spec.mirrors)  # where builds take it from
            repository = parse_ref(at).repository if at else ref.repository
            source = f"{repository}@{digest}" if digest else (at or base.normalized)
            # Pinned by its own digest: named by it, so a tag another FROM names as the
            # lock pins it keeps its own entry (as a mirror copy is named).
            wanted.append(("", destination(base.normalized), source))
    return wanted


Found = tuple[Bundled, dict[str, object], str]  # the image, its manifest, where it is read


def _look(wanted: list[tuple[str, str, str]]) -> list[Found]:
    """Each wanted image's manifest, all looked up before anything is copied: one that
    the registry lacks is a usage error naming every missing one."""

    def one(item: tuple[str, str, str], cancel: CancelToken) -> Found | str:
        target, name, source = item
        try:
            manifest, digest = skopeo.raw_manifest(source, cancel)
        except skopeo.SkopeoError as exc:
            if not exc.not_found:
                raise
            what = f"{target}: {source}" if target else f"base {source}"
            fix = "build it with --push first" if target else "run 'stackbake lock'"
            return f"{what} is not in the registry ({fix})"
        entries = manifest.get("manifests")
        platforms = index_platforms(entries) if isinstance(entries, list) else {}
        if not isinstance(entries, list):
            platforms = {platform_of(skopeo.image_config(source, cancel)): digest}
        return Bundled(target, name, digest, platforms), manifest, source

    found = each_at_once(one, wanted, LOOKUPS_AT_ONCE)  # Ctrl-C stops every lookup
    missing = [f for f in found if isinstance(f, str)]
    if missing:
        raise UsageError("nothing was bundled: " + "; ".join(missing))
    return [f for f in found if not isinstance(f, str)]


def _cosign_tags(image: Bundled, manifest: dict[str, object]) -> tuple[str, ...]:
    """The cosign tags of the image's own digests (its index, each manifest it lists)
    that its repository has: signatures and attestations."""
    listed = manifest.get("manifests")
    digests = [image.digest]
    if isinstance(listed, list):
        digests += [str(m["digest"]) for m in listed if isinstance(m, dict)]
    mine = {f"sha256-{d.removeprefix('sha256:')}.{k}" for d in digests for k in ("sig", "att")}
    repository = parse_ref(image.ref).repository
    return tuple(sorted(t for t in skopeo.list_tags(repository) if t in mine))


def write_bundle(
    project: Project, names: Sequence[str], output: str, *, bases: bool, say: Say
) -> Made:
    started = time.monotonic()
    out = Path(output)
    if out.is_dir():
        raise UsageError(f"-o {output} is a folder: name the bundle file, e.g. {output}/tree.tar")
    if not out.absolute().parent.is_dir():
        raise UsageError(f"-o {output}: no folder {out.absolute().parent} to write it in")
    signer = signing_of([project.spec.targets[n] for n in names])
    signing = signer.sign if signer else None
    if signer is not None:  # its key and password there before anything is copied
        check_signing([signer], os.environ)
    looked = _look(_wanted(project, names, bases))
    with tempfile.TemporaryDirectory(prefix="stackbake-bundle-") as tmp:
        root = Path(tmp) / "layout"
        images = [_copy(root, found, say) for found in looked]
        lock = lock_path(project.spec.path)
        if lock.is_file():
            (root / LOCK).write_bytes(lock.read_bytes())
        manifest = BundleManifest.of(root, images, __version__)
        (root / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=1) + "\n")
        if signing is not None:
            sign_manifest(root / MANIFEST, signing)
        size = _tar(root, manifest, out, signed=signing is not None)
    return Made(out, tuple(images), len(manifest.blobs), size, time.monotonic() - started)


def _copy(root: Path, found: Found, say: Say) -> Bundled:
    """The image, every platform, then its signatures and attestations, into the layout
    under the names they have in their registry (a mirrored base: as the Dockerfile
    names it, read from its mirror)."""
    image, manifest, source = found
    at = f"{parse_ref(source).repository}@{image.digest}"  # a tag may move meanwhile
    skopeo.copy(f"docker://{at}", f"oci:{root}:{image.ref}")
    tags = _cosign_tags(image, manifest) if image.target else ()
    repository = parse_ref(image.ref).repository
    for tag in tags:
        skopeo.copy(f"docker://{repository}:{tag}", f"oci:{root}:{repository}:{tag}")
    done = image.with_cosign(tags)
    say(f"bundled {done.describe()}")
    return done


def _tar(root: Path, manifest: BundleManifest, out: Path, *, signed: bool) -> int:
    """The layout as an uncompressed tar (layers are compressed already), written
    under a temporary name and renamed: no half-written bundle under the final name.
    Its own manifest first, so a load reads it before the blobs."""
    partial = out.with_name(f".{out.name}.partial")
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for name in manifest.member_names(signed=signed):
                tar.add(root / name, arcname=name)
        partial.replace(out)
    except BaseException as exc:  # Ctrl-C too: no partial file left behind
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise EngineError(f"cannot write {out} ({exc.strerror or exc})") from None
        raise
    return out.stat().st_size
