"""cosign's command lines, its environment, its failures in plain words; and, with a
fake cosign first on PATH, that the password reaches it only as COSIGN_PASSWORD and
never a line anyone sees, and that a cancel stops it and what it started."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.backend.base import RemoteImage
from orchestrator.execution.cancel import CancelToken
from orchestrator.signing.commands import (
    attest_argv,
    child_env,
    explain,
    is_transient,
    predicate_type,
    sign_argv,
    verify_argv,
    verify_attestation_argv,
)
from orchestrator.signing.cosign import attest, sign, verify, verify_image
from orchestrator.spec.gates import Signing
from tests.signing.fake_cosign import FakeCosign

PASSWORD = "s3cret-Passw0rd-xyz"
INDEX = "sha256:" + "a1" * 32
AMD64 = "sha256:" + "b2" * 32
ARM64 = "sha256:" + "c3" * 32
REF = f"localhost:5000/t/app@{INDEX}"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCosign:
    cosign = FakeCosign(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{cosign.path.parent}{os.pathsep}{os.environ['PATH']}")
    return cosign


@pytest.fixture
def key(tmp_path: Path) -> Signing:
    (tmp_path / "cosign.key").write_text("not read by the fake\n")
    (tmp_path / "cosign.pub").write_text("not read by the fake\n")
    return Signing(str(tmp_path / "cosign.key"), password_env="MY_KEY_PASSWORD")


def test_sign_is_offline_recursive_and_by_digest() -> None:
    assert sign_argv("cosign", REF, "k.key") == [
        *("cosign", "sign", "--key", "k.key", "--tlog-upload=false", "--yes", "--recursive"),
        REF,
    ]
    insecure = sign_argv("cosign", REF, "k.key", insecure=True)
    assert insecure[-3:] == ["--allow-http-registry", "--allow-insecure-registry", REF]


def test_verifying_ignores_the_transparency_log() -> None:
    assert verify_argv("cosign", REF, "k.pub") == [
        *("cosign", "verify", "--key", "k.pub", "--insecure-ignore-tlog=true"),
        *("--output", "text", REF),
    ]
    argv = verify_attestation_argv("cosign", REF, "k.pub", "spdxjson")
    assert argv[:5] == [
        "cosign",
        "verify-attestation",
        "--key",
        "k.pub",
        "--insecure-ignore-tlog=true",
    ]
    assert argv[5:7] == ["--type", "spdxjson"]
    assert argv[-1] == REF


def test_attest_names_the_predicate_and_its_type(tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.json"
    argv = attest_argv("cosign", REF, "k.key", sbom, "cyclonedx")
    assert argv[:6] == ["cosign", "attest", "--key", "k.key", "--tlog-upload=false", "--yes"]
    assert argv[6:10] == ["--type", "cyclonedx", "--predicate", str(sbom)]
    assert argv[-1] == REF
    assert [predicate_type(f) for f in ("cyclonedx", "spdx-json")] == ["cyclonedx", "spdxjson"]
    with pytest.raises(ValueError, match="xml"):
        predicate_type("xml")


def test_the_password_is_cosign_password_and_the_rest_of_the_environment_kept() -> None:
    signing = Signing("k.key", password_env="MINE")
    env, secret = child_env(signing, {"MINE": PASSWORD, "HOME": "/h", "COSIGN_PASSWORD": "old"})
    assert env == {"MINE": PASSWORD, "HOME": "/h", "COSIGN_PASSWORD": PASSWORD}
    assert secret == PASSWORD
    with pytest.raises(KeyError):
        child_env(signing, {"HOME": "/h"})
    inherited, _ = child_env(Signing("k.key"), {"COSIGN_PASSWORD": "given"})
    assert inherited["COSIGN_PASSWORD"] == "given"
    assert child_env(Signing("k.key"), {})[0] == {"COSIGN_PASSWORD": ""}  # never a prompt


def test_the_password_goes_by_environment_only_and_is_masked_everywhere(
    fake: FakeCosign, key: Signing, tmp_path: Path
) -> None:
    lines: list[str] = []
    log = tmp_path / "sign.log"
    said = {"FAKE_COSIGN_SAY": "unlocking with PASSWORD|Pushing signature to: x"}
    environ = fake.environ(MY_KEY_PASSWORD=PASSWORD, KEEP_ME="kept", **said)
    result = sign(REF, key, lines.append, CancelToken(), environ=environ, log_file=log)
    assert result.ok, result.reason
    assert result.digest == INDEX
    [call] = fake.calls()
    assert call["password"] == PASSWORD
    assert call["kept"] == "kept"
    assert PASSWORD not in " ".join(fake.argvs()[0])
    assert lines == ["unlocking with ***", "Pushing signature to: x"]
    assert result.log_tail == tuple(lines)
    assert PASSWORD not in log.read_text()


def test_a_wrong_password_is_said_plainly_and_masked(fake: FakeCosign, key: Signing) -> None:
    error = "Error: signing [x]: getting signer: reading key: decrypt: encrypted: decryption failed"
    said = {"FAKE_COSIGN_SAY": f"{error} (PASSWORD)", "FAKE_COSIGN_EXIT": "1"}
    environ = fake.environ(MY_KEY_PASSWORD=PASSWORD, **said)
    result = sign(REF, key, lambda _: None, CancelToken(), environ=environ)
    assert not result.ok
    assert not result.transient
    assert result.reason.startswith(f"sign {REF}: cannot decrypt ")
    assert "wrong password" in result.reason
    assert result.reason.endswith("the password is read from MY_KEY_PASSWORD")
    assert PASSWORD not in result.reason + "\n".join(result.log_tail)


def test_what_cosign_cannot_do_is_refused_before_it_runs(
    fake: FakeCosign, key: Signing, tmp_path: Path
) -> None:
    environ = fake.environ(MY_KEY_PASSWORD=PASSWORD)
    by_tag = sign("localhost:5000/t/app:1", key, lambda _: None, CancelToken(), environ=environ)
    assert "not a reference by digest" in by_tag.reason
    no_password = sign(REF, key, lambda _: None, CancelToken(), environ=fake.environ())
    assert (
        no_password.reason == f"sign {REF}: the key's password variable MY_KEY_PASSWORD is not set"
    )
    missing = tmp_path / "absent.json"
    no_sbom = attest(
        REF,
        key,
        lambda _: None,
        CancelToken(),
        predicate=missing,
        sbom_format="cyclonedx",
        environ=environ,
    )
    assert "no SBOM file" in no_sbom.reason
    no_key = verify(REF, str(tmp_path / "other.pub"), lambda _: None, CancelToken())
    assert no_key.reason == f"verify {REF}: no public key {tmp_path / 'other.pub'}"
    cancelled = CancelToken()
    cancelled.cancel()
    assert sign(REF, key, lambda _: None, cancelled, environ=environ).cancelled
    assert fake.calls() == []


def test_a_cancel_stops_cosign_and_everything_it_started(fake: FakeCosign, key: Signing) -> None:
    cancel = CancelToken()
    environ = fake.environ(MY_KEY_PASSWORD=PASSWORD, FAKE_COSIGN_SLEEP="1")
    results = []
    thread = threading.Thread(
        target=lambda: results.append(sign(REF, key, lambda _: None, cancel, environ=environ))
    )
    thread.start()
    for _ in range(200):
        if fake.sleeper_alive():
            break
        time.sleep(0.05)
    assert fake.sleeper_alive(), "the fake cosign did not start its child"
    started = time.monotonic()
    cancel.cancel()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert results[0].cancelled
    assert time.monotonic() - started < 10
    assert not fake.sleeper_alive(), "cosign's child outlived the cancel"


def test_an_image_is_verified_whole(fake: FakeCosign, key: Signing) -> None:
    image = RemoteImage(INDEX, {"linux/amd64": AMD64, "linux/arm64": ARM64})
    checks = verify_image(
        "localhost:5000/t/app",
        image,
        "absent.pub",
        lambda _: None,
        CancelToken(),
        sbom_format="spdx-json",
        environ=fake.environ(),
    )
    # A key file that is not there: every part says so, and no cosign runs.
    assert [c.result.reason for c in checks] == ["no public key absent.pub"] * 5
    assert fake.calls() == []
    pub = Path(key.verify_key)
    checks = verify_image(
        "localhost:5000/t/app",
        image,
        str(pub),
        lambda _: None,
        CancelToken(),
        sbom_format="spdx-json",
        environ=fake.environ(),
    )
    assert all(c.result.ok for c in checks)
    assert [(c.where, c.digest, c.sbom_format) for c in checks] == [
        ("the index", INDEX, None),
        ("linux/amd64", AMD64, None),
        ("linux/arm64", ARM64, None),
        ("linux/amd64", AMD64, "spdx-json"),
        ("linux/arm64", ARM64, "spdx-json"),
    ]
    ran = [(argv[1], argv[-1]) for argv in fake.argvs()]
    assert ran == [
        ("verify", f"localhost:5000/t/app@{INDEX}"),
        ("verify", f"localhost:5000/t/app@{AMD64}"),
        ("verify", f"localhost:5000/t/app@{ARM64}"),
        ("verify-attestation", f"localhost:5000/t/app@{AMD64}"),
        ("verify-attestation", f"localhost:5000/t/app@{ARM64}"),
    ]
    single = verify_image(
        "localhost:5000/t/one",
        RemoteImage(AMD64, {"linux/amd64": AMD64}),
        str(pub),
        lambda _: None,
        CancelToken(),
        environ=fake.environ(),
    )
    assert [(c.where, c.digest) for c in single] == [("linux/amd64", AMD64)]


# What cosign 2.5.0 prints, as seen against the local registry.
@pytest.mark.parametrize(
    ("printed", "kind", "said"),
    [
        (
            "Error: no matching signatures: invalid signature when validating ASN.1 encoded"
            " signature",
            None,
            "no signature matches cosign.pub",
        ),
        ("Error: no signatures found", None, "not signed (no signature found)"),
        (
            "Error: none of the attestations matched the predicate type: spdxjson, found:"
            " https://cyclonedx.org/bom",
            "spdx-json",
            "no spdx-json attestation (found: https://cyclonedx.org/bom)",
        ),
        (
            "Error: no matching attestations: accepted signatures do not match threshold,"
            " Found: 0, Expected 1",
            "cyclonedx",
            "no cyclonedx attestation matches cosign.pub",
        ),
        ("Error: no matching attestations: ", "cyclonedx", "no cyclonedx attestation"),
        (
            "Error: loading public key: open nothere.pub: no such file or directory",
            None,
            "loading public key: open nothere.pub: no such file or directory",
        ),
    ],
)
def test_cosign_failures_in_plain_words(printed: str, kind: str | None, said: str) -> None:
    lines = ["WARNING: Skipping tlog verification is an insecure practice", printed]
    lines.append("error during command execution: " + printed.removeprefix("Error: "))
    assert explain(lines, key="cosign.pub", kind=kind) == said


@pytest.mark.parametrize(
    ("line", "transient"),
    [
        (
            'Get "https://h:1/v2/": dial tcp 127.0.0.1:5001: connect: connection refused',
            True,
        ),
        (
            "GET http://x/v2/a/manifests/a.sig: unexpected status code 503 Service Unavailable",
            True,
        ),
        ("GET http://x/v2/a/manifests/y: unexpected status code 500 Internal Server Error", True),
        ("GET http://x/v2/a/manifests/y: unexpected status code 429 Too Many Requests", True),
        ("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer", True),
        ("Error: no matching signatures: invalid signature", False),
        ("getting signer: reading key: decrypt: encrypted: decryption failed", False),
        ("MANIFEST_UNKNOWN: manifest unknown", False),
    ],
)
def test_the_registry_failing_is_transient(line: str, transient: bool) -> None:
    assert is_transient([line]) is transient


class _Unavailable(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/v2/" else 503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def unavailable_registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("cosign") is None, reason="cosign is not installed")
def test_the_real_cosign_against_a_registry_that_answers_503_is_transient(
    tmp_path: Path, unavailable_registry: str
) -> None:
    subprocess.run(
        ["cosign", "generate-key-pair"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
    )
    ref = f"{unavailable_registry}/t/app@{AMD64}"
    result = verify(ref, str(tmp_path / "cosign.pub"), lambda _: None, CancelToken())
    assert not result.ok
    assert result.transient, result.reason
    assert "503" in result.reason
    signing = Signing(str(tmp_path / "cosign.key"), password_env="MY_KEY_PASSWORD")
    signed = sign(
        ref,
        signing,
        lambda _: None,
        CancelToken(),
        environ={**os.environ, "MY_KEY_PASSWORD": PASSWORD},
    )
    assert (signed.ok, signed.transient) == (False, True), signed.reason
