"""Registry lookups without a pull: what a tag names, for many tags at once.

`docker buildx imagetools inspect` is the client: it reads the engine's credentials
(config.json and its helpers) and speaks to plain-HTTP localhost registries as
buildx does, where a hand-written HTTP client would re-implement registry auth. One
lookup costs ~0.08 s of process start, so lookups run in a thread pool.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orchestrator.backend.base import RemoteImage
from orchestrator.backend.manifests import fetch, index_platforms, platform_of
from orchestrator.errors import EngineError
from orchestrator.refs import BadReference, parse_ref

LOOKUPS_AT_ONCE = 8


def remote_image(inspected: Mapping[str, Any]) -> RemoteImage | None:
    """From `imagetools inspect --format '{{json .}}'`: an index lists its platforms
    (attestations, `unknown/unknown`, are not platforms); a single manifest's
    platform is its config's."""
    manifest = inspected.get("manifest") or {}
    digest = manifest.get("digest")
    if not digest:
        return None
    if "manifests" in manifest:
        return RemoteImage(str(digest), index_platforms(manifest["manifests"]))
    image = inspected.get("image") or {}
    return RemoteImage(str(digest), {platform_of(image): digest} if image.get("os") else {})


# A registry that does not answer (as opposed to one that says "not found").
UNREACHABLE = re.compile(
    r"(connection refused|connection reset|no such host|i/o timeout|timeout|"
    r"server misbehaving|no route to host|unexpected EOF|EOF$|50[0234] |"
    r"Service Unavailable|Bad Gateway|Gateway Time-?out|TLS handshake)",
    re.IGNORECASE,
)
TRIES = 3  # attempts of a lookup that may not wait (wait_s 0)


class RegistryUnreachable(EngineError):
    """A registry did not answer a lookup, however long it was waited for."""

    def __init__(
        self,
        failures: Mapping[str, str],
        waited_s: float,
        found: Mapping[str, RemoteImage] | None = None,
    ) -> None:
        self.failures = dict(failures)  # ref -> why its registry did not answer
        self.found = dict(found or {})  # what the registries that answered have
        hosts = sorted({registry_host(ref) for ref in failures})
        reason = next(iter(failures.values()))
        waited = f"; asked again for {waited_s:.0f} s" if waited_s >= 1 else ""
        super().__init__(
            f"registry {', '.join(hosts)} cannot be reached ({reason}){waited}; start it or "
            "fix its address, then run again (--retry-timeout waits longer)"
        )


def registry_host(ref: str) -> str:
    try:
        return parse_ref(ref).domain
    except BadReference:
        return ref.split("/", 1)[0]


def _ask(ref: str, environ: Mapping[str, str]) -> tuple[RemoteImage | None, str]:
    """One lookup: (the image, "") when found, (None, "") when absent, (None, why) when
    the registry did not answer. No docker client or no buildx plugin: EngineError.
    Straight from the registry's HTTP API where it needs no login (backend/manifests.py),
    else through imagetools."""
    fast = fetch(ref)
    if isinstance(fast, RemoteImage):
        return fast, ""
    if fast is False:
        return None, ""
    try:
        done = subprocess.run(
            ["docker", "buildx", "imagetools", "inspect", ref, "--format", "{{json .}}"],
            capture_output=True,
            text=True,
            env=dict(environ),
            check=False,
            timeout=60,
        )
    except OSError as exc:
        raise EngineError(f"cannot run the docker client ({exc.strerror or exc})") from None
    except subprocess.TimeoutExpired:
        return None, "no answer in 60 s"
    if "is not a docker command" in done.stderr:
        raise EngineError(
            "the docker buildx plugin is not installed (scripts/engine-up.sh installs it)"
        )
    if done.returncode == 0:
        try:
            return remote_image(json.loads(done.stdout)), ""
        except (ValueError, AttributeError, TypeError, KeyError):
            return None, ""
    error = (done.stderr.strip().splitlines() or ["failed"])[-1]
    if "not found" in done.stderr or not UNREACHABLE.search(done.stderr):
        return None, ""  # absent (or refused: a login missing says so at push time)
    return None, error.removeprefix("ERROR: ")


def lookup(
    ref: str,
    environ: Mapping[str, str],
    *,
    deadline: float,
    now: Callable[[], float],
    sleep: Callable[[float], None],
) -> tuple[RemoteImage | None, str]:
    """The image `ref` names in its registry, None when absent; a registry that does not
    answer is asked again (a short pause, growing) until `deadline`, or TRIES times when
    the deadline is already near. The reason it did not answer, if it never did."""
    delay, attempt = 0.2, 1
    while True:
        image, why = _ask(ref, environ)
        if not why:
            return image, ""
        left = deadline - now()
        if left <= 0 and attempt >= TRIES:
            return None, why
        sleep(max(0.0, min(delay, left)) if left > 0 else delay)
        delay, attempt = min(delay * 2, 5.0), attempt + 1


def lookup_all(
    refs: Sequence[str],
    environ: Mapping[str, str],
    *,
    wait_s: float = 0.0,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, RemoteImage]:
    """`lookup` of each distinct ref, in parallel, all within one deadline (`wait_s` from
    now); absent ones left out. RegistryUnreachable when a registry never answered."""
    unique = list(dict.fromkeys(refs))
    if not unique:
        return {}
    deadline = now() + wait_s
    with ThreadPoolExecutor(min(LOOKUPS_AT_ONCE, len(unique))) as pool:
        answers = list(
            pool.map(lambda r: lookup(r, environ, deadline=deadline, now=now, sleep=sleep), unique)
        )
    failures = {ref: why for ref, (_, why) in zip(unique, answers, strict=True) if why}
    found = {ref: image for ref, (image, _) in zip(unique, answers, strict=True) if image}
    if failures:
        raise RegistryUnreachable(failures, wait_s, found)
    return found
