"""A build secret reaches the RUN that mounts it, and nothing else: not stackbake's
output, logs or reports, not the image's config, history or files."""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hierarchy import (
    Hierarchy,
    Streaming,
    build,
    docker,
    fixture_tree,
    images_removed_after,
    local_images,
    new_prefix,
    run_in,
    statuses,
    write_files,
    write_mini,
)

pytestmark = pytest.mark.engine


@pytest.fixture
def tree(tmp_path: Path, registry: str, seed_image: str) -> Iterator[Hierarchy]:
    with fixture_tree(tmp_path, registry, seed_image) as h:
        yield h


def add_leaky_target(h: Hierarchy) -> None:
    """A target whose RUN prints the secret to the build output (a careless script):
    stackbake must mask it in everything it prints and writes."""
    with h.spec.open("a", encoding="utf-8") as spec:
        spec.write("  leaky:\n    context: leaky\n    secrets: [{id: token, env: E2E_TOKEN}]\n")
    write_files(
        h.folder,
        {
            "leaky/Dockerfile": f"""
                ARG REG
                FROM ${{REG}}/base:1
                RUN --mount=type=secret,id=token,required=true \\
                    echo "{h.marker} token is $(cat /run/secrets/token)" && touch /leaky
            """
        },
    )


def filesystem_bytes(image: str) -> bytes:
    """The image's whole file system as one uncompressed tar."""
    container = docker("create", image, "true").strip()
    try:
        return subprocess.run(
            ["docker", "export", container], capture_output=True, check=True, timeout=120
        ).stdout
    finally:
        docker("rm", "-f", container, check=False)


def test_secret_reaches_the_run_and_nothing_else(tree: Hierarchy) -> None:
    secret = f"e2e-secret-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    add_leaky_target(tree)
    run = build(tree, "vault", "leaky", env={"E2E_TOKEN": secret})
    assert run.code == 0, run.explain()
    assert {n: t["status"] for n, t in run.targets.items()} == {
        "base": "built",
        "vault": "built",
        "leaky": "built",
    }

    # The RUN got the secret: the image holds its hash, computed inside the build.
    assert run_in(tree.tag("vault"), "cat /etc/token.sha256").strip() == (
        hashlib.sha256(secret.encode()).hexdigest()
    )

    # stackbake's own output and files.
    texts = {"stdout": run.out, "stderr": run.err}
    state = tree.folder / ".stackbake"
    files = [*state.rglob("*"), run.report_path, run.junit_path]
    texts |= {str(p): p.read_text(encoding="utf-8") for p in files if p.is_file()}
    assert (state / "logs" / "vault.log").is_file()
    assert (state / "logs" / "leaky.log").is_file()
    leaked = [where for where, text in texts.items() if secret in text]
    assert leaked == [], f"the secret is in: {', '.join(leaked)}"
    # ... and the printed line was there, masked, not dropped.
    leaky_log = (state / "logs" / "leaky.log").read_text(encoding="utf-8")
    assert f"{tree.marker} token is ***" in leaky_log, leaky_log
    assert f"{tree.marker} token is ***" in run.out

    # The engine: config, labels and history of every image of the run, and files.
    images = local_images(tree.prefix)
    assert len(images) == 3, images
    for image in images:
        inspect = docker("image", "inspect", image)
        history = docker("history", "--no-trunc", "--format", "{{json .}}", image)
        assert secret not in inspect, f"{image}: the secret is in `docker image inspect`"
        assert secret not in history, f"{image}: the secret is in `docker history`"
        assert secret.encode() not in filesystem_bytes(image), f"{image}: a file holds it"


def test_secret_is_masked_in_the_reports_of_a_failure(tree: Hierarchy, tmp_path: Path) -> None:
    """A RUN that prints the secret and then fails: its log tail goes into the summary,
    the JUnit failure and the GitHub step summary, all masked."""
    secret = f"e2e-secret-{uuid.uuid4().hex}"
    add_leaky_target(tree)
    tree.append("leaky", "RUN exit 5\n")
    step_summary = tmp_path / "step-summary.md"
    run = build(tree, "leaky", env={"E2E_TOKEN": secret, "GITHUB_STEP_SUMMARY": str(step_summary)})
    assert run.code == 1, run.explain()
    leaky = run.targets["leaky"]
    assert (leaky["status"], leaky["phase"]) == ("failed", "build")

    failure = run.testcases()["leaky"].find("failure")
    assert failure is not None
    assert f"{tree.marker} token is ***" in (failure.text or "")
    assert f"{tree.marker} token is ***" in step_summary.read_text(encoding="utf-8")
    texts = {
        "stdout": run.out,
        "stderr": run.err,
        "junit": run.junit_path.read_text(encoding="utf-8"),
        "report": run.report_path.read_text(encoding="utf-8"),
        "step summary": step_summary.read_text(encoding="utf-8"),
        "log": (tree.folder / leaky["log"]).read_text(encoding="utf-8"),
    }
    leaked = [where for where, text in texts.items() if secret in text]
    assert leaked == [], f"the secret is in: {', '.join(leaked)}"


LEAKS = {
    # env secret, printed by the build and by its test stage
    "leak": (
        "test: test\nsecrets: [{id: token, env: E2E_TOKEN}]",
        """
        ARG BASE_IMAGE
        FROM ${BASE_IMAGE} AS main
        RUN --mount=type=secret,id=token echo "@MARKER@ build $(cat /run/secrets/token)"
        FROM main AS test
        RUN --mount=type=secret,id=token echo "@MARKER@ test $(cat /run/secrets/token)"
        FROM main
        """,
    ),
    # file secret (src), printed by the build
    "leakfile": (
        "secrets: [{id: file, src: secret.txt}]",
        """
        ARG BASE_IMAGE
        FROM ${BASE_IMAGE}
        RUN --mount=type=secret,id=file echo "@MARKER@ file $(cat /run/secrets/file)"
        """,
    ),
    # slow enough for the bake file to be read while the session runs
    "slow": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ && sleep 3\n"),
    # stops the session: what it did not finish is built again alone
    "broken": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN sleep 1 && exit 1\n"),
}


@pytest.mark.parametrize("mode", ["session", "per-target"])
def test_secrets_are_masked_in_every_way_of_building(
    tmp_path: Path, registry: str, seed_image: str, mode: str
) -> None:
    """env and src secrets, printed by builds and by a test stage, in a session (whose
    failure sends the rest to be built alone) or one by one: never in stackbake's output,
    logs, reports or bake file (read while it exists), nor in the images."""
    env_secret = f"env-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    file_secret = f"file-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = write_mini(tmp_path, prefix, seed_image, LEAKS)
        (mini.folder / "secret.txt").write_text(file_secret + "\n")
        args = ["--per-target"] if mode == "per-target" else []
        running = Streaming(mini, *args, env={"E2E_TOKEN": env_secret})
        bake_files: list[str] = []
        try:
            if mode == "session":  # the bake file, while the session runs
                logs = mini.folder / ".stackbake/logs"
                deadline = time.monotonic() + 120
                while not bake_files and time.monotonic() < deadline:
                    bake_files = [p.read_text() for p in logs.glob("_session-*.bake.json")]
                    time.sleep(0.05)
                assert bake_files, "no bake file was seen"
            run = running.finish(timeout=420)
        finally:
            running.kill()
        assert run.code == 1, run.explain()
        assert statuses(run) == {
            "leak": "built",
            "leakfile": "built",
            "slow": "built",
            "broken": "failed",
        }, run.explain()
        state = mini.folder / ".stackbake"
        texts = {"stdout": run.out, "stderr": run.err}
        texts |= {f"bake file {i}": text for i, text in enumerate(bake_files)}
        files = [*state.rglob("*"), run.report_path, run.junit_path]
        texts |= {str(p): p.read_text(encoding="utf-8") for p in files if p.is_file()}
        for secret in (env_secret, file_secret):
            leaked = [where for where, text in texts.items() if secret in text]
            assert leaked == [], f"a secret is in: {', '.join(leaked)}"
        log = (state / "logs/leak.log").read_text()
        assert f"{mini.marker} build ***" in log, log
        assert f"{mini.marker} test ***" in log, log
        assert f"{mini.marker} file ***" in (state / "logs/leakfile.log").read_text()
        if mode == "session":
            assert "id=token,env=E2E_TOKEN" in bake_files[0], "the bake file names it by reference"
            assert "[slow] the session stopped before this target was built" in run.out
        for image in local_images(prefix):
            seen = docker("image", "inspect", image) + docker("history", "--no-trunc", image)
            assert env_secret not in seen, image
            assert file_secret not in seen, image
