"""A private registry's CA (`registries: HOST: {ca: FILE}`) made trusted by every client
stackbake runs, before any of them reaches the registry, and one reached without TLS
verification (`insecure: true`) said so to them:

- the engine and its BuildKit (pushes, `FROM` pulls, `docker login`) read
  `/etc/docker/certs.d/HOST/ca.crt` on each request; it is written there when it
  differs. BuildKit caches a registry's TLS setup per repository for minutes, so the
  file must be in place before the first build that touches it, not after a failure.
- imagetools, skopeo and cosign (Go programs) ignore that folder but read the folders
  SSL_CERT_DIR lists: the CAs are copied to `.stackbake/certs/` and that folder is
  added to SSL_CERT_DIR for every child process (the system's roots kept).
- an insecure registry is listed in STACKBAKE_INSECURE_REGISTRIES for skopeo's and
  cosign's flags; the engine and its BuildKit only skip verification for what the
  daemon's insecure-registries list (daemon.json), so that is checked (`docker info`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from orchestrator.errors import EngineError, UsageError
from orchestrator.refs import INSECURE_REGISTRIES
from orchestrator.spec.model import Registry

ENGINE_CERTS = Path("/etc/docker/certs.d")
SYSTEM_CERTS = "/etc/ssl/certs"


def _local_engine(environ: Mapping[str, str]) -> bool:
    host = environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


def _write(path: Path, data: bytes) -> None:
    """`data` at `path` through a temporary file and a rename; nothing when it is there."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def engine_skips_tls(host: str, config: Mapping[str, Any]) -> bool:
    """Whether the engine (its `docker info` RegistryConfig) reaches `host` insecurely:
    named in insecure-registries, or an address in one of its insecure CIDRs."""
    named = (config.get("IndexConfigs") or {}).get(host)
    if named is not None:
        return not named.get("Secure", True)
    name = host.strip("[]") if host.endswith("]") else host.rsplit(":", 1)[0].strip("[]")
    try:  # a name as docker takes it: by the addresses it resolves to
        ips = {ipaddress.ip_address(a[4][0]) for a in socket.getaddrinfo(name, None)}
    except (OSError, ValueError):
        return False
    cidrs = config.get("InsecureRegistryCIDRs") or []
    networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    return any(ip in n for n in networks for ip in ips)  # as dockerd decides it


def _registry_config(environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{json .RegistryConfig}}"],
            capture_output=True,
            text=True,
            env=dict(environ),
            timeout=60,
            check=True,
        )
        found: dict[str, Any] = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise EngineError(f"cannot ask the engine how it reaches registries ({exc})") from None
    return found


def allow_insecure(
    registries: Mapping[str, Registry],
    environ: MutableMapping[str, str],
    config: Callable[[Mapping[str, str]], Mapping[str, Any]] = _registry_config,
) -> list[str]:
    """The insecure registries said to the clients; UsageError when the engine would
    verify one's certificate all the same."""
    hosts = sorted(h for h, r in registries.items() if r.insecure)
    if not hosts:
        return []
    engine = config(environ)
    for host in hosts:
        if not engine_skips_tls(host, engine):
            raise UsageError(
                f"registries.{host}.insecure: the engine verifies {host}'s certificate all the "
                f'same: add "{host}" to "insecure-registries" in /etc/docker/daemon.json and '
                "reload dockerd, or give its CA (ca: FILE) instead"
            )
    listed = [h for h in environ.get(INSECURE_REGISTRIES, "").split(",") if h]
    environ[INSECURE_REGISTRIES] = ",".join(dict.fromkeys([*listed, *hosts]))
    return hosts


def trust_registries(
    registries: Mapping[str, Registry],
    state: Path,
    environ: MutableMapping[str, str],
    *,
    engine_certs: Path = ENGINE_CERTS,
) -> list[str]:
    """Each CA installed for the engine and for the Go clients (SSL_CERT_DIR set in
    `environ`); the hosts it was done for. UsageError naming the fix when the engine's
    folder cannot be written. A remote engine (DOCKER_HOST tcp:// or ssh://) reads the
    CAs on its own host: they are put there by whoever runs it."""
    cas = {host: r.ca for host, r in registries.items() if r.ca is not None}
    if not cas:
        return []
    folder = state / "certs"
    for host, ca in cas.items():
        data = ca.read_bytes()
        target = engine_certs / host / "ca.crt"
        if _local_engine(environ):  # a remote engine reads them on its own host
            try:
                _write(target, data)
            except OSError as exc:
                raise UsageError(
                    f"registries.{host}.ca: cannot write {target} ({exc.strerror or exc}), "
                    f"where the engine reads it: as root, install -D -m 644 {ca} {target}"
                ) from None
        _write(folder / f"{host.replace(':', '_')}.crt", data)
    listed = (environ.get("SSL_CERT_DIR") or SYSTEM_CERTS).split(":")
    if str(folder) not in listed:
        environ["SSL_CERT_DIR"] = ":".join([*listed, str(folder)])
    return sorted(cas)
