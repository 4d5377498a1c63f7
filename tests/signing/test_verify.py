"""`verify_published` with a fake cosign and a scripted registry: one line per release
tag, naming the tag, its digest and what failed where; unsigned targets skipped."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from orchestrator.backend.base import RemoteImage
from orchestrator.backend.registry import RegistryUnreachable
from orchestrator.signing.verify import Lookup, verify_published
from orchestrator.spec.gates import Gates, Signing
from orchestrator.spec.model import Target
from tests.signing.fake_cosign import FakeCosign

INDEX = "sha256:" + "a1" * 32
AMD64 = "sha256:" + "b2" * 32
ARM64 = "sha256:" + "c3" * 32
IMAGE = RemoteImage(INDEX, {"linux/amd64": AMD64, "linux/arm64": ARM64})
API = "localhost:5000/shop/api"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCosign:
    cosign = FakeCosign(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{cosign.path.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)  # keys are shown relative to the current folder
    (tmp_path / "cosign.key").write_text("-")
    (tmp_path / "cosign.pub").write_text("-")
    return cosign


def target(name: str, *tags: str, signed: bool = True, sbom: str | None = None) -> Target:
    sign = Signing(str(Path("cosign.key").resolve())) if signed else None
    return Target(
        name,
        Path("builds.yaml"),
        Path("."),
        Path("Dockerfile"),
        tags=tags,
        sign=sign,
        gates=Gates(sbom=sbom),
    )


def registry(images: Mapping[str, RemoteImage], down: Mapping[str, str] | None = None) -> Lookup:
    def lookup(refs: Sequence[str], environ: Mapping[str, str]) -> dict[str, RemoteImage]:
        found = {r: images[r] for r in refs if r in images}
        failures = {r: why for r, why in (down or {}).items() if r in refs}
        if failures:
            raise RegistryUnreachable(failures, 0.0, found)
        return found

    return lookup


def test_a_published_tree_that_verifies(fake: FakeCosign) -> None:
    api = target("shop-api", f"{API}:1.2", f"{API}:latest", sbom="cyclonedx")
    web = target("web", "localhost:5000/shop/web:1", signed=False)
    images = {f"{API}:1.2": IMAGE, f"{API}:latest": IMAGE}
    found = verify_published([api, web], environ=fake.environ(), lookup=registry(images))
    assert found.ok
    assert found.exit_code == 0
    assert found.lines() == [
        *(
            f"shop-api: {API}:{tag} ({INDEX}): verified: signed by cosign.pub: the index, "
            "linux/amd64, linux/arm64; cyclonedx attestation on linux/amd64, linux/arm64"
            for tag in ("1.2", "latest")
        ),
        "web: not signed by the spec, skipped",
    ]
    assert len(fake.calls()) == 5, "two tags of one image: the image is checked once"


def test_a_tag_whose_image_is_not_signed_fails_naming_it(fake: FakeCosign) -> None:
    env = fake.environ(
        FAKE_COSIGN_EXIT="12",
        FAKE_COSIGN_SAY="Error: no matching signatures: invalid signature when validating",
    )
    api = target("shop-api", f"{API}:1.2")
    found = verify_published([api], environ=env, lookup=registry({f"{API}:1.2": IMAGE}))
    assert not found.ok
    assert found.exit_code == 1
    assert found.lines() == [
        f"shop-api: {API}:1.2 ({INDEX}): no signature matches cosign.pub on the index, "
        f"linux/amd64 ({AMD64[:19]}), linux/arm64 ({ARM64[:19]})"
    ]


def test_a_missing_attestation_is_its_own_problem(fake: FakeCosign) -> None:
    env = fake.environ(
        FAKE_COSIGN_EXIT_VERIFY_ATTESTATION="1",
        FAKE_COSIGN_SAY_VERIFY_ATTESTATION="Error: no matching attestations: ",
    )
    api = target("shop-api", f"{API}:1.2", sbom="spdx-json")
    found = verify_published([api], environ=env, lookup=registry({f"{API}:1.2": IMAGE}))
    [tag] = found.targets[0].tags
    assert tag.problems == (
        f"no spdx-json attestation on linux/amd64 ({AMD64[:19]}), linux/arm64 ({ARM64[:19]})",
    )
    kinds = [argv[argv.index("--type") + 1] for argv in fake.argvs() if "--type" in argv]
    assert kinds == ["spdxjson", "spdxjson"]


def test_tags_absent_or_out_of_reach_are_said(fake: FakeCosign) -> None:
    api = target("shop-api", f"{API}:1.2", "localhost:5999/shop/api:1.2")
    lookup = registry({}, down={"localhost:5999/shop/api:1.2": "connection refused"})
    found = verify_published([api, target("bare")], environ=fake.environ(), lookup=lookup)
    assert found.lines() == [
        f"shop-api: {API}:1.2: not in the registry",
        "shop-api: localhost:5999/shop/api:1.2: registry localhost:5999 cannot be reached "
        "(connection refused)",
        "bare: signed by the spec, but has no tags, skipped",
    ]
    assert [t.transient for t in found.targets[0].tags] == [False, True]
    assert fake.calls() == []
    assert found.exit_code == 1
