"""Signing in the push phase, with a fake cosign and the fake registry: in each other
repository of the target's tags first (its key tag copied there), then in the first; in
each the SBOMs attested before the signature, so the first repository's signature (what
a later run checks before moving release tags) means everything was done."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.backend.fake import FakeBackend
from orchestrator.build.sealing import Sealer
from orchestrator.execution.cancel import CancelToken
from orchestrator.spec.gates import Gates, Signing
from orchestrator.spec.model import Target
from tests.signing.fake_cosign import FakeCosign

DIGEST = "sha256:" + "d" * 64
AMD, ARM = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCosign:
    cosign = FakeCosign(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{cosign.path.parent}{os.pathsep}{os.environ['PATH']}")
    return cosign


def setup(tmp_path: Path) -> tuple[FakeBackend, Sealer]:
    (tmp_path / "cosign.key").write_text("not read by the fake\n")
    target = Target(
        "app",
        tmp_path / "builds.yaml",
        tmp_path,
        tmp_path / "Dockerfile",
        tags=("r.example/a/app:1", "r.example/b/app:1"),
        gates=Gates(sbom="cyclonedx"),
        sign=Signing(str(tmp_path / "cosign.key"), "PW"),
    )
    backend = FakeBackend()
    for repo in ("r.example/a/app", "r.example/b/app"):
        backend.registry[f"{repo}@{DIGEST}"] = DIGEST
    backend.registry["r.example/a/app:key-k"] = DIGEST
    backend.platforms[DIGEST] = {"linux/amd64": AMD, "linux/arm64": ARM}
    sboms = {p: tmp_path / f"{p.replace('/', '-')}.json" for p in ("linux/amd64", "linux/arm64")}
    for path in sboms.values():
        path.write_text("{}")
    return backend, Sealer(backend, target, sboms, "r.example/a/app:key-k")


def what(argv: list[str]) -> tuple[str, str]:
    return argv[1], argv[-1]


def test_other_repositories_first_and_attestations_before_signatures(
    tmp_path: Path, fake: FakeCosign
) -> None:
    backend, seal = setup(tmp_path)
    environ = fake.environ(PW="secret")
    seal = Sealer(backend, seal.target, seal.sbom_files, seal.key_tag, environ)
    result = seal(f"r.example/a/app@{DIGEST}", lambda line: None, CancelToken())
    assert result.ok, result.reason
    assert [what(a) for a in fake.argvs()] == [
        ("attest", f"r.example/b/app@{AMD}"),
        ("attest", f"r.example/b/app@{ARM}"),
        ("sign", f"r.example/b/app@{DIGEST}"),
        ("attest", f"r.example/a/app@{AMD}"),
        ("attest", f"r.example/a/app@{ARM}"),
        ("sign", f"r.example/a/app@{DIGEST}"),
    ]
    assert ("copy", f"r.example/a/app@{DIGEST} -> r.example/b/app:key-k", 1) in backend.calls


def test_a_failure_in_another_repository_leaves_the_first_unsigned(
    tmp_path: Path, fake: FakeCosign
) -> None:
    backend, seal = setup(tmp_path)
    environ = fake.environ(PW="secret", FAKE_COSIGN_EXIT_SIGN="1")
    seal = Sealer(backend, seal.target, seal.sbom_files, seal.key_tag, environ)
    result = seal(f"r.example/a/app@{DIGEST}", lambda line: None, CancelToken())
    assert not result.ok
    assert [what(a) for a in fake.argvs()][-1] == ("sign", f"r.example/b/app@{DIGEST}")
    assert not [a for a in fake.argvs() if a[-1].startswith("r.example/a/")]


def test_a_registry_that_does_not_answer_is_a_transient_failure_not_a_crash(
    tmp_path: Path, fake: FakeCosign
) -> None:
    backend, seal = setup(tmp_path)
    backend.down.add("r.example")
    seal = Sealer(backend, seal.target, seal.sbom_files, None, fake.environ(PW="secret"))
    result = seal(f"r.example/a/app@{DIGEST}", lambda line: None, CancelToken())
    assert (result.ok, result.transient) == (False, True)
    assert "r.example" in result.reason
