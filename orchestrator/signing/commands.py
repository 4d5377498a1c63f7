"""cosign's command lines, its environment and its failures in plain words: pure
functions, no process (cosign.py runs them).

Offline and key-based: signing passes `--tlog-upload=false` and verifying
`--insecure-ignore-tlog=true`. There is no Rekor (transparency log) here, and a
signature made with our own key needs none to be checked: the public key is the
trust root. Without those flags cosign uploads to, or looks the signature up in, the
public Rekor, which these machines cannot reach.

Registries: cosign (go-containerregistry) speaks plain HTTP to a loopback registry
(localhost, 127.0.0.1) by itself, so the local one needs no flag. Any other
plain-HTTP registry needs `insecure=True`: cosign 2.5.0 then needs
`--allow-http-registry` (sign, attest, verify-attestation) and
`--allow-insecure-registry` (verify) both, so both are passed.

The key's password is read from the variable `Signing.password_env` names and given
to cosign only as COSIGN_PASSWORD in its environment (the rest of the environment
kept): never on its command line, which any user can read in /proc/PID/cmdline
(/proc/PID/environ is readable by the same user only). With no `password_env`, an
inherited COSIGN_PASSWORD is used, else the empty password: cosign never waits at a
prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator.backend.failures import TRANSIENT
from orchestrator.errors import display_path
from orchestrator.refs import BadReference, is_insecure, is_loopback, parse_ref
from orchestrator.spec.gates import Signing

PASSWORD = "COSIGN_PASSWORD"
BY_DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
# The SBOM formats of `gates.sbom` (and cosign's own names) to cosign's predicate types.
PREDICATE_TYPES = {"cyclonedx": "cyclonedx", "spdx-json": "spdxjson", "spdxjson": "spdxjson"}
STATUS_5XX = re.compile(r"status code 5\d\d|\b5\d\d (Internal|Bad|Service|Gateway)")


def registry_flags(insecure: bool, ref: str = "") -> list[str]:
    """cosign's flags for a registry reached without TLS verification: `insecure`, or
    one the spec says is (`registries: H: {insecure: true}`; cosign reaches a loopback
    registry over plain HTTP by itself)."""
    try:
        domain = parse_ref(ref).domain if ref else ""
    except BadReference:
        domain = ""
    listed = bool(domain) and not is_loopback(domain) and is_insecure(domain)
    return ["--allow-http-registry", "--allow-insecure-registry"] if insecure or listed else []


def sign_argv(cosign: str, ref: str, key: str, *, insecure: bool = False) -> list[str]:
    """`--recursive`: an index and each manifest it lists (platforms, and BuildKit's
    attestation manifests) get a signature; it also makes cosign fetch the image, so a
    digest the registry does not have fails (without it cosign signs any digest)."""
    argv = [cosign, "sign", "--key", key, "--tlog-upload=false", "--yes", "--recursive"]
    return [*argv, *registry_flags(insecure, ref), ref]


def attest_argv(
    cosign: str, ref: str, key: str, predicate: Path, kind: str, *, insecure: bool = False
) -> list[str]:
    """cosign attests any digest, even one the registry lacks: pass one just pushed."""
    argv = [cosign, "attest", "--key", key, "--tlog-upload=false", "--yes"]
    argv += ["--type", kind, "--predicate", str(predicate)]
    return [*argv, *registry_flags(insecure, ref), ref]


def verify_argv(cosign: str, ref: str, public_key: str, *, insecure: bool = False) -> list[str]:
    argv = [cosign, "verify", "--key", public_key, "--insecure-ignore-tlog=true"]
    return [*argv, "--output", "text", *registry_flags(insecure, ref), ref]


def sign_blob_argv(cosign: str, key: str, blob: Path, signature: Path) -> list[str]:
    """A file signed with the key, offline; the base64 signature written to `signature`."""
    argv = [cosign, "sign-blob", "--key", key, "--tlog-upload=false", "--yes"]
    return [*argv, "--output-signature", str(signature), str(blob)]


def verify_blob_argv(cosign: str, public_key: str, signature: Path, payload: Path) -> list[str]:
    """A signature checked with no registry at all: `payload` is what cosign signed (a
    `.sig` image's simple-signing layer), `signature` the base64 of its annotation."""
    argv = [cosign, "verify-blob", "--key", public_key, "--insecure-ignore-tlog=true"]
    return [*argv, "--signature", str(signature), str(payload)]


def verify_attestation_argv(
    cosign: str, ref: str, public_key: str, kind: str, *, insecure: bool = False
) -> list[str]:
    argv = [cosign, "verify-attestation", "--key", public_key, "--insecure-ignore-tlog=true"]
    return [*argv, "--type", kind, "--output", "text", *registry_flags(insecure, ref), ref]


def child_env(signing: Signing, environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """cosign's environment (ours, COSIGN_PASSWORD set) and the password, to mask.
    KeyError naming the variable when `password_env` is set but not."""
    env = dict(environ)
    if signing.password_env:
        env[PASSWORD] = environ[signing.password_env]
    env.setdefault(PASSWORD, "")
    return env, env[PASSWORD]


def predicate_type(sbom_format: str) -> str:
    """cosign's `--type` for an SBOM format (ValueError for one it has no type for)."""
    try:
        return PREDICATE_TYPES[sbom_format]
    except KeyError:
        raise ValueError(f"no cosign predicate type for SBOM format {sbom_format!r}") from None


def shown_key(key: str) -> str:
    return key if "://" in key else display_path(key)


def explain(lines: Sequence[str], *, key: str, kind: str | None = None) -> str:
    """One line of why cosign failed, in the user's words where cosign's are cryptic."""
    text = "\n".join(lines)
    errors = [ln.strip() for ln in lines if ln.strip().startswith("Error:")]
    last = errors[-1].removeprefix("Error:").strip() if errors else ""
    last = last or next((ln.strip() for ln in reversed(lines) if ln.strip()), "cosign failed")
    what = f"{kind} attestation" if kind else "attestation"
    if "decryption failed" in text:
        return f"cannot decrypt {shown_key(key)}: wrong password (or none given)"
    if "no matching signatures" in text:
        return f"no signature matches {shown_key(key)}"
    if "no signatures found" in text:
        return "not signed (no signature found)"
    found = re.search(r"none of the attestations matched the predicate type: .*found: (.+)", text)
    if found:
        return f"no {what} (found: {found.group(1).strip()})"
    if "no matching attestations" in text:
        if "Found: 0" in text:
            return f"no {what} matches {shown_key(key)}"
        return f"no {what}"
    return last[:300]


def is_transient(lines: Sequence[str]) -> bool:
    """The registry or the network failed (refused, reset, 5xx, 429): worth another try."""
    text = "\n".join(lines)
    return bool(TRANSIENT.search(text) or STATUS_5XX.search(text))
