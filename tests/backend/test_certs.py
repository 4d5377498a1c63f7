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


ENGINE = {
    "IndexConfigs": {
        "docker.io": {"Name": "docker.io", "Secure": True},
        "lan.internal:5000": {"Name": "lan.internal:5000", "Secure": False},
    },
    "InsecureRegistryCIDRs": ["127.0.0.0/8", "10.9.0.0/16"],
}


def test_the_engine_skips_tls_for_what_its_daemon_lists():
    from orchestrator.backend.certs import engine_skips_tls

    assert engine_skips_tls("lan.internal:5000", ENGINE)
    assert engine_skips_tls("10.9.3.4:5000", ENGINE)
    assert engine_skips_tls("localhost:5000", ENGINE)  # resolved as docker resolves it
    assert engine_skips_tls("[::1]:5000", ENGINE) is False  # ::1 is in no CIDR listed
    assert not engine_skips_tls("10.8.3.4:5000", ENGINE)
    assert not engine_skips_tls("docker.io", ENGINE)


def test_an_insecure_registry_the_engine_verifies_is_refused(tmp_path: Path):
    from orchestrator.backend.certs import allow_insecure

    environ: dict[str, str] = {}
    lan = {"lan.internal:5000": Registry("lan.internal:5000", insecure=True)}
    assert allow_insecure(lan, environ, lambda env: ENGINE) == ["lan.internal:5000"]
    assert environ == {"STACKBAKE_INSECURE_REGISTRIES": "lan.internal:5000"}
    other = {"r.internal:5443": Registry("r.internal:5443", insecure=True)}
    with pytest.raises(UsageError) as caught:
        allow_insecure(other, environ, lambda env: ENGINE)
    assert str(caught.value) == (
        "registries.r.internal:5443.insecure: the engine verifies r.internal:5443's certificate "
        'all the same: add "r.internal:5443" to "insecure-registries" in /etc/docker/daemon.json '
        "and reload dockerd, or give its CA (ca: FILE) instead"
    )


def test_skopeo_and_cosign_are_told_of_an_insecure_registry(monkeypatch: pytest.MonkeyPatch):
    from orchestrator.backend.skopeo import tls_flags
    from orchestrator.signing.commands import registry_flags

    assert tls_flags("docker://lan.internal:5000/a:1") == []
    assert registry_flags(False, "lan.internal:5000/a@sha256:1") == []
    monkeypatch.setenv("STACKBAKE_INSECURE_REGISTRIES", "lan.internal:5000")
    assert tls_flags("docker://lan.internal:5000/a:1") == ["--tls-verify=false"]
    assert registry_flags(False, "lan.internal:5000/a:1") == [
        "--allow-http-registry",
        "--allow-insecure-registry",
    ]
    assert registry_flags(False, "localhost:5000/a:1") == []  # cosign's own loopback rule
