"""cosign, run as a child process: sign an image by digest, attest an SBOM on a platform
manifest, verify both (commands.py says which flags, and why). Each call streams
cosign's lines, the password masked, to `on_line`, stops cosign's whole process group
when the CancelToken is set, and returns a BuildResult: ok, a one-line reason, and
`transient` when the registry or the network failed. cosign not installed: UsageError
(from need_tool), saying how to get it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from orchestrator.backend.base import BuildResult, OnLine, RemoteImage
from orchestrator.backend.process import run_streaming
from orchestrator.backend.redact import Redactor
from orchestrator.backend.tools import need_tool
from orchestrator.errors import UsageError, display_path
from orchestrator.execution.cancel import CancelToken
from orchestrator.signing.commands import (
    BY_DIGEST,
    attest_argv,
    child_env,
    explain,
    is_transient,
    predicate_type,
    shown_key,
    sign_argv,
    verify_argv,
    verify_attestation_argv,
)
from orchestrator.spec.gates import Signing
from orchestrator.spec.model import Target


def run_cosign(
    label: str,
    argv: list[str],
    env: Mapping[str, str],
    on_line: OnLine,
    cancel: CancelToken,
    *,
    key: str,
    kind: str | None = None,
    secret: str = "",
    log_file: Path | None = None,
) -> BuildResult:
    """One cosign command; its reason starts with `label` ("sign REF"; "": none)."""
    if cancel.cancelled:
        return BuildResult(False, reason="cancelled", cancelled=True)
    try:
        code, tail = run_streaming(
            argv,
            dict(env),
            on_line=on_line,
            cancel=cancel,
            redactor=Redactor([secret] if secret else []),
            log_file=log_file,
        )
    except OSError as exc:
        return BuildResult(False, reason=_join(label, f"cannot run cosign ({exc.strerror or exc})"))
    lines = tuple(tail)
    if cancel.cancelled:
        return BuildResult(False, reason="cancelled", cancelled=True, log_tail=lines)
    if code == 0:
        return BuildResult(True, log_tail=lines)
    reason = _join(label, explain(lines, key=key, kind=kind))
    return BuildResult(False, reason=reason, transient=is_transient(lines), log_tail=lines)


def _keyed(
    label: str, ref: str, signing: Signing, environ: Mapping[str, str] | None
) -> tuple[dict[str, str], str] | BuildResult:
    """cosign's environment and the password for signing `ref`, or why not."""
    if not BY_DIGEST.match(ref):
        return BuildResult(False, reason=f"{label}: not a reference by digest (REPO@sha256:...)")
    try:
        return child_env(signing, os.environ if environ is None else environ)
    except KeyError:
        why = f"the key's password variable {signing.password_env} is not set"
        return BuildResult(False, reason=f"{label}: {why}")


def sign(
    ref: str,
    signing: Signing,
    on_line: OnLine,
    cancel: CancelToken,
    *,
    environ: Mapping[str, str] | None = None,
    insecure: bool = False,
    log_file: Path | None = None,
) -> BuildResult:
    """Sign REPO@sha256:... with `signing.key`: an index and every manifest it lists."""
    label = f"sign {ref}"
    keyed = _keyed(label, ref, signing, environ)
    if isinstance(keyed, BuildResult):
        return keyed
    env, secret = keyed
    argv = sign_argv(need_tool("cosign", "signing"), ref, signing.key, insecure=insecure)
    found = run_cosign(
        label, argv, env, on_line, cancel, key=signing.key, secret=secret, log_file=log_file
    )
    return replace(found, digest=ref.rsplit("@", 1)[1]) if found.ok else _hinted(found, signing)


def attest(
    ref: str,
    signing: Signing,
    on_line: OnLine,
    cancel: CancelToken,
    *,
    predicate: Path,
    sbom_format: str,
    environ: Mapping[str, str] | None = None,
    insecure: bool = False,
    log_file: Path | None = None,
) -> BuildResult:
    """Attest the SBOM file `predicate` (`sbom_format`: cyclonedx, spdx-json) on the
    platform manifest REPO@sha256:..., signed with `signing.key`."""
    kind = predicate_type(sbom_format)
    label = f"attest {sbom_format} on {ref}"
    keyed = _keyed(label, ref, signing, environ)
    if isinstance(keyed, BuildResult):
        return keyed
    if not predicate.is_file():
        return BuildResult(False, reason=f"{label}: no SBOM file {display_path(predicate)}")
    env, secret = keyed
    cosign = need_tool("cosign", "attesting an SBOM")
    argv = attest_argv(cosign, ref, signing.key, predicate, kind, insecure=insecure)
    found = run_cosign(
        label,
        argv,
        env,
        on_line,
        cancel,
        key=signing.key,
        kind=sbom_format,
        secret=secret,
        log_file=log_file,
    )
    return _hinted(found, signing)


def _hinted(result: BuildResult, signing: Signing) -> BuildResult:
    """A key cosign could not decrypt: where the password was to come from."""
    if "wrong password" not in result.reason:
        return result
    where = signing.password_env or "COSIGN_PASSWORD (sign.password_env not set)"
    return replace(result, reason=f"{result.reason}; the password is read from {where}")


def verify(
    ref: str,
    public_key: str,
    on_line: OnLine,
    cancel: CancelToken,
    *,
    sbom_format: str | None = None,
    environ: Mapping[str, str] | None = None,
    insecure: bool = False,
    label: str | None = None,
) -> BuildResult:
    """A signature of `ref` (a tag or REPO@sha256:...) verifies with `public_key`; with
    `sbom_format`, instead: an attestation of that type does. `ref` alone: an index's
    platform manifests are not checked (verify_image checks them). The reason starts
    with `label` ("" for none; default: what was verified)."""
    env = dict(os.environ if environ is None else environ)
    what = f"{sbom_format} attestation of {ref}" if sbom_format else ref
    label = f"verify {what}" if label is None else label
    if "://" not in public_key and not Path(public_key).is_file():
        return BuildResult(False, reason=_join(label, f"no public key {shown_key(public_key)}"))
    cosign = need_tool("cosign", "verifying signatures")
    if sbom_format is None:
        argv = verify_argv(cosign, ref, public_key, insecure=insecure)
        return run_cosign(label, argv, env, on_line, cancel, key=public_key)
    kind = predicate_type(sbom_format)
    argv = verify_attestation_argv(cosign, ref, public_key, kind, insecure=insecure)
    return run_cosign(label, argv, env, on_line, cancel, key=public_key, kind=sbom_format)


@dataclass(frozen=True)
class Checked:
    """One check of an image: the signature (or, with `sbom_format`, the attestation) of
    its index ("the index") or of one platform's manifest."""

    where: str
    digest: str
    sbom_format: str | None
    result: BuildResult


def verify_image(
    repository: str,
    image: RemoteImage,
    public_key: str,
    on_line: OnLine,
    cancel: CancelToken,
    *,
    sbom_format: str | None = None,
    environ: Mapping[str, str] | None = None,
    insecure: bool = False,
) -> tuple[Checked, ...]:
    """An image in `repository` checked whole: the index's signature and each platform
    manifest's (a single-platform image: its manifest's), and with `sbom_format` an
    attestation of that type on each platform. Every check runs, failed or not."""
    parts = [] if set(image.platforms.values()) == {image.digest} else [("the index", image.digest)]
    parts += list(image.platforms.items())
    checks: list[tuple[str, str, str | None]] = [(w, d, None) for w, d in parts]
    if sbom_format:
        checks += [(where, digest, sbom_format) for where, digest in image.platforms.items()]
    return tuple(
        Checked(
            where,
            digest,
            kind,
            verify(
                f"{repository}@{digest}",
                public_key,
                on_line,
                cancel,
                sbom_format=kind,
                environ=environ,
                insecure=insecure,
                label="",
            ),
        )
        for where, digest, kind in checks
    )


def _join(label: str, reason: str) -> str:
    return f"{label}: {reason}" if label else reason


def check_signing(targets: Sequence[Target], environ: Mapping[str, str]) -> None:
    """Before a push builds anything: each signing target's key file is there and its
    password variable set, and cosign is installed; else a usage error naming them."""
    signing = [t for t in targets if t.sign is not None]
    if not signing:
        return
    need_tool("cosign", f"signing {signing[0].name} (sign:)")
    problems = []
    for target, sign_ in ((t, t.sign) for t in signing if t.sign is not None):
        if "://" not in sign_.key and not Path(sign_.key).is_file():
            problems.append(f"{target.name}: no signing key {display_path(Path(sign_.key))}")
        if sign_.password_env and sign_.password_env not in environ:
            problems.append(
                f"{target.name}: the key's password variable {sign_.password_env} is not set"
            )
    if problems:
        raise UsageError("; ".join(dict.fromkeys(problems)) + " (sign: in the spec)")
