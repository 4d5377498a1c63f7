"""cosign against the local registry, for real: a copy of the two-platform seed image
signed by digest (the index and every manifest in it), an SBOM attested on each
platform, verified by stackbake and by plain cosign; then the tag moved to an unsigned
image, which verify must name. The key's password is never on cosign's command line."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.backend.base import RemoteImage
from orchestrator.backend.registry import lookup_all
from orchestrator.execution.cancel import CancelToken
from orchestrator.refs import parse_ref
from orchestrator.signing.cosign import attest, sign
from orchestrator.signing.verify import verify_published
from orchestrator.spec.gates import Gates, Signing
from orchestrator.spec.model import Target
from tests.e2e.hierarchy import docker, images_removed_after, new_prefix

pytestmark = pytest.mark.engine

PASSWORD_ENV = "SB_TEST_KEY_PASSWORD"
SBOM = {"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": []}


@dataclass
class Published:
    prefix: str
    tag: str  # PREFIX/app:1, a copy of the seed image
    image: RemoteImage
    signing: Signing
    password: str
    folder: Path

    @property
    def repository(self) -> str:
        return parse_ref(self.tag).repository

    def environ(self, password: str | None = None) -> dict[str, str]:
        return {**os.environ, PASSWORD_ENV: self.password if password is None else password}

    def target(self) -> Target:
        return Target(
            "shop-api",
            self.folder / "builds.yaml",
            self.folder,
            self.folder / "D",
            tags=(self.tag,),
            sign=self.signing,
            gates=Gates(sbom="cyclonedx"),
        )


@pytest.fixture
def published(tmp_path: Path, registry: str, seed_image: str) -> Iterator[Published]:
    """A key pair with a password of the test's own, and the seed copied to a repository
    no other test uses."""
    password = f"pw-{os.urandom(8).hex()}"
    subprocess.run(
        ["cosign", "generate-key-pair"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        env={**os.environ, "COSIGN_PASSWORD": password},
        timeout=60,
    )
    with images_removed_after(new_prefix(registry).replace("/e2e-", "/sign-")) as prefix:
        tag = f"{prefix}/app:1"
        docker("buildx", "imagetools", "create", "-t", tag, seed_image)
        image = lookup_all([tag], os.environ)[tag]
        signing = Signing(str(tmp_path / "cosign.key"), password_env=PASSWORD_ENV)
        yield Published(prefix, tag, image, signing, password, tmp_path)


class CosignWatch:
    """Every cosign process that names `needle`, as /proc shows it while it runs: its
    command line and whether COSIGN_PASSWORD is in its environment."""

    def __init__(self, needle: str, password: str) -> None:
        self.needle, self.password = needle, password
        self.seen: dict[int, tuple[list[str], bool]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self) -> None:
        while not self.stop.is_set():
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit() and int(entry.name) not in self.seen:
                    self.look(entry)
            time.sleep(0.002)

    def look(self, proc: Path) -> None:
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if not argv[0].endswith("cosign") or self.needle not in " ".join(argv):
                return
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            return
        self.seen[int(proc.name)] = (argv, f"COSIGN_PASSWORD={self.password}".encode() in env)

    def __enter__(self) -> CosignWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def sig_tags(tag: str) -> set[str]:
    ref = parse_ref(tag)
    with urllib.request.urlopen(f"http://{ref.domain}/v2/{ref.path}/tags/list", timeout=30) as r:
        tags: list[str] = json.load(r)["tags"]
    return {t for t in tags if t.endswith((".sig", ".att"))}


def cosign(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["cosign", *args], capture_output=True, text=True, check=False, timeout=120
    )


def sign_and_attest(pub: Published, timings: dict[str, float]) -> None:
    lines: list[str] = []
    started = time.monotonic()
    signed = sign(
        f"{pub.repository}@{pub.image.digest}",
        pub.signing,
        lines.append,
        CancelToken(),
        environ=pub.environ(),
    )
    timings["sign"] = time.monotonic() - started
    assert signed.ok, signed.reason + "\n" + "\n".join(lines)
    sbom = pub.folder / "sbom.cdx.json"
    sbom.write_text(json.dumps(SBOM))
    started = time.monotonic()
    for digest in pub.image.platforms.values():
        attested = attest(
            f"{pub.repository}@{digest}",
            pub.signing,
            lines.append,
            CancelToken(),
            predicate=sbom,
            sbom_format="cyclonedx",
            environ=pub.environ(),
        )
        assert attested.ok, attested.reason
    timings["attest"] = time.monotonic() - started
    assert pub.password not in "\n".join(lines)


def test_signed_attested_verified_and_tampering_caught(published: Published) -> None:
    pub = published
    assert sorted(pub.image.platforms) == ["linux/amd64", "linux/arm64"]
    timings: dict[str, float] = {}
    with CosignWatch(pub.repository, pub.password) as watch:
        sign_and_attest(pub, timings)
    assert len(watch.seen) >= 1, "no cosign process was seen running"
    for argv, has_password in watch.seen.values():
        assert pub.password not in " ".join(argv), argv
        assert has_password, f"cosign ran without the password in its environment: {argv}"

    # --recursive signed the index and every manifest it lists (attestation manifests too).
    index = pub.image.digest
    index_doc = json.loads(docker("buildx", "imagetools", "inspect", "--raw", pub.tag))
    listed = {m["digest"] for m in index_doc["manifests"]}
    expected = {d.replace(":", "-") + ".sig" for d in {index, *listed}}
    expected |= {d.replace(":", "-") + ".att" for d in pub.image.platforms.values()}
    assert sig_tags(pub.tag) == expected

    started = time.monotonic()
    found = verify_published([pub.target()], environ=pub.environ())
    timings["verify"] = time.monotonic() - started
    assert found.ok, found.lines()
    [line] = found.lines()
    assert line.startswith(f"shop-api: {pub.tag} ({index}): verified: ")
    public = str(pub.folder / "cosign.pub")
    plain = cosign("verify", "--key", public, "--insecure-ignore-tlog=true", pub.tag)
    assert plain.returncode == 0, plain.stderr
    for digest in pub.image.platforms.values():
        ref = f"{pub.repository}@{digest}"
        assert cosign("verify", "--key", public, "--insecure-ignore-tlog=true", ref).returncode == 0
        attested = cosign(
            "verify-attestation",
            "--key",
            public,
            "--insecure-ignore-tlog=true",
            "--type",
            "cyclonedx",
            ref,
        )
        assert attested.returncode == 0, attested.stderr
    print("\ncosign on two platforms: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))

    tamper(pub)
    moved = verify_published([pub.target()], environ=pub.environ())
    assert not moved.ok
    assert moved.exit_code == 1
    [line] = moved.lines()
    now = lookup_all([pub.tag], os.environ)[pub.tag].digest
    assert now != index
    assert line.startswith(f"shop-api: {pub.tag} ({now}): not signed (no signature found) on ")
    assert "no cyclonedx attestation" in line
    again = cosign("verify", "--key", public, "--insecure-ignore-tlog=true", pub.tag)
    assert again.returncode != 0


def tamper(pub: Published) -> None:
    """An image of the test's own (the signed image plus a layer, both platforms),
    unsigned, put under the signed tag registry side."""
    context = pub.folder / "tamper"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {pub.tag}\nCOPY extra /extra\n")
    (context / "extra").write_text(os.urandom(8).hex())
    other = f"{pub.prefix}/other:1"
    docker(
        "buildx",
        "build",
        "--provenance=false",
        "--platform",
        "linux/amd64,linux/arm64",
        "--push",
        "-t",
        other,
        str(context),
        timeout=300,
    )
    docker("buildx", "imagetools", "create", "-t", pub.tag, other)


def test_a_wrong_password_fails_clearly_and_never_shows(published: Published) -> None:
    pub = published
    wrong = f"wrong-{os.urandom(8).hex()}"
    lines: list[str] = []
    result = sign(
        f"{pub.repository}@{pub.image.digest}",
        pub.signing,
        lines.append,
        CancelToken(),
        environ=pub.environ(wrong),
    )
    assert not result.ok
    assert not result.transient
    assert "wrong password" in result.reason
    assert PASSWORD_ENV in result.reason
    shown = "\n".join([result.reason, *result.log_tail, *lines])
    assert wrong not in shown
    assert pub.password not in shown
    assert sig_tags(pub.tag) == set(), "nothing may be signed with a key not unlocked"


def test_a_signature_by_another_key_does_not_verify(published: Published) -> None:
    pub = published
    signed = sign(
        f"{pub.repository}@{pub.image.digest}",
        pub.signing,
        lambda _: None,
        CancelToken(),
        environ=pub.environ(),
    )
    assert signed.ok, signed.reason
    other = pub.folder / "other"
    other.mkdir()
    subprocess.run(
        ["cosign", "generate-key-pair"],
        cwd=other,
        check=True,
        capture_output=True,
        env={**os.environ, "COSIGN_PASSWORD": "x" * 8},
        timeout=60,
    )
    signing = Signing(pub.signing.key, PASSWORD_ENV, public_key=str(other / "cosign.pub"))
    target = pub.target()
    target = Target(
        target.name,
        target.spec_file,
        target.context,
        target.dockerfile,
        tags=target.tags,
        sign=signing,
    )
    found = verify_published([target], environ=pub.environ())
    [line] = found.lines()
    assert f"({pub.image.digest}): no signature matches " in line
    assert line.endswith(
        f"other/cosign.pub on the index, linux/amd64 ({pub.image.platforms['linux/amd64'][:19]}), "
        f"linux/arm64 ({pub.image.platforms['linux/arm64'][:19]})"
    )
