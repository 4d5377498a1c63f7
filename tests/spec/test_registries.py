"""`registries:`: a CA that is missing or not a certificate, and a host configured in
two files, each at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli, write_tree

SPEC = (
    "version: 1\n{include}registries:\n  r.internal:5443: {{ca: {ca}}}\n"
    "targets:\n  a: {{context: .}}\n"
)


@pytest.mark.parametrize(
    ("ca", "files", "message"),
    [
        (
            "certs/ca.crt",
            {},
            "builds.yaml:3:20: registries.r.internal:5443: ca {root}/certs/ca.crt: "
            "no such file; give the CA's PEM file",
        ),
        (
            "ca.crt",
            {"ca.crt": "not a certificate\n"},
            "builds.yaml:3:20: registries.r.internal:5443: "
            "ca {root}/ca.crt: not a PEM certificate (no -----BEGIN CERTIFICATE----- line)",
        ),
    ],
)
def test_a_bad_ca_is_named_at_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ca: str,
    files: dict[str, str],
    message: str,
):
    spec = SPEC.format(include="", ca=ca)
    write_tree(tmp_path, {"builds.yaml": spec, "Dockerfile": "FROM alpine\n", **files})
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    assert (result.code, result.err.strip()) == (2, message.format(root=tmp_path))


def test_a_host_configured_twice_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    write_tree(
        tmp_path,
        {
            "builds.yaml": SPEC.format(include="include: [more.yaml]\n", ca="ca.crt"),
            "more.yaml": (
                "version: 1\nregistries:\n  r.internal:5443: {ca: ca.crt}\n"
                "targets:\n  b: {context: .}\n"
            ),
            "ca.crt": pem,
            "Dockerfile": "FROM alpine\n",
        },
    )
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    assert result.code == 2
    assert result.err.strip() == (
        "more.yaml:3:20: registries.r.internal:5443: r.internal:5443 is already configured at "
        "builds.yaml:4; keep one"
    )
