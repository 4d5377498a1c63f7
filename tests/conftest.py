"""Fixtures for tests that need the real engine (mark them `engine`): Docker with
buildx, the local registry and the seed image, as scripts/engine-up.sh and
scripts/seed-image.sh provide them. When one does not answer, those tests are
skipped locally but fail under CI (the CI variable set), so CI cannot pass by
skipping them."""

from __future__ import annotations

import os
import subprocess
import urllib.request
from pathlib import Path
from typing import NoReturn

import pytest

from tests.e2e.oci import has_index

ROOT = Path(__file__).resolve().parent.parent


def _unavailable(what: str) -> NoReturn:
    hint = "run scripts/engine-up.sh and scripts/seed-image.sh (or scripts/bootstrap.sh)"
    if os.environ.get("CI", "") not in ("", "0", "false"):
        pytest.fail(f"engine tests cannot run under CI: {what}; {hint}", pytrace=False)
    pytest.skip(f"no engine: {what}; {hint}")


def _run(*cmd: str) -> str | None:
    """stdout of cmd, or None when it fails or cannot start."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


@pytest.fixture(scope="session")
def registry() -> str:
    """host:port of the local registry: $STACKBAKE_REGISTRY, else the scripts' default."""
    address = _run("bash", "-c", f". '{ROOT}/scripts/lib.sh' && echo $STACKBAKE_REGISTRY")
    assert address, "scripts/lib.sh did not name the registry"
    return address.strip()


@pytest.fixture(scope="session")
def engine(registry: str) -> str:
    """The engine's version, once the engine, buildx and the registry all answer."""
    version = _run("docker", "info", "--format", "{{.ServerVersion}}")
    if version is None:
        _unavailable("`docker info` fails")
    if _run("docker", "buildx", "version") is None:
        _unavailable("`docker buildx version` fails")
    try:
        urllib.request.urlopen(f"http://{registry}/v2/", timeout=10).close()
    except OSError as err:
        _unavailable(f"registry http://{registry}/v2/ does not answer ({err})")
    return version.strip()


SECOND_ENGINE = "unix:///var/run/docker-b.sock"


def _start(script: str, what: str, *, timeout: float) -> str:
    """scripts/SCRIPT run (it starts WHAT, or finds it running); its standard output."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        _unavailable(f"{what} does not start: {done.stderr.strip()[-300:]}")
    return done.stdout


@pytest.fixture(scope="session")
def second_engine(engine: str) -> str:
    """DOCKER_HOST of a second, independent engine on this host (scripts/second-engine.sh
    starts it): its own store and build cache; the registry is shared."""
    _start("second-engine.sh", "the second engine", timeout=180)
    return SECOND_ENGINE


@pytest.fixture(scope="session")
def seed_image(engine: str, registry: str) -> str:
    """The offline two-platform base image, checked to be in the registry."""
    image = f"{registry}/seed/busybox:1.35"
    if not has_index(image):
        _unavailable(f"{image} is not in the registry")
    return image


@pytest.fixture(scope="session")
def secure_registry(engine: str) -> dict[str, str]:
    """A private registry (scripts/secure-registry.sh): TLS from a private CA and
    htpasswd auth; beside it a read-only one and one whose certificate another CA
    signed. SECURE_REGISTRY, _READONLY, _UNTRUSTED, _CA, _USER, _PASSWORD_FILE."""
    said = _start("secure-registry.sh", "the private registry", timeout=120)
    pairs = (line.split("=", 1) for line in said.splitlines() if "=" in line)
    return dict(pairs)
