"""A build secret reaches the RUN that mounts it, and nothing else: not stackbake's
output, logs or reports, not the image's config, history or files."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hierarchy import (
    Hierarchy,
    build,
    docker,
    fixture_tree,
    local_images,
    run_in,
    write_files,
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
