"""Gates, signing and verify on the real engine, with the real tools (trivy,
container-structure-test, hadolint, cosign), on both platforms (arm64 under QEMU).

One hierarchy: `good` passes every gate and is pushed, signed, its SBOMs attested;
`leaky` (on good) plants an AWS key, so its scan fails and `leaky-app` on it is blocked,
nothing of either pushed; `rooted` runs as root under `user: non-root`; `fat` is over
`max_size` on arm64 only. A Dockerfile hadolint rejects fails `validate` at its line.
Re-tagging an unsigned image under good's tag makes `verify` fail."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.hierarchy import (
    Hierarchy,
    Run,
    build,
    images_removed_after,
    new_prefix,
    run_stackbake,
    statuses,
    write_mini,
)
from tests.e2e.oci import fetch_manifest

pytestmark = pytest.mark.engine

PASSWORD_ENV = "STACKBAKE_E2E_COSIGN_PASSWORD"
PASSWORD = "e2e-cosign-password-not-for-logs"
GOOD = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
LABEL maintainer=platform@example.com
HEALTHCHECK CMD ["true"]
USER 1000
"""
BOTH = "platforms: [linux/amd64, linux/arm64]"
DEFAULTS = f"""
gates:
  max_size: 5MB
  labels: [maintainer]
  user: non-root
  healthcheck: required
  scan: {{scanners: [secret], severity: [HIGH, CRITICAL]}}
  sbom: cyclonedx
sign: {{key: cosign.key, password_env: {PASSWORD_ENV}}}
"""
TARGETS = {
    # Tags in two repositories: signed (and attested) in both.
    "good": (f'{BOTH}\ntags: ["${{REG}}/good:1", "${{REG}}/mirror/good:1"]', GOOD),
    "leaky": (
        BOTH,
        "ARG REG\nFROM ${REG}/good:1\nUSER 0:0\n"
        "RUN echo 'aws_access_key_id = AKIA2E0A8F3B244C9986' > /etc/creds && "
        "echo 'aws_secret_access_key = Nq8fRw3Qk6Xv1Lh5Ty9Zc2Bm7Pd4Sg0Jf8Hk3Wn' >> /etc/creds\n"
        "USER 1000\n",
    ),
    "leaky-app": (BOTH, "ARG REG\nFROM ${REG}/leaky:1\nRUN true\n"),
    "rooted": (BOTH, GOOD.replace("USER 1000", "USER root")),
    "fat": (
        BOTH,
        GOOD.replace("USER 1000", "ARG TARGETARCH\nUSER 0:0\n")
        + 'RUN if [ "$TARGETARCH" = arm64 ]; then dd if=/dev/urandom of=/big bs=1M count=6; fi\n'
        + "USER 1000\n",
    ),
}


def cosign(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["cosign", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def stackbake(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_stackbake(folder, *args)


def registry_has(ref: str) -> bool:
    done = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", ref],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


def test_gates_sign_verify_and_tampering(tmp_path: Path, registry: str, seed_image: str) -> None:
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = write_mini(tmp_path, prefix, seed_image, TARGETS, defaults=DEFAULTS)
        made = cosign("generate-key-pair", cwd=mini.folder, env={"COSIGN_PASSWORD": PASSWORD})
        assert made.returncode == 0, made.stderr

        run = build(mini, "--push", env={PASSWORD_ENV: PASSWORD})
        assert run.code == 1, run.explain()
        assert statuses(run) == {
            "good": "built",
            "leaky": "failed",
            "leaky-app": "blocked",
            "rooted": "failed",
            "fat": "failed",
        }, run.explain()
        the_gates_failed_where_they_should(run, mini)
        assert PASSWORD not in run.out + run.err
        good_is_signed_and_attested_in_both_repositories(mini)
        the_gates_pass_again_without_a_build(mini)
        tampering_fails_verify(mini, seed_image)


def the_gates_failed_where_they_should(run: Run, mini: Hierarchy) -> None:
    targets = run.targets
    assert targets["leaky"]["phase"] == "gate"
    assert targets["leaky"]["reason"] == (
        "scan: secret aws-access-key-id in /etc/creds (CRITICAL); secret aws-access-key-id in "
        "the image config (its history) (CRITICAL) on linux/amd64, linux/arm64"
    )
    leaks = {g["platform"] for g in targets["leaky"]["gates"] if g["result"] == "failed"}
    assert leaks == {"linux/amd64", "linux/arm64"}
    assert (
        targets["rooted"]["reason"] == "user: runs as root (USER root) on linux/amd64, linux/arm64"
    )
    assert re.fullmatch(r"max_size: 8\.\d MB > 5\.0 MB on linux/arm64", targets["fat"]["reason"])
    fat_sizes = {
        g["platform"]: g["result"] for g in targets["fat"]["gates"] if g["gate"] == "max_size"
    }
    assert fat_sizes == {"linux/amd64": "passed", "linux/arm64": "failed"}
    # Every gate ran on both platforms of good, and passed.
    good_gates = {(g["gate"], g["platform"]): g["result"] for g in targets["good"]["gates"]}
    for gate in ("max_size", "labels", "user", "healthcheck", "scan", "sbom"):
        for platform in ("linux/amd64", "linux/arm64"):
            assert good_gates[gate, platform] == "passed", (gate, platform, good_gates)
    failed_cases = {
        (case.get("classname", "").rsplit(".", 1)[-1], case.get("name"))
        for case in run.junit.iter("testcase")
        if case.find("failure") is not None
    }
    assert ("leaky", "gate scan on linux/arm64") in failed_cases, failed_cases
    assert ("fat", "gate max_size on linux/arm64") in failed_cases, failed_cases
    assert ("fat", "gate max_size on linux/amd64") not in failed_cases, failed_cases
    sbom = mini.folder / ".stackbake/reports/sbom/good/linux-arm64.cyclonedx.json"
    assert '"bomFormat": "CycloneDX"' in sbom.read_text(encoding="utf-8")
    # Nothing of a failed target, nor of the one blocked by it, reached the registry.
    for name in ("leaky", "leaky-app", "rooted", "fat"):
        assert not registry_has(mini.tag(name)), name


def good_is_signed_and_attested_in_both_repositories(mini: Hierarchy) -> None:
    verified = stackbake(mini.folder, "-f", str(mini.spec), *mini.var_args(), "verify", "good")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    mirror = mini.tag("good").replace("/good:", "/mirror/good:")
    lines = verified.stdout.splitlines()
    assert [line.split(" (sha256:")[0] for line in lines] == [
        f"good: {mini.tag('good')}",
        f"good: {mirror}",
    ], verified.stdout
    assert all(": verified: signed by " in line for line in lines), verified.stdout
    plain = cosign(
        "verify", "--key", str(mini.folder / "cosign.pub"), "--insecure-ignore-tlog=true",
        mini.tag("good"),
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    mirrored = cosign(
        "verify", "--key", str(mini.folder / "cosign.pub"), "--insecure-ignore-tlog=true",
        mirror,
    )  # fmt: skip
    assert mirrored.returncode == 0, mirrored.stderr
    _, index = fetch_manifest(mini.tag("good"))
    arm64 = [
        m["digest"]
        for m in index["manifests"]
        if m.get("platform", {}).get("architecture") == "arm64"
    ]
    attested = cosign(
        "verify-attestation", "--key", str(mini.folder / "cosign.pub"),
        "--insecure-ignore-tlog=true", "--type", "cyclonedx",
        f"{mini.tag('good').rsplit(':', 1)[0]}@{arm64[0]}",
    )  # fmt: skip
    assert attested.returncode == 0, attested.stderr


def the_gates_pass_again_without_a_build(mini: Hierarchy) -> None:
    for where in ((), ("--push",)):
        checked = stackbake(
            mini.folder, "-f", str(mini.spec), *mini.var_args(), "check", "good", *where
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"good: {mini.tag('good')}: scan: passed on linux/arm64" in checked.stdout
        assert checked.stdout.endswith("1 of 1 checked target(s) passed their gates\n")


def tampering_fails_verify(mini: Hierarchy, seed_image: str) -> None:
    """An unsigned image re-tagged under good's tag."""
    subprocess.run(
        ["docker", "buildx", "imagetools", "create", "-t", mini.tag("good"), seed_image],
        check=True,
        capture_output=True,
        timeout=120,
    )
    tampered = stackbake(mini.folder, "-f", str(mini.spec), *mini.var_args(), "verify", "good")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert tampered.stdout.startswith(f"good: {mini.tag('good')} (sha256:")
    assert "signature" in tampered.stdout


def test_a_dockerfile_hadolint_rejects_fails_validate_at_its_line(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    mini = write_mini(
        tmp_path,
        new_prefix(registry),
        seed_image,
        {
            "linted": (
                "gates: {hadolint: {threshold: error}}",
                "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nMAINTAINER me\nRUN cd /tmp\n",
            )
        },
    )
    done = stackbake(mini.folder, "-f", str(mini.spec), *mini.var_args(), "validate")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == "linted/Dockerfile:3:1: hadolint DL4000: MAINTAINER is deprecated\n"
    built = build(mini)  # a build refuses it the same way, before anything builds
    assert built.code == 2, built.explain()
    assert built.err == done.stderr
    assert not (mini.folder / ".stackbake" / "logs").exists()


def test_a_push_whose_signing_failed_moves_no_release_tag_then_or_later(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    """Wrong password: pushed under its key tag, not signed, no release tag. The next
    run finds the key and would only copy the tags: it checks the signature first and
    says how to mend it. --force builds and signs it again."""
    targets = {"lone": ("", GOOD)}
    defaults = f"sign: {{key: cosign.key, password_env: {PASSWORD_ENV}}}"
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = write_mini(tmp_path, prefix, seed_image, targets, defaults=defaults)
        made = cosign("generate-key-pair", cwd=mini.folder, env={"COSIGN_PASSWORD": PASSWORD})
        assert made.returncode == 0, made.stderr

        wrong = build(mini, "--push", env={PASSWORD_ENV: "not-the-password"}, tag="wrong")
        assert wrong.code == 1, wrong.explain()
        lone = wrong.targets["lone"]
        assert (lone["status"], lone["phase"]) == ("failed", "sign"), lone
        assert not registry_has(mini.tag("lone"))
        assert [t for t in lone["published"] if ":key-" in t], lone

        again = build(mini, "--push", env={PASSWORD_ENV: PASSWORD}, tag="again")
        assert again.code == 1, again.explain()
        lone = again.targets["lone"]
        assert (lone["status"], lone["phase"]) == ("failed", "sign"), lone
        assert lone["reason"].endswith("build it again with --force lone"), lone["reason"]
        assert not registry_has(mini.tag("lone"))

        forced = build(mini, "--push", "--force", "lone", env={PASSWORD_ENV: PASSWORD}, tag="f")
        assert forced.code == 0, forced.explain()
        assert registry_has(mini.tag("lone"))
        verified = stackbake(mini.folder, "-f", str(mini.spec), *mini.var_args(), "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "not-the-password" not in wrong.out + wrong.err + again.out + forced.out
