"""The buildx adapter's command line (no engine needed)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.backend.base import BuildRequest
from orchestrator.backend.buildx import buildx_argv
from orchestrator.execution.status import Phase
from orchestrator.spec.model import Secret


def test_argv_passes_everything_through_and_secrets_by_reference(tmp_path: Path) -> None:
    req = BuildRequest(
        target="api",
        phase=Phase.BUILD,
        context=Path("/ctx"),
        dockerfile=Path("/ctx/Dockerfile"),
        stage="runtime",
        args={"A": "1"},
        labels={"l": "v"},
        tags=("r/api:1", "r/api:latest"),
        platforms=("linux/amd64", "linux/arm64"),
        cache_from=("type=registry,ref=r/c",),
        cache_to=("type=local,dest=/c/api",),
        secrets=(Secret("tok", env="TOKEN"), Secret("netrc", src=Path("/home/u/.netrc"))),
        ssh=("default",),
        network="none",
        no_cache=True,
        pull=True,
        builder="b1",
        contexts={"r/base:1": "docker-image://r/base@sha256:ab"},
        outputs=("type=local,dest=o",),
        load=True,
    )
    assert buildx_argv(req, Path("/tmp/m.json")) == [
        "docker",
        "buildx",
        "build",
        "--progress=plain",
        "--builder",
        "b1",
        "--file",
        "/ctx/Dockerfile",
        "--target",
        "runtime",
        "--platform",
        "linux/amd64,linux/arm64",
        "--build-arg",
        "A=1",
        "--label",
        "l=v",
        "--tag",
        "r/api:1",
        "--tag",
        "r/api:latest",
        "--build-context",
        "r/base:1=docker-image://r/base@sha256:ab",
        "--cache-from",
        "type=registry,ref=r/c",
        "--cache-to",
        "type=local,dest=/c/api",
        "--secret",
        "id=tok,env=TOKEN",
        "--secret",
        "id=netrc,src=/home/u/.netrc",
        "--ssh",
        "default",
        "--network",
        "none",
        "--no-cache",
        "--pull",
        "--output",
        "type=local,dest=o",
        "--load",
        "--metadata-file",
        "/tmp/m.json",
        "/ctx",
    ]
