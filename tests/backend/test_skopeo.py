"""skopeo's flags and its errors in plain words (the copies themselves are exercised on
the real registry by tests/e2e/test_bundle.py)."""

from __future__ import annotations

from orchestrator.backend.skopeo import SkopeoError, explain, tls_flags


def test_a_loopback_registry_is_plain_http_and_any_other_is_verified():
    assert tls_flags("docker://localhost:5000/a/b:1") == ["--tls-verify=false"]
    assert tls_flags("docker://127.0.0.1:5000/a/b:1", "--src-tls-verify") == [
        "--src-tls-verify=false"
    ]
    assert tls_flags("localhost:5000/a/b@sha256:" + "0" * 64) == ["--tls-verify=false"]
    assert tls_flags("docker://registry.example.com/a/b:1") == []
    assert tls_flags("oci:/tmp/layout:localhost:5000/a/b:1") == []


def test_errors_name_what_was_being_done_and_the_fix():
    fatal = (
        'time="2026-12-03T11:00:00Z" level=fatal msg="reading manifest 1 in r/a: manifest unknown"'
    )
    error = SkopeoError("read r/a:1", fatal)
    assert str(error) == "read r/a:1: reading manifest 1 in r/a: manifest unknown"
    assert error.not_found
    unauthorized = (
        'level=fatal msg="reading manifest 1 in r.example:5443/a: unauthorized: '
        'authentication required"'
    )
    assert explain(unauthorized) == (
        "reading manifest 1 in r.example:5443/a: unauthorized: authentication required (wrong "
        "or missing credentials for r.example:5443: stackbake login r.example:5443, or docker "
        "login)"
    )
    untrusted = (
        'level=fatal msg="Error parsing image name \\"docker://r.example:5443/a:1\\": pinging '
        'container registry r.example:5443: Get \\"https://r.example:5443/v2/\\": x509: '
        'certificate signed by unknown authority"'
    )
    assert explain(untrusted) == (
        'Error parsing image name "docker://r.example:5443/a:1": pinging container registry '
        'r.example:5443: Get "https://r.example:5443/v2/": x509: certificate signed by unknown '
        "authority (r.example:5443's certificate is not trusted: give its CA in the spec "
        "(registries: {r.example:5443: {ca: FILE}}))"
    )
    refused = "uploading manifest sha256:1 to https://r.example/v2/a: 405 Method Not Allowed"
    assert explain(refused).endswith(
        "(r.example refuses to write (read-only, or this user may not write there))"
    )
