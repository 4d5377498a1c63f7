"""The layers of each platform of an image (its config's diff ids): what a child's
lineage is checked with.

Locally, Docker 26's Engine API shows one platform of an image (the host's: its
`?platform=` needs API 1.49); the other platforms are read from containerd's content
store, as the engine keeps them, with `ctr` on the engine's own containerd socket
(dockerd's managed containerd, or the system one). Where that is not at hand, only the
host's platform is known and the caller says which platforms went unchecked. In a
registry, `docker buildx imagetools inspect` shows every platform's config.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.backend.base import Layers
from orchestrator.backend.engine import DEFAULT_SOCKET, local_socket
from orchestrator.backend.manifests import platform_of
from orchestrator.refs import normalize_platform

# Where the engine's containerd listens: dockerd's own (--exec-root default), the system's.
CONTAINERD_SOCKETS = (
    "/var/run/docker/containerd/containerd.sock",
    "/run/containerd/containerd.sock",
)
NAMESPACE = "moby"  # the namespace of dockerd's containerd image store
TEMPLATE = "{{.Os}}\t{{.Architecture}}\t{{.Variant}}\t{{json .RootFS.Layers}}"


def _platform(p: Mapping[str, Any]) -> str:
    return normalize_platform(platform_of(p))


def _diff_ids(config: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple((config.get("rootfs") or {}).get("diff_ids") or ())


def remote_layers(ref: str, environ: Mapping[str, str]) -> Layers:
    """Every platform of `ref` (REPO:TAG or REPO@DIGEST) in its registry; {} if absent."""
    done = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", ref, "--format", "{{json .Image}}"],
        capture_output=True,
        text=True,
        env=dict(environ),
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        return {}
    data = json.loads(done.stdout or "{}")
    if "rootfs" in data:  # one platform
        return {_platform(data): _diff_ids(data)}
    return {
        normalize_platform(platform): _diff_ids(config)
        for platform, config in data.items()
        if isinstance(config, dict) and not platform.startswith("unknown")
    }


def host_layers(ref: str, environ: Mapping[str, str]) -> Layers:
    """The platform of a local image the engine shows (its host's), through
    `docker image inspect`; {} if absent."""
    done = subprocess.run(
        ["docker", "image", "inspect", ref, "--format", TEMPLATE],
        capture_output=True,
        text=True,
        env=dict(environ),
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        return {}
    os_, arch, variant, layers = done.stdout.strip().split("\t", 3)
    config = {"os": os_, "architecture": arch, "variant": variant}
    return {_platform(config): tuple(json.loads(layers) or ())}


def local_layers(digest: str, environ: Mapping[str, str]) -> Layers:
    """Every platform of the local image `digest` (its target: an index or a manifest)
    when containerd's content store can be read here, else the host's platform only."""
    found = content_layers(digest, environ)
    return found if found is not None else host_layers(digest, environ)


def containerd_socket(environ: Mapping[str, str]) -> str | None:
    """The containerd socket of the engine `environ` names, when it is on this host and
    readable: CONTAINERD_ADDRESS if set; for the default engine, dockerd's own or the
    system's; for another local one (DOCKER_HOST=unix://...), the containerd under the
    --exec-root of the dockerd that serves that socket (a second engine on this host)."""
    if environ.get("CONTAINERD_ADDRESS"):
        return environ["CONTAINERD_ADDRESS"]
    engine = local_socket(environ)
    if engine is None:
        return None  # a docker context or a TCP engine: its containerd is elsewhere
    found = CONTAINERD_SOCKETS if engine == DEFAULT_SOCKET else _exec_root_socket(engine)
    return next((s for s in found if os.access(s, os.R_OK | os.W_OK)), None)


def _exec_root_socket(engine: str) -> tuple[str, ...]:
    """The containerd socket of the dockerd serving `engine`, from its command line."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if not argv or Path(argv[0]).name != "dockerd":
            continue
        words = [w for a in argv for w in (a.split("=", 1) if a.startswith("--") else [a])]
        flags = dict(itertools.pairwise(words))
        hosts = {b for a, b in itertools.pairwise(words) if a in ("-H", "--host")}
        if f"unix://{engine}" in hosts or engine in hosts:
            if flags.get("--containerd"):
                return (flags["--containerd"],)
            root = flags.get("--exec-root", "/var/run/docker")
            return (f"{root}/containerd/containerd.sock",)
    return ()


def _ctr_socket(environ: Mapping[str, str]) -> str | None:
    return containerd_socket(environ) if shutil.which("ctr") else None


def _content(socket: str, digest: str) -> dict[str, Any]:
    done = subprocess.run(
        ["ctr", "--address", socket, "-n", NAMESPACE, "content", "get", digest],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise LookupError(done.stderr.decode("utf-8", "replace").strip())
    data = json.loads(done.stdout)
    return data if isinstance(data, dict) else {}


def content_layers(digest: str, environ: Mapping[str, str]) -> Layers | None:
    """Every platform of the local image whose target is `digest` (an index or a
    manifest), from containerd's content store; None when it cannot be read here."""
    socket = _ctr_socket(environ)
    if socket is None:
        return None
    try:
        top = _content(socket, digest)
        if "manifests" not in top:  # a single manifest
            config = _content(socket, top["config"]["digest"])
            return {_platform(config): _diff_ids(config)}
        out: Layers = {}
        for entry in top["manifests"]:
            platform = entry.get("platform") or {}
            if platform.get("os", "unknown") == "unknown":  # an attestation
                continue
            manifest = _content(socket, entry["digest"])
            out[_platform(platform)] = _diff_ids(_content(socket, manifest["config"]["digest"]))
        return out
    except (LookupError, OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError):
        return None
