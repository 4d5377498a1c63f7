"""A private registry's CA (`registries: HOST: {ca: FILE}`) made trusted by every client
stackbake runs, before any of them reaches the registry:

- the engine and its BuildKit (pushes, `FROM` pulls, `docker login`) read
  `/etc/docker/certs.d/HOST/ca.crt` on each request; it is written there when it
  differs. BuildKit caches a registry's TLS setup per repository for minutes, so the
  file must be in place before the first build that touches it, not after a failure.
- imagetools, skopeo and cosign (Go programs) ignore that folder but read the folders
  SSL_CERT_DIR lists: the CAs are copied to `.stackbake/certs/` and that folder is
  added to SSL_CERT_DIR for every child process (the system's roots kept).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from orchestrator.errors import UsageError
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
