"""A bundle's own manifest signed, and checked: `stackbake-bundle.json` lists the SHA-256
of every blob and file and names each image (target or base) by digest, so its one
signature covers all of the bundle, bases included, and whatever claims it makes. It
is signed with the key of the spec's `sign:` (`cosign sign-blob`, offline), and a load
with `--key` refuses a bundle whose manifest that key did not sign."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator.backend.tools import need_tool
from orchestrator.distribution.record import SIGNED
from orchestrator.distribution.trust import blob_verifies
from orchestrator.errors import EngineError
from orchestrator.execution.cancel import CancelToken
from orchestrator.signing.commands import child_env, shown_key, sign_blob_argv
from orchestrator.signing.cosign import run_cosign
from orchestrator.spec.gates import Signing
from orchestrator.spec.model import Target

SIGNATURE = SIGNED


def signing_of(targets: Sequence[Target]) -> Target | None:
    """The target whose key (`sign:`) a bundle of these targets is signed with: the
    first signed one by name."""
    return next((t for t in sorted(targets, key=lambda t: t.name) if t.sign), None)


def sign_manifest(
    manifest: Path, signing: Signing, environ: Mapping[str, str] | None = None
) -> Path:
    """`manifest` signed beside it (SIGNATURE); EngineError saying why not."""
    env, secret = child_env(signing, dict(os.environ if environ is None else environ))
    out = manifest.with_name(SIGNATURE)
    argv = sign_blob_argv(need_tool("cosign", "signing a bundle"), signing.key, manifest, out)
    done = run_cosign(
        "sign the bundle's manifest",
        argv,
        env,
        lambda line: None,
        CancelToken(),
        key=signing.key,
        secret=secret,
    )
    if not done.ok:
        raise EngineError(done.reason)
    return out


def manifest_verified(root: Path, manifest: Path, public_key: str) -> str:
    """ "" when the key signed the manifest, else why not."""
    signature = root / SIGNATURE
    if not signature.is_file():
        return (
            f"its {manifest.name} is not signed (a bundle of targets with sign: is): "
            f"{shown_key(public_key)} cannot vouch for it"
        )
    cosign = need_tool("cosign", "verifying a bundle")
    if not blob_verifies(cosign, public_key, signature, manifest):
        return f"its {manifest.name} is not signed by {shown_key(public_key)}"
    return ""
