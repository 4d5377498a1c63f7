"""skopeo, the copier of the distribution commands: registry to OCI layout and back,
every platform, digests kept (`--all --preserve-digests`), and a registry's tags,
manifests and deletes, without a pull and without an engine.

Chosen over hand-written registry HTTP code, which would re-implement token auth and
credential helpers, and over oras, which Debian 12 lacks (Debian 13's 1.2 copies
referrers but not cosign's `.sig`/`.att` tags any better): skopeo reads the Docker
config and its credential helpers as buildx does, and its copies into one OCI layout
share blobs between images. A loopback registry (`localhost:5000`) is reached over
plain HTTP, as docker and BuildKit reach it, so its TLS is not verified.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.backend.failures import registry_hint
from orchestrator.backend.process import terminate
from orchestrator.backend.tools import need_tool
from orchestrator.errors import EngineError
from orchestrator.execution.cancel import CancelToken
from orchestrator.refs import is_insecure, parse_ref

TIMEOUT_S = 600
CANCEL_CHECK_S = 0.25  # how often a running skopeo looks at its cancel token


class SkopeoError(EngineError):
    """skopeo failed: `message` says what it was doing and skopeo's own last words."""

    def __init__(self, doing: str, stderr: str) -> None:
        self.stderr = stderr
        self.not_found = "manifest unknown" in stderr or "not found" in stderr.lower()
        last = (stderr.strip().splitlines() or ["failed"])[-1]
        super().__init__(f"{doing}: {explain(last, doing)}")


def explain(last: str, doing: str = "") -> str:
    """skopeo's last line, with the fix where the cause is a common one (naming the
    registry of what it was `doing` when the line does not)."""
    text = last.removeprefix('time="').split('" ', 1)[-1] if last.startswith("time=") else last
    text = text.removeprefix('level=fatal msg="').rstrip('"').replace('\\"', '"')
    hint = registry_hint(f"{text} {doing}")
    return f"{text} ({hint})" if hint else text


def tls_flags(ref: str, flag: str = "--tls-verify") -> list[str]:
    """`--tls-verify=false` for a loopback registry (plain HTTP) or one the spec says is
    insecure, else nothing."""
    if ref.startswith(("oci:", "oci-archive:", "dir:", "docker-archive:")):
        return []
    name = ref.removeprefix("docker://")
    return [f"{flag}=false"] if is_insecure(parse_ref(name).domain) else []


def run(
    argv: Sequence[str],
    doing: str,
    *,
    env: Mapping[str, str] | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """`skopeo ARGV...`: its standard output, or SkopeoError saying what it was doing.
    A cancelled token stops it (and what it started)."""
    skopeo = need_tool("skopeo", doing)
    if cancel is not None and cancel.cancelled:
        raise EngineError(f"{doing}: cancelled")
    try:
        proc = subprocess.Popen(
            [skopeo, *argv],
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise EngineError(f"{doing}: cannot run skopeo ({exc.strerror or exc})") from None
    try:
        out, err = _outcome(proc, cancel)
    except subprocess.TimeoutExpired:
        terminate(proc)
        raise EngineError(f"{doing}: skopeo gave no answer in {TIMEOUT_S} s") from None
    except BaseException:  # Ctrl-C reaches us, not skopeo (a session of its own)
        terminate(proc)
        raise
    if out is None:
        raise EngineError(f"{doing}: cancelled")
    if proc.returncode != 0:
        raise SkopeoError(doing, err.decode("utf-8", "replace"))
    return out.decode("utf-8", "replace")


def _outcome(
    proc: subprocess.Popen[bytes], cancel: CancelToken | None
) -> tuple[bytes | None, bytes]:
    """skopeo's output once it ends, or (None, ...) once `cancel` is set (it stopped).
    The token is looked at while waiting, rather than given a callback: a callback
    would outlive the run (and signal a pid maybe reused by then)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        step = min(CANCEL_CHECK_S, deadline - time.monotonic())
        if step <= 0:
            raise subprocess.TimeoutExpired(proc.args, TIMEOUT_S)
        if cancel is not None and cancel.cancelled:
            terminate(proc)
            return None, proc.communicate()[1]
        try:
            return proc.communicate(timeout=step)
        except subprocess.TimeoutExpired:
            continue  # output read so far is kept for the next call


def copy(src: str, dest: str, *, cancel: CancelToken | None = None) -> None:
    """Every platform of `src` to `dest`, digests unchanged. Each is a skopeo transport
    reference: `docker://REPO:TAG`, `docker://REPO@DIGEST`, `oci:DIR:NAME`."""
    flags = tls_flags(src, "--src-tls-verify") + tls_flags(dest, "--dest-tls-verify")
    argv = ["copy", "--quiet", "--all", "--preserve-digests", *flags, src, dest]
    run(argv, f"copy {src} to {dest}", cancel=cancel)


def raw_text(ref: str, *, config: bool = False, cancel: CancelToken | None = None) -> str:
    """The manifest (or index) `ref` (REPO:TAG or REPO@DIGEST) names as the registry
    sends it, byte for byte (its digest and size are those of this text), or with
    `config` the image config of the manifest `ref` names. SkopeoError with `not_found`
    when the registry has none."""
    flags = ["--config"] if config else []
    argv = ["inspect", "--raw", *flags, *tls_flags(ref), f"docker://{ref}"]
    return run(argv, f"read {ref}", cancel=cancel)


def raw_manifest(ref: str, cancel: CancelToken | None = None) -> tuple[dict[str, Any], str]:
    """The manifest (or index) `ref` names, parsed, and its digest."""
    text = raw_text(ref, cancel=cancel)
    return json.loads(text), "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def image_config(ref: str, cancel: CancelToken | None = None) -> dict[str, Any]:
    """The image config of a single-platform image (its os, architecture, history)."""
    config: dict[str, Any] = json.loads(raw_text(ref, config=True, cancel=cancel))
    return config


def list_tags(repository: str) -> list[str]:
    """The tags of REPOSITORY (`localhost:5000/acme/app`); none when it does not exist."""
    try:
        out = run(
            ["list-tags", *tls_flags(repository), f"docker://{repository}"],
            f"list the tags of {repository}",
        )
    except SkopeoError as exc:
        if exc.not_found or "name unknown" in exc.stderr:
            return []
        raise
    return list(json.loads(out).get("Tags") or [])


def delete(repository: str, digest: str) -> None:
    """Delete the manifest DIGEST from REPOSITORY, and with it every tag naming it."""
    ref = f"{repository}@{digest}"
    run(["delete", *tls_flags(ref), f"docker://{ref}"], f"delete {ref}")
