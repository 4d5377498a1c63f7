"""Registry lookups: what `imagetools inspect` says, read as an index or one manifest;
a missing client is an engine error, not an absent image."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from orchestrator.backend.base import RemoteImage
from orchestrator.backend.registry import lookup, remote_image
from orchestrator.errors import EngineError

A, B, C = ("sha256:" + x * 64 for x in "abc")


def test_an_index_lists_its_platforms_without_attestations() -> None:
    inspected = {
        "manifest": {
            "digest": A,
            "manifests": [
                {"digest": B, "platform": {"os": "linux", "architecture": "amd64"}},
                {
                    "digest": C,
                    "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                },
                {"digest": C, "platform": {"os": "unknown", "architecture": "unknown"}},
            ],
        }
    }
    assert remote_image(inspected) == RemoteImage(A, {"linux/amd64": B, "linux/arm64/v8": C})


def test_a_single_manifest_takes_its_platform_from_its_config() -> None:
    inspected = {"manifest": {"digest": A}, "image": {"os": "linux", "architecture": "amd64"}}
    assert remote_image(inspected) == RemoteImage(A, {"linux/amd64": A})


def fake_docker(tmp_path: Path, stderr: str, code: int) -> dict[str, str]:
    script = tmp_path / "docker"
    script.write_text(f"#!/bin/sh\necho '{stderr}' >&2\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": str(tmp_path)}


def test_not_found_is_an_answer_and_a_missing_plugin_an_error(tmp_path: Path) -> None:
    env = fake_docker(tmp_path, "ERROR: r.example/x:1: not found", 1)
    assert lookup("r.example/x:1", env) is None
    env = fake_docker(tmp_path, "docker: 'buildx' is not a docker command.", 1)
    with pytest.raises(EngineError) as info:
        lookup("r.example/x:1", env)
    assert str(info.value) == (
        "the docker buildx plugin is not installed (scripts/engine-up.sh installs it)"
    )
    with pytest.raises(EngineError) as info:
        lookup("r.example/x:1", {"PATH": str(tmp_path / "nowhere")})
    assert str(info.value).startswith("cannot run the docker client (")
