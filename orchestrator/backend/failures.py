"""Which failures are worth another attempt (the registry, the network, the engine going
away; never the Dockerfile), and one line that says why a build failed."""

from __future__ import annotations

import re
from collections.abc import Sequence

from orchestrator.backend.base import BuildResult

# Failures worth another attempt: the registry or the network, never the Dockerfile.
TRANSIENT = re.compile(
    r"(429 Too Many Requests|toomanyrequests|50[0234] [A-Z]|"
    r"Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time-?out|"
    r"connection reset by peer|connection refused|broken pipe|i/o timeout|"
    r"TLS handshake timeout|context deadline exceeded|unexpected EOF|"
    r"net/http: request canceled|no route to host|server misbehaving|"
    r"Cannot connect to the Docker daemon|code = Unavailable|transport is closing|"
    r"error reading from server|connection closed before)",
    re.IGNORECASE,
)
# The engine itself went away (restarted, stopped): worth waiting for, said plainly.
ENGINE_GONE = re.compile(
    r"(Cannot connect to the Docker daemon|code = Unavailable|transport is closing|"
    r"error reading from server|connection closed before|docker\.sock: connect)",
    re.IGNORECASE,
)
# The engine's own stumble, worth one more attempt even where it says "failed to compute
# cache key": once in a suite's run, the second engine (containerd image store) failed
# to load a parent pushed with an attestation manifest ("failed to get stream processor
# for application/vnd.in-toto+json"); the same build then passed (see moby/moby#45600).
# In about 1 of 20 cold runs of benchmarks/lineage.py, a target built alone right after
# its session was cancelled failed to export: "failed to commit <snapshot> ... during
# finalize: failed to stat active key during commit: snapshot <id> does not exist" (the
# cancelled session's snapshots released under it). Tried again with the cache, it
# failed alike for the whole retry budget: it is tried again without its steps' cache.
STALE_CACHE = re.compile(r"failed to stat active key during commit", re.IGNORECASE)
ENGINE_STUMBLE = re.compile(
    r"no processor for media-type|failed to stat active key during commit", re.IGNORECASE
)
# A RUN that exits non-zero is the build's own failure, whatever it printed.
PERMANENT = re.compile(
    r"did not complete successfully: exit code|failed to compute cache key|"
    r"dockerfile parse error|unknown instruction",
    re.IGNORECASE,
)


# What a registry says when it cannot be trusted, does not know who asks, or says no.
UNTRUSTED = re.compile(r"x509: |certificate signed by unknown authority")
NO_LOGIN = re.compile(
    r"401 Unauthorized|no basic auth credentials|unauthorized: authentication required",
    re.IGNORECASE,
)
REFUSED = re.compile(r"405 Method Not Allowed|Method not allowed|denied: |403 Forbidden")
HOST_IN_URL = re.compile(r"https?://([^/\s\"]+)/v2/")
# Else the registry of the first image reference (`registry.internal:5443/app/x:1`).
HOST_IN_REF = re.compile(
    r"\b((?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+(?::\d+)?|[A-Za-z0-9-]+:\d+)/[a-z0-9]"
)


def registry_hint(text: str) -> str:
    """The fix for a registry's refusal, naming the registry where the text does."""
    found = HOST_IN_URL.search(text) or HOST_IN_REF.search(text)
    host = found.group(1) if found else "REGISTRY"
    if UNTRUSTED.search(text):
        return (
            f"{host}'s certificate is not trusted: give its CA in the spec "
            f"(registries: {{{host}: {{ca: FILE}}}})"
        )
    if NO_LOGIN.search(text):
        return f"wrong or missing credentials for {host}: stackbake login {host}, or docker login"
    if REFUSED.search(text):
        return f"{host} refuses to write (read-only, or this user may not write there)"
    return ""


def classify(tail: Sequence[str]) -> tuple[str, bool]:
    """(one-line reason, transient?) from the end of a failed build's log."""
    errors = [line for line in tail if "ERROR" in line or "error:" in line.lower()]
    reason = (errors[-1] if errors else (tail[-1] if tail else "build failed")).strip()
    reason = re.sub(r"^#\d+ ", "", reason)
    text = "\n".join(tail)
    transient = bool(TRANSIENT.search(text)) and not PERMANENT.search(text)
    transient = transient or bool(ENGINE_STUMBLE.search(text))
    if transient and ENGINE_GONE.search(text):
        reason = f"the Docker engine went away ({reason})"
    hint = registry_hint(text)
    return reason[:300] + (f" ({hint})" if hint else ""), transient


def failure(
    tail: Sequence[str], *, label: str = "", log_tail: Sequence[str] | None = None
) -> BuildResult:
    """A failed build's result from the end of its log (`tail`): its reason (after
    `label`, if given), whether it is worth another attempt, and whether that attempt
    must do without the cache of the target's own steps."""
    reason, transient = classify(tail)
    return BuildResult(
        False,
        reason=f"{label}: {reason}" if label else reason,
        transient=transient,
        stale_cache=bool(STALE_CACHE.search("\n".join(tail))),
        log_tail=tuple(tail if log_tail is None else log_tail),
    )
