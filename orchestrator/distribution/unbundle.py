"""`stackbake bundle load`: a bundle checked whole (unpack.py; with a public key its
signatures too, trust.py), and only then loaded: into a registry (every image, then its
signatures and attestations, digests unchanged, so they still verify there) or into
the engine's store (every platform of every image; no registry needed)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestrator.backend import skopeo
from orchestrator.backend.process import terminate
from orchestrator.distribution.layout import Entry, entries
from orchestrator.distribution.record import MANIFEST
from orchestrator.distribution.seal import manifest_verified
from orchestrator.distribution.trust import refused, verify_signatures
from orchestrator.distribution.unpack import BundleRefused, unpack
from orchestrator.errors import EngineError, UsageError, display_path
from orchestrator.execution.at_once import each_at_once
from orchestrator.execution.cancel import CancelToken
from orchestrator.refs import BadReference, parse_ref

Say = Callable[[str], None]
COPIES_AT_ONCE = 4  # to a registry: measured against 1 and 8 (README, bundle load)


@dataclass(frozen=True)
class Loaded:
    bundle: Path
    where: str
    images: int
    cosign: int  # signatures and attestations copied
    blobs: int
    size: int
    verified: str  # the public key the signatures were verified with, or ""
    seconds: float

    def summary(self) -> str:
        checked = f"checked {self.blobs} blobs ({self.size / 1e6:.1f} MB)"
        if self.verified:
            checked += f" and the signatures with {self.verified}"
        extra = f" and {self.cosign} signature(s)/attestation(s)" if self.cosign else ""
        return (
            f"loaded {self.images} image(s){extra} from {display_path(self.bundle)} into "
            f"{self.where} in {self.seconds:.1f} s; {checked}"
        )


def moved(ref: str, registry: str) -> str:
    """`localhost:5000/acme/app:1.2` pushed to `registry.site:5000/mirror`:
    `registry.site:5000/mirror/acme/app:1.2` (the path kept, the host replaced)."""
    parsed = parse_ref(ref)
    return f"{registry.rstrip('/')}/{parsed.path}:{parsed.tag}"


def load_bundle(bundle: str, *, registry: str | None, public_key: str | None, say: Say) -> Loaded:
    started, path = time.monotonic(), Path(bundle)
    if registry is not None:
        try:
            parse_ref(f"{registry.rstrip('/')}/x:y")
        except BadReference:
            raise UsageError(f"--to {registry}: not a registry (host[:port][/path])") from None
    if public_key is not None and not Path(public_key).is_file():
        raise UsageError(f"--key {public_key}: no such file (the public key, cosign.pub)")
    with tempfile.TemporaryDirectory(prefix="stackbake-load-") as tmp:
        root = Path(tmp)
        manifest = unpack(path, root)
        say(f"checked {len(manifest.blobs)} blobs and {len(manifest.files)} files of {bundle}")
        if public_key is not None:
            unsigned = manifest_verified(root, root / MANIFEST, public_key)
            if unsigned:
                raise BundleRefused(path, unsigned)
            problems = verify_signatures(root, manifest, public_key)
            if problems:
                raise BundleRefused(path, refused(problems))
            say(
                f"verified the signatures of {sum(bool(i.target) for i in manifest.images)} "
                f"target image(s) with {public_key}"
            )
        named = entries(json.loads((root / "index.json").read_bytes()))
        images = [e for e in named if e.cosign is None]
        cosign = [e for e in named if e.cosign is not None]
        if registry is not None:
            _to_registry(root, (images, cosign), registry, say)
            where, copied = registry, len(cosign)
        else:
            _to_engine(root, images, say)
            where, copied = f"the engine ({os.environ.get('DOCKER_HOST', 'default')})", 0
    size = sum(manifest.blobs.values())
    took = time.monotonic() - started
    return Loaded(
        path, where, len(images), copied, len(manifest.blobs), size, public_key or "", took
    )


def _to_registry(
    root: Path, groups: tuple[list[Entry], list[Entry]], registry: str, say: Say
) -> None:
    """The images, then their signatures and attestations (each after the image it
    names), a few copies at once: each is one small skopeo run, mostly waiting."""
    lock, pushed = threading.Lock(), [0]

    def push(entry: Entry, token: CancelToken) -> None:
        dest = moved(entry.ref, registry)
        skopeo.copy(f"oci:{root}:{entry.ref}", f"docker://{dest}", cancel=token)
        if entry.cosign is None:
            with lock:
                pushed[0] += 1
                say(f"pushed {dest} ({entry.digest[:19]})")

    try:
        for group in groups:
            each_at_once(push, group, COPIES_AT_ONCE)
    except KeyboardInterrupt:
        say(
            f"interrupted: {pushed[0]} of {len(groups[0])} image(s) pushed to {registry}; "
            "load again for the rest (what is there already is not sent again)"
        )
        raise


def _to_engine(root: Path, images: list[Entry], say: Say) -> None:
    """`docker load` of a layout that lists the images only (cosign's `.sig`/`.att`
    images are no images to run), streamed into its standard input as it is written.
    Driven directly: python-on-whales' load takes a file or bytes, not a stream being
    written, and a filtered copy of the bundle would double its size on disk."""
    index = json.loads((root / "index.json").read_bytes())
    wanted = {e.digest for e in images}
    index["manifests"] = [m for m in index["manifests"] if m["digest"] in wanted]
    (root / "engine-index.json").write_text(json.dumps(index))
    # Its output to files, not pipes: nothing it writes can block it while it reads.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                ["docker", "load"],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:
            raise EngineError(f"cannot run the docker client ({exc.strerror or exc})") from None
        assert proc.stdin is not None
        try:
            # A BrokenPipeError: docker load gave up, and its error is read below.
            with (
                contextlib.suppress(BrokenPipeError),
                proc.stdin,
                tarfile.open(fileobj=proc.stdin, mode="w|") as tar,
            ):
                tar.add(root / "oci-layout", arcname="oci-layout")
                tar.add(root / "engine-index.json", arcname="index.json")
                tar.add(root / "blobs", arcname="blobs")
            code = proc.wait()
        except BaseException:  # Ctrl-C: docker load is in a session of its own
            terminate(proc)
            raise
        said, errors = (_read(f) for f in (out, err))
    if code != 0:
        last = (errors.strip().splitlines() or ["failed"])[-1]
        raise EngineError(f"docker load of the bundle's images failed: {last}")
    loaded = {
        ln.split(":", 1)[1].strip() for ln in said.splitlines() if ln.startswith("Loaded image")
    }
    missing = [e.ref for e in images if e.ref not in loaded]
    if missing:
        raise EngineError(f"docker load did not load {', '.join(missing)}")
    for entry in images:
        say(f"loaded {entry.ref} ({entry.digest[:19]})")


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode("utf-8", "replace")
