"""`builders:` on two real engines: linux/arm64 mapped to a docker context of the second
engine, so one `stackbake build --push` builds each platform on its own engine, pins
every child to its parent's digest of the same platform, merges one index per target and
moves the release tags; every builder is checked before anything builds."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from orchestrator.backend.layers import remote_layers
from tests.e2e.hierarchy import (
    Run,
    build,
    images_removed_after,
    new_prefix,
    write_mini,
)
from tests.e2e.oci import top_layer_file

pytestmark = pytest.mark.engine

TWO = "platforms: [linux/amd64, linux/arm64]"
# Each RUN writes the data root of the engine it ran on (/var/lib/docker or
# /var/lib/docker-b), seen in its own mount table.
WHERE = 'grep -o "/var/lib/docker[^/]*" /proc/self/mountinfo | head -1'
TREE = {
    "base": (TWO, f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nRUN echo @MARKER@; {WHERE} > /engine\n"),
    "app": (TWO, f"ARG REG\nFROM ${{REG}}/base:1\nRUN {WHERE} > /engine\n"),
}


def docker_config(tmp_path: Path, second_engine: str) -> tuple[dict[str, str], str]:
    """A docker config of the test's own, holding a context for the second engine."""
    config, name = tmp_path / "docker-config", f"e2e-b-{uuid.uuid4().hex[:8]}"
    env = {"DOCKER_CONFIG": str(config)}
    subprocess.run(
        ["docker", "context", "create", name, "--docker", f"host={second_engine}"],
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
        check=True,
    )
    return env, name


def part(run: Run, platform: str) -> dict[str, str]:
    """The statuses in the report of one platform's part (its report: the run's,
    named for the platform)."""
    path = run.report_path
    report = path.with_name(f"{path.stem}-{platform.replace('/', '-')}{path.suffix}")
    return {t["name"]: t["status"] for t in json.loads(report.read_text())["targets"]}


def test_each_platform_builds_on_its_engine_and_one_index_is_published(
    tmp_path: Path, registry: str, seed_image: str, second_engine: str
) -> None:
    env, context = docker_config(tmp_path, second_engine)
    builders = f"builders:\n  linux/arm64: {{context: {context}}}\n"
    with images_removed_after(new_prefix(registry), second_engine) as prefix:
        h = write_mini(tmp_path, prefix, seed_image, TREE)
        h.spec.write_text(h.spec.read_text().replace("defaults:\n", builders + "defaults:\n", 1))
        run = build(h, "--push", env=env)
        assert run.code == 0, run.explain()
        assert run.out.splitlines()[0] == (
            f"builders: linux/amd64 on the current builder; linux/arm64 on docker context "
            f"'{context}'"
        )
        for platform in ("linux/amd64", "linux/arm64"):
            assert part(run, platform) == {"base": "built", "app": "built"}
        # one index per target, both platforms, each child on its parent's platform image
        layers = {n: remote_layers(h.tag(n), dict(os.environ)) for n in TREE}
        for name in TREE:
            assert sorted(layers[name]) == ["linux/amd64", "linux/arm64/v8"], name
        for platform, own in layers["app"].items():
            assert own[:-1] == layers["base"][platform], platform
        # each platform was built by the engine it is mapped to
        for name in TREE:
            assert top_layer_file(h.tag(name), "linux/amd64", "engine") == "/var/lib/docker\n"
            assert top_layer_file(h.tag(name), "linux/arm64", "engine") == "/var/lib/docker-b\n"
        # run again: both parts find their keys, nothing builds, nothing moves
        again = build(h, "--push", env=env, tag="again")
        assert again.code == 0, again.explain()
        for platform in ("linux/amd64", "linux/arm64"):
            assert set(part(again, platform).values()) == {"up-to-date"}
        assert again.out.count("already there") == 2


def test_a_missing_context_and_builder_are_named_before_anything_builds(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
    missing = f"e2e-none-{uuid.uuid4().hex[:8]}"
    builders = f"builders:\n  linux/arm64: {{context: {missing}}}\n  linux/amd64: {missing}\n"
    with images_removed_after(new_prefix(registry)) as prefix:
        h = write_mini(tmp_path, prefix, seed_image, TREE)
        h.spec.write_text(h.spec.read_text().replace("defaults:\n", builders + "defaults:\n", 1))
        run = build(h, env=env)
        assert run.code == 1, run.explain()
        spec = os.path.relpath(h.spec, h.folder)
        assert run.err.splitlines() == [
            "error: ",
            f"  builders.linux/amd64 ({spec}:7): buildx builder '{missing}' not found (docker "
            f"buildx ls lists them); create it (docker buildx create --name {missing}) or "
            "name another one",
            f"  builders.linux/arm64 ({spec}:6): docker context '{missing}' not found (docker "
            f"context ls lists them); create it (docker context create {missing} --docker "
            "host=ssh://USER@HOST) or name another one",
        ]
        assert "built" not in run.out
        assert not (h.folder / ".stackbake" / "logs").exists()
