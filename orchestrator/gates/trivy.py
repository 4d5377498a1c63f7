"""trivy on one platform of an image: where it reads the image from, the flags every
run takes (offline, nothing downloaded, no shared cache), and its report as facts.

A local image is read from the engine's containerd store (`--image-src containerd` on
dockerd's containerd socket, namespace moby, the image by its fully qualified name):
that source honours `--platform`, where `--image-src docker` gives the host's platform
whatever is asked. An image in a registry is read with `--image-src remote`. Scans run
with `--cache-backend memory`: trivy holds its file cache (fanal.db) locked while it
runs and a second trivy on it fails after 5 s ("cache may be in use by another
process"), and the platforms of a target, and the gates of several targets, run at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.backend.base import OnLine
from orchestrator.backend.layers import NAMESPACE, containerd_socket
from orchestrator.execution.cancel import CancelToken
from orchestrator.gates.facts import Facts, ReportError, facts_from
from orchestrator.gates.tool import run_tool
from orchestrator.refs import ImageRef, host_platform, is_loopback, normalize_platform

# Every run: nothing fetched (databases, checks bundle, notices, telemetry), no file cache.
OFFLINE = (
    "--quiet",
    "--skip-db-update",
    "--skip-java-db-update",
    "--skip-check-update",
    "--skip-version-check",
    "--disable-telemetry",
    "--offline-scan",
    "--cache-backend",
    "memory",
    "--timeout",
    "30m",
)


@dataclass(frozen=True)
class Source:
    """Where trivy reads the image from, and under what name."""

    kind: str  # containerd | remote | docker
    name: str
    env: Mapping[str, str] = field(default_factory=dict)
    only: str | None = None  # the one platform this source can read (docker: the host's)
    insecure: bool = False  # a plain-HTTP registry on this machine

    def flags(self) -> list[str]:
        return ["--image-src", self.kind, *(["--insecure"] if self.insecure else [])]

    def cannot_read(self, platform: str) -> str:
        """Why this source cannot read `platform`; "" when it can."""
        if self.only is None or normalize_platform(platform) == normalize_platform(self.only):
            return ""
        return (
            f"the engine's containerd store cannot be read here, so only {self.only} can be "
            "checked: run where the engine's containerd socket is readable, or set "
            "CONTAINERD_ADDRESS"
        )


def source_of(image: ImageRef, registry: bool, environ: Mapping[str, str]) -> Source:
    """A registry image by its reference (digest kept); a local one in the engine's
    containerd store by its fully qualified name (`app:1` is docker.io/library/app:1),
    or, where that store cannot be read, through the engine (the host's platform)."""
    if registry:
        return Source("remote", image.normalized(), insecure=is_loopback(image.domain))
    local = image.without_digest().normalized() if image.tag else image.normalized()
    address = containerd_socket(environ)
    if address is None:
        return Source("docker", local, only=host_platform())
    namespace = environ.get("CONTAINERD_NAMESPACE", NAMESPACE)
    env = {"CONTAINERD_ADDRESS": address, "CONTAINERD_NAMESPACE": namespace}
    return Source("containerd", local, env=env)


def image_argv(trivy: str, source: Source, platform: str, flags: Sequence[str]) -> list[str]:
    return [
        trivy,
        "image",
        "--format",
        "json",
        *OFFLINE,
        *source.flags(),
        "--platform",
        platform,
        *flags,
        source.name,
    ]


def inspect(
    trivy: str,
    source: Source,
    platform: str,
    flags: Sequence[str],
    *,
    environ: Mapping[str, str],
    cancel: CancelToken,
    on_line: OnLine,
) -> Facts | str:
    """The facts of one platform from one trivy run, or why there are none."""
    argv = image_argv(trivy, source, platform, flags)
    env = {**environ, **source.env}
    done = run_tool(argv, env, cancel=cancel, on_line=on_line, prefix=f"trivy {platform}: ")
    if done.cancelled or done.code != 0:
        return done.reason("trivy")
    try:
        return facts_from(done.out, platform)
    except ReportError as exc:
        return str(exc)
