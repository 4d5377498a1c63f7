"""A private registry's CA put where the engine reads it and where the Go clients do
(SSL_CERT_DIR), once; an engine folder that cannot be written names the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.backend.certs import trust_registries
from orchestrator.errors import UsageError
from orchestrator.spec.model import Registry

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def registries(tmp_path: Path) -> dict[str, Registry]:
    (tmp_path / "ca.crt").write_text(PEM)
    return {
        "r.internal:5443": Registry("r.internal:5443", tmp_path / "ca.crt"),
        "plain.internal": Registry("plain.internal"),
    }


def test_the_ca_goes_to_the_engine_and_to_ssl_cert_dir(tmp_path: Path):
    environ: dict[str, str] = {"SSL_CERT_DIR": "/opt/certs"}
    done = trust_registries(
        registries(tmp_path), tmp_path / ".stackbake", environ, engine_certs=tmp_path / "certs.d"
    )
    assert done == ["r.internal:5443"]
    assert (tmp_path / "certs.d/r.internal:5443/ca.crt").read_text() == PEM
    assert (tmp_path / ".stackbake/certs/r.internal_5443.crt").read_text() == PEM
    assert environ["SSL_CERT_DIR"] == f"/opt/certs:{tmp_path / '.stackbake/certs'}"
    trust_registries(
        registries(tmp_path), tmp_path / ".stackbake", environ, engine_certs=tmp_path / "certs.d"
    )
    assert environ["SSL_CERT_DIR"] == f"/opt/certs:{tmp_path / '.stackbake/certs'}"  # once


def test_without_ssl_cert_dir_the_system_roots_are_kept(tmp_path: Path):
    environ: dict[str, str] = {}
    trust_registries(
        registries(tmp_path), tmp_path / "s", environ, engine_certs=tmp_path / "certs.d"
    )
    assert environ["SSL_CERT_DIR"] == f"/etc/ssl/certs:{tmp_path / 's/certs'}"


def test_a_remote_engine_is_left_alone(tmp_path: Path):
    environ = {"DOCKER_HOST": "tcp://builder:2376"}
    trust_registries(
        registries(tmp_path), tmp_path / "s", environ, engine_certs=tmp_path / "certs.d"
    )
    assert not (tmp_path / "certs.d").exists()
    assert environ["SSL_CERT_DIR"].endswith("/s/certs")


def test_an_engine_folder_that_cannot_be_written_names_the_fix(tmp_path: Path):
    (tmp_path / "certs.d").write_text("a file where a folder should be")
    with pytest.raises(UsageError) as caught:
        trust_registries(
            registries(tmp_path), tmp_path / "s", {}, engine_certs=tmp_path / "certs.d"
        )
    target = tmp_path / "certs.d/r.internal:5443/ca.crt"
    assert str(caught.value) == (
        f"registries.r.internal:5443.ca: cannot write {target} (Not a directory), where the engine "
        f"reads it: as root, install -D -m 644 {tmp_path / 'ca.crt'} {target}"
    )
