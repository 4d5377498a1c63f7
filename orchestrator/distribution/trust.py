"""A bundle's signatures checked with a public key and no registry: each target image's
index and every platform manifest must carry a cosign signature (its `.sig` image, in
the bundle) that the key verifies and whose signed payload names that very digest.

cosign checks the signature itself (`cosign verify-blob` on the simple-signing
payload, which is a blob of the bundle, already checksummed); stackbake only reads
which digest the payload names."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from orchestrator.backend.tools import need_tool
from orchestrator.distribution.layout import Entry, blob_path, entries, read_json
from orchestrator.distribution.record import BundleManifest
from orchestrator.refs import parse_ref
from orchestrator.signing.commands import shown_key, verify_blob_argv

SIGNATURE = "dev.cosignproject.cosign/signature"
CHECKS_AT_ONCE = 4


def verify_signatures(root: Path, manifest: BundleManifest, public_key: str) -> list[str]:
    """Every problem found (none: all verified). Bases are not the spec's to sign."""
    cosign = need_tool("cosign", "verifying a bundle's signatures")
    index = json.loads((root / "index.json").read_bytes())
    signatures = {
        (parse_ref(e.ref).repository, e.cosign[0]): e
        for e in entries(index)
        if e.cosign and e.cosign[1] == "sig"
    }
    jobs = []
    for image in (i for i in manifest.images if i.target):
        repository = parse_ref(image.ref).repository
        for digest in [image.digest, *image.platforms.values()]:
            where = "the index" if digest == image.digest else f"manifest {digest[:19]}"
            label = f"{image.target}: {image.ref}: {where}"
            jobs.append((label, digest, signatures.get((repository, digest))))

    def check(job: tuple[str, str, Entry | None]) -> str:
        label, digest, entry = job
        if entry is None:
            return f"{label} has no signature in the bundle"
        if _verified(cosign, root, entry, digest, public_key):
            return ""
        return f"{label}: no signature matches {shown_key(public_key)}"

    with ThreadPoolExecutor(CHECKS_AT_ONCE) as pool:
        return [p for p in pool.map(check, jobs) if p]


def _verified(cosign: str, root: Path, entry: Entry, digest: str, public_key: str) -> bool:
    """One of the `.sig` image's layers is a payload naming `digest`, signed by the key."""
    try:
        layers = list(read_json(root, entry.digest).get("layers") or [])
    except (OSError, ValueError, AttributeError, TypeError):
        return False  # not a signature image at all
    for layer in (x for x in layers if isinstance(x, dict)):
        signature = (layer.get("annotations") or {}).get(SIGNATURE)
        payload = blob_path(root, str(layer.get("digest", "")))
        if not signature or not payload.is_file() or _signed_digest(payload) != digest:
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".sig") as sig:
            sig.write(str(signature))
            sig.flush()
            if blob_verifies(cosign, public_key, Path(sig.name), payload):
                return True
    return False


def blob_verifies(cosign: str, public_key: str, signature: Path, payload: Path) -> bool:
    """Whether `cosign verify-blob` (offline) finds `signature` of `payload` made with
    the key whose public half is `public_key`."""
    argv = verify_blob_argv(cosign, public_key, signature, payload)
    return subprocess.run(argv, capture_output=True, timeout=120, check=False).returncode == 0


def _signed_digest(payload: Path) -> str | None:
    try:
        data = json.loads(payload.read_bytes())
        return str(data["critical"]["image"]["docker-manifest-digest"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def refused(problems: Sequence[str]) -> str:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"its signatures do not verify: {problems[0]}{more}"
