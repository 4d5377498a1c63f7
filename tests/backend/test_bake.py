"""The bake adapter without an engine: the names and the definition it writes."""

from __future__ import annotations

from pathlib import Path

from orchestrator.backend.bake import bake_argv, bake_names, definition
from orchestrator.backend.base import BuildRequest
from orchestrator.execution.status import Phase
from orchestrator.spec.model import Secret


def test_names_bake_accepts_are_kept_others_are_spelled_safely() -> None:
    assert bake_names(["base", "py-3.12", "internal", "app_1"]) == {
        "base": "base",
        "py-3.12": "t1-py-3_12",
        "internal": "t2-internal",
        "app_1": "app_1",
    }


def test_definition_links_targets_and_keeps_dollar_signs_literal(tmp_path: Path) -> None:
    base = BuildRequest("py-3.12", Phase.BUILD, tmp_path / "py", tmp_path / "py/Dockerfile")
    app = BuildRequest(
        "app",
        Phase.BUILD,
        tmp_path / "app",
        tmp_path / "app/Dockerfile.prod",
        stage="final",
        args={"GREETING": "${HOME} %{ x }"},
        labels={"k": "v"},
        tags=("r.example/app:1", "r.example/app:latest"),
        platforms=("linux/amd64", "linux/arm64"),
        cache_from=("type=registry,ref=r.example/app:cache",),
        secrets=(Secret("tok", env="TOKEN"),),
        no_cache=True,
        contexts={"alpine:3.20": "docker-image://alpine@sha256:ab"},
        links={"r.example/py:3.12": "py-3.12"},
    )
    names = bake_names(["py-3.12", "app"])
    assert definition([base, app], names) == {
        "group": {"default": {"targets": ["t0-py-3_12", "app"]}},
        "target": {
            "t0-py-3_12": {
                "context": str(tmp_path / "py"),
                "dockerfile": str(tmp_path / "py/Dockerfile"),
            },
            "app": {
                "context": str(tmp_path / "app"),
                "dockerfile": str(tmp_path / "app/Dockerfile.prod"),
                "target": "final",
                "args": {"GREETING": "$${HOME} %%{ x }"},
                "labels": {"k": "v"},
                "tags": ["r.example/app:1", "r.example/app:latest"],
                "platforms": ["linux/amd64", "linux/arm64"],
                "contexts": {
                    "r.example/py:3.12": "target:t0-py-3_12",
                    "alpine:3.20": "docker-image://alpine@sha256:ab",
                },
                "cache-from": ["type=registry,ref=r.example/app:cache"],
                "secret": ["id=tok,env=TOKEN"],
                "no-cache": True,
            },
        },
    }
    assert bake_argv(tmp_path / "b.json", tmp_path / "m.json", builder="ci", load=True) == [
        "docker",
        "buildx",
        "bake",
        "--progress=rawjson",
        "--file",
        str(tmp_path / "b.json"),
        "--builder",
        "ci",
        "--load",
        "--metadata-file",
        str(tmp_path / "m.json"),
    ]
