"""Registry lookups: what `imagetools inspect` says, read as an index or one manifest;
a missing client is an engine error, not an absent image."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from orchestrator.backend.base import RemoteImage
from orchestrator.backend.registry import RegistryUnreachable, lookup_all, remote_image
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
    assert lookup_all(["r.example/x:1"], env) == {}
    env = fake_docker(tmp_path, "docker: 'buildx' is not a docker command.", 1)
    with pytest.raises(EngineError) as info:
        lookup_all(["r.example/x:1"], env)
    assert str(info.value) == (
        "the docker buildx plugin is not installed (scripts/engine-up.sh installs it)"
    )
    with pytest.raises(EngineError) as info:
        lookup_all(["r.example/x:1"], {"PATH": str(tmp_path / "nowhere")})
    assert str(info.value).startswith("cannot run the docker client (")


class Clock:
    """Monotonic seconds that move only when sleep is called."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_registry_that_does_not_answer_is_asked_again_until_the_deadline(
    tmp_path: Path,
) -> None:
    refused = (
        'ERROR: failed to do request: Head "http://127.0.0.1:5999/v2/x/manifests/1": '
        "dial tcp 127.0.0.1:5999: connect: connection refused"
    )
    env = fake_docker(tmp_path, refused, 1)
    clock = Clock()
    with pytest.raises(RegistryUnreachable) as info:
        lookup_all(["127.0.0.1:5999/x:1"], env, wait_s=10, now=clock, sleep=clock.sleep)
    assert 10 <= clock.now < 16, "asked again until the deadline, no longer"
    assert str(info.value) == (
        "registry 127.0.0.1:5999 cannot be reached (failed to do request: Head "
        '"http://127.0.0.1:5999/v2/x/manifests/1": dial tcp 127.0.0.1:5999: connect: '
        "connection refused); asked again for 10 s; start it or fix its address, then run "
        "again (--retry-timeout waits longer)"
    )
    assert info.value.failures == {"127.0.0.1:5999/x:1": refused.removeprefix("ERROR: ")}
    clock.now = 0.0
    with pytest.raises(RegistryUnreachable):  # no wait asked: a few quick tries
        lookup_all(["127.0.0.1:5999/x:1"], env, now=clock, sleep=clock.sleep)
    assert clock.now < 2
