"""The image gates on the real engine: small two-platform images built FROM the seed
image into the local store (containerd), read by the real trivy and
container-structure-test (QEMU for linux/arm64). Every image is named for its test and
removed by it."""

from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.execution.status import GateResult
from orchestrator.gates.run import run_gates
from orchestrator.refs import parse_ref
from orchestrator.spec.gates import Gates, Scan
from orchestrator.spec.model import Target
from tests.gates.trivydb import ALPINE, APK, push_db, write_db

pytestmark = pytest.mark.engine
PLATFORMS = ("linux/amd64", "linux/arm64")
KEY = "AKIA" + "2E0A8F3B244C9986"  # an AWS access key id's shape, no real key
Build = Callable[..., str]


@pytest.fixture
def build(tmp_path: Path, seed_image: str, registry: str) -> Iterator[Build]:
    """build(name, steps, push=False): the image's name, built for both platforms."""
    made: list[str] = []
    prefix = f"stackbake-gates-{uuid.uuid4().hex[:10]}"

    def make(name: str, steps: str, push: bool = False) -> str:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "Dockerfile").write_text(f"FROM {seed_image}\nARG TARGETPLATFORM\n{steps}\n")
        image = f"{registry}/{prefix}/{name}:1" if push else f"{prefix}/{name}:1"
        argv = ["docker", "buildx", "build", "--platform", ",".join(PLATFORMS), "-t", image]
        made.append(image)
        done = subprocess.run(
            [*argv, str(folder)], capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        if push:  # after the build: buildx's --push and the engine's own race on the tag
            done = subprocess.run(
                ["docker", "push", image], capture_output=True, text=True, timeout=300, check=False
            )
            assert done.returncode == 0, done.stderr[-2000:]
        return image

    yield make
    for image in made:
        subprocess.run(["docker", "image", "rm", image], capture_output=True, check=False)
        if image.startswith(f"{registry}/"):
            _delete_manifest(image.rsplit(":", 1)[0], "1")


def target(tmp_path: Path, gates: Gates) -> Target:
    return Target("app", tmp_path / "b.yaml", tmp_path, tmp_path / "Dockerfile", gates=gates)


def described(results: tuple[GateResult, ...]) -> list[str]:
    return [r.describe() for r in results]


def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose trivy cache (for the default database) is empty."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "TRIVY_CACHE_DIR")}
    (tmp_path / "home").mkdir(exist_ok=True)
    return {**env, "HOME": str(tmp_path / "home")}


def test_a_planted_key_fails_the_scan_on_both_platforms(build: Build, tmp_path: Path) -> None:
    image = build("key", f'RUN echo "aws_access_key_id = {KEY}" > /etc/creds', push=True)
    gates = Gates(scan=Scan(scanners=("secret",)))
    expected = [
        f"scan: secret aws-access-key-id in /etc/creds (CRITICAL) on {p}" for p in PLATFORMS
    ]
    local = run_gates(parse_ref(image), target(tmp_path, gates), PLATFORMS)
    assert described(local) == expected
    published = run_gates(parse_ref(image), target(tmp_path, gates), PLATFORMS, registry=True)
    assert described(published) == expected  # `check` of the image in its registry


def test_over_max_size_on_arm64_only(build: Build, tmp_path: Path) -> None:
    big = 'RUN if [ "$TARGETPLATFORM" = linux/arm64 ]; then head -c 3000000 /dev/zero > /big; fi'
    image = build("size", big)
    gates = Gates(max_size=4_000_000, max_layers=3)
    results = run_gates(parse_ref(image), target(tmp_path, gates), PLATFORMS)
    assert [r.describe() for r in results if not r.passed] == [
        "max_size: 5.0 MB > 4.0 MB on linux/arm64"
    ]
    assert [r.platform for r in results if r.passed] == [
        "linux/amd64",
        "linux/amd64",
        "linux/arm64",
    ]


def test_user_root_fails_non_root(build: Build, tmp_path: Path) -> None:
    image = build("root", "USER root")
    results = run_gates(parse_ref(image), target(tmp_path, Gates(user="non-root")), PLATFORMS)
    assert described(results) == [f"user: runs as root (USER root) on {p}" for p in PLATFORMS]


CLEAN = """LABEL maintainer=platform-team org.opencontainers.image.version=1.0.0
LABEL org.opencontainers.image.base.name={seed}
RUN echo ok > /etc/ready
HEALTHCHECK CMD test -f /etc/ready
USER 1000"""

ARCH_TEST = """schemaVersion: 2.0.0
commandTests:
  - name: arch
    command: uname
    args: ["-m"]
    expectedOutput: ["aarch64"]
"""


def test_a_clean_image_passes_every_gate(
    build: Build, tmp_path: Path, seed_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    image = build("clean", CLEAN.format(seed=seed_image))
    config = tmp_path / "structure.yaml"
    config.write_text(ARCH_TEST.replace('"aarch64"', '"(x86_64|aarch64)"'))
    gates = Gates(
        max_size=50_000_000,
        max_layers=10,
        labels=("maintainer", "org.opencontainers.image.version"),
        bases=(f"{seed_image.rsplit('/', 1)[0]}/*",),
        user="non-root",
        healthcheck=True,
        structure_tests=(config,),
        scan=Scan(scanners=("secret", "misconfig")),
        sbom="cyclonedx",
    )
    reports = tmp_path / "reports"
    start = time.monotonic()
    results = run_gates(parse_ref(image), target(tmp_path, gates), PLATFORMS, reports=reports)
    took = time.monotonic() - start
    assert [r for r in results if not r.passed or r.skipped] == []
    assert len(results) == 2 * len(gates.on_image())
    sboms = sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*.json"))
    assert sboms == ["sbom/app/linux-amd64.cyclonedx.json", "sbom/app/linux-arm64.cyclonedx.json"]
    with capsys.disabled():
        print(f"\n  every gate on {image}, both platforms: {took:.1f} s")


def test_structure_tests_run_on_each_platform(build: Build, tmp_path: Path) -> None:
    image = build("arch", "RUN true")
    config = tmp_path / "structure.yaml"
    config.write_text(ARCH_TEST)
    gates = Gates(structure_tests=(config,))
    results = run_gates(parse_ref(image), target(tmp_path, gates), PLATFORMS)
    assert described(results) == [
        "structure_tests: Command Test: arch: Expected string 'aarch64' not found in output "
        "'x86_64\\n' on linux/amd64",
        "structure_tests: passed on linux/arm64",  # under QEMU
    ]


def alpine_steps() -> str:
    apk = APK.replace("\n", "\\n")
    return (
        f"RUN mkdir -p /lib/apk/db && echo {ALPINE}.1 > /etc/alpine-release && "
        f"printf '{apk}' > /lib/apk/db/installed"
    )


def test_vulnerabilities_from_a_database_folder_and_a_mirror(
    build: Build, tmp_path: Path, registry: str
) -> None:
    image = build("vuln", alpine_steps())
    db = write_db(tmp_path / "trivy-db")
    env = home(tmp_path)
    expected = [f"scan: vuln CVE-2024-1234 in openssl 3.0.1-r0 (HIGH) on {p}" for p in PLATFORMS]
    folder = Gates(scan=Scan(scanners=("vuln",), db=str(db)))
    assert described(run_gates(parse_ref(image), target(tmp_path, folder), PLATFORMS)) == expected
    repository = f"{registry}/stackbake-gates-{uuid.uuid4().hex[:10]}/trivy-db"
    mirror_ref = push_db(repository, "2", db)
    try:
        mirror = Gates(scan=Scan(scanners=("vuln",), db=mirror_ref))
        results = run_gates(parse_ref(image), target(tmp_path, mirror), PLATFORMS, environ=env)
        assert described(results) == expected
        assert list((tmp_path / "home/.cache/trivy/stackbake-mirrors").glob("*/db/trivy.db"))
    finally:
        _delete_manifest(repository, "2")


def test_vuln_without_a_database_says_what_to_give(build: Build, tmp_path: Path) -> None:
    image = build("nodb", f'RUN echo "aws_access_key_id = {KEY}" > /etc/creds')
    gates = Gates(scan=Scan(scanners=("vuln", "secret")))
    results = run_gates(
        parse_ref(image), target(tmp_path, gates), ["linux/arm64"], environ=home(tmp_path)
    )
    (result,) = results
    assert not result.passed
    assert result.findings[0].startswith(
        f"no vulnerability database in {tmp_path}/home/.cache/trivy: trivy cannot download one "
        "here; give scan: {db: FOLDER}"
    )
    assert result.findings[1:] == ("secret aws-access-key-id in /etc/creds (CRITICAL)",)


def _delete_manifest(repository: str, tag: str) -> None:
    """Best effort: a registry without deletes keeps it under its own name."""
    host, name = repository.split("/", 1)
    head = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{tag}", method="HEAD")
    kinds = ("index", "manifest")
    head.add_header("Accept", ", ".join(f"application/vnd.oci.image.{k}.v1+json" for k in kinds))
    try:
        with urllib.request.urlopen(head, timeout=10) as answer:
            digest = answer.headers["Docker-Content-Digest"]
        url = f"http://{host}/v2/{name}/manifests/{digest}"
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()
    except OSError:
        pass
