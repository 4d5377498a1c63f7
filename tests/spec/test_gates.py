"""`gates:` and `sign:`: merged gate by gate over the defaults, a gate turned off with
false, sizes parsed and shown, paths made absolute where they belong."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.hierarchy.project import load_project
from orchestrator.spec.gates import Gates, Hadolint, Scan, Signing, parse_size, show_size
from tests.helpers import write_tree

SPEC = """\
version: 1
defaults:
  gates:
    max_size: 500MB
    labels: [maintainer]
    user: non-root
    hadolint: {threshold: warning, ignore: [DL3008]}
    scan: {scanners: [secret], severity: [CRITICAL], ignore_file: .trivyignore}
    sbom: cyclonedx
  sign: {key: keys/cosign.key, password_env: COSIGN_PASSWORD}
targets:
  app:
    context: app
    gates: {scan: false, max_size: 1GiB, healthcheck: required, structure_tests: [st.yaml]}
  plain:
    context: app
    gates: {hadolint: true, scan: true, user: false}
    sign: false
  kms:
    context: app
    sign: {key: "awskms:///alias/release"}
"""


def load(tmp_path: Path) -> dict[str, Gates | Signing | None]:
    write_tree(tmp_path, {"builds.yaml": SPEC, "app/Dockerfile": "FROM busybox:1\n"})
    targets = load_project(tmp_path / "builds.yaml").spec.targets
    return {
        **{f"{n}.gates": t.gates for n, t in targets.items()},
        **{f"{n}.sign": t.sign for n, t in targets.items()},
    }


def test_a_target_s_gates_merge_gate_by_gate_over_the_defaults(tmp_path: Path) -> None:
    got = load(tmp_path)
    app = tmp_path / "app"
    assert got["app.gates"] == Gates(
        max_size=2**30,
        labels=("maintainer",),
        user="non-root",
        healthcheck=True,
        hadolint=Hadolint("warning", ("DL3008",)),
        structure_tests=(app / "st.yaml",),
        sbom="cyclonedx",
    )
    assert got["plain.gates"] == Gates(
        max_size=500_000_000,
        labels=("maintainer",),
        hadolint=Hadolint(),
        scan=Scan(),
        sbom="cyclonedx",
    )
    assert got["kms.gates"] == Gates(
        max_size=500_000_000,
        labels=("maintainer",),
        user="non-root",
        hadolint=Hadolint("warning", ("DL3008",)),
        scan=Scan(("secret",), ("CRITICAL",), app / ".trivyignore"),
        sbom="cyclonedx",
    )


def test_sign_is_taken_whole_and_its_key_files_sit_beside_the_spec(tmp_path: Path) -> None:
    got = load(tmp_path)
    key = str(tmp_path / "keys/cosign.key")
    assert got["app.sign"] == Signing(key, "COSIGN_PASSWORD")
    assert got["app.sign"].verify_key == str(tmp_path / "keys/cosign.pub")
    assert got["plain.sign"] is None
    assert got["kms.sign"] == Signing("awskms:///alias/release")
    assert got["kms.sign"].verify_key == "awskms:///alias/release"


def test_the_gates_on_an_image_run_in_order_without_the_dockerfile_s_or_skipped_ones(
    tmp_path: Path,
) -> None:
    gates = load(tmp_path)["app.gates"]
    assert isinstance(gates, Gates)
    assert gates.names() == (
        "hadolint", "max_size", "labels", "user", "healthcheck", "structure_tests", "sbom"
    )  # fmt: skip
    assert gates.on_image(frozenset({"labels"})) == (
        "max_size", "user", "healthcheck", "structure_tests", "sbom"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("written", "size"),
    [(1024, 1024), ("500MB", 500_000_000), ("1.5 GB", 1_500_000_000), ("300MiB", 300 * 2**20),
     ("12kb", 12_000), ("7", 7)],
)  # fmt: skip
def test_sizes_are_powers_of_1000_or_1024(written: int | str, size: int) -> None:
    assert parse_size(written) == size


@pytest.mark.parametrize(
    ("size", "shown"),
    [(612_300_000, "612 MB"), (1_234_000_000, "1.2 GB"), (800_000, "800 kB"), (512, "512 B"),
     (5_500_000, "5.5 MB")],
)  # fmt: skip
def test_sizes_are_shown_as_docker_shows_them(size: int, shown: str) -> None:
    assert show_size(size) == shown
