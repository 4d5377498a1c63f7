"""Base-image mirrors on the real registry and engine: `stackbake mirror` copies the
seed image, both platforms, by digest into a repository of the test's own and updates
builds.lock; a spec whose Dockerfiles name a registry that does not exist then builds
through `mirrors:` alone, no Dockerfile edited. `--dry-run` copies and writes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from orchestrator.backend import skopeo
from tests.e2e.hierarchy import (
    build,
    images_removed_after,
    labels_of,
    new_prefix,
    run_in,
    run_stackbake,
    statuses,
    write_mini,
)

pytestmark = pytest.mark.engine

BOTH = "platforms: [linux/amd64, linux/arm64]"
TARGETS = {
    "root": (BOTH, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ > /marker\n"),
    "leaf": (BOTH, "ARG REG\nFROM ${REG}/root:1\nRUN uname -m > /machine\n"),
}


def stackbake(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_stackbake(folder, *args)


def test_mirror_then_build_through_it(tmp_path: Path, registry: str, seed_image: str) -> None:
    seed_repository = seed_image.rsplit("/", 1)[0]  # localhost:5000/seed
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = write_mini(tmp_path, prefix, seed_image, TARGETS)
        with mini.spec.open("a") as spec:
            spec.write(f'mirrors:\n  "{seed_repository}/*": "{prefix}/mirror/*"\n')
        seed, seed_digest = skopeo.raw_manifest(seed_image)
        mirrored = f"{prefix}/mirror/{seed_image.rsplit('/', 1)[1]}"

        dry = stackbake(mini.folder, "mirror", *mini.var_args(), "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.splitlines()[0] == (
            f"{seed_image}: would copy {seed_digest[:19]} (linux/amd64, linux/arm64) to {mirrored}"
        )
        assert not (mini.folder / "builds.lock").exists()
        with pytest.raises(skopeo.SkopeoError):
            skopeo.raw_manifest(mirrored)

        done = stackbake(mini.folder, "mirror", *mini.var_args())
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            f"{seed_image}: copied {seed_digest[:19]} (linux/amd64, linux/arm64) to {mirrored}",
            f"builds.lock: updated: {seed_image}: locked at {seed_digest}",
            "1 of 1 base(s) mirrored",
        ]
        copy, copy_digest = skopeo.raw_manifest(mirrored)
        assert (copy_digest, copy) == (seed_digest, seed)
        lock = yaml.safe_load((mini.folder / "builds.lock").read_text())
        assert lock["images"][seed_image]["digest"] == seed_digest

        # The Dockerfiles now name a registry that does not exist; only mirrors: reaches it.
        upstream = "upstream.invalid/seed"
        text = mini.spec.read_text().replace(f'"{seed_repository}/*"', f'"{upstream}/*"')
        mini.spec.write_text(text)
        (mini.folder / "builds.lock").unlink()
        mini.variables["BASE_IMAGE"] = f"{upstream}/{seed_image.rsplit('/', 1)[1]}"
        run = build(mini, "--push")
        assert statuses(run) == {"root": "built", "leaf": "built"}, run.explain()
        lock = yaml.safe_load((mini.folder / "builds.lock").read_text())
        assert lock["images"][mini.variables["BASE_IMAGE"]]["digest"] == seed_digest
        labels = labels_of(f"{prefix}/root:1")
        assert labels["org.opencontainers.image.base.digest"] == seed_digest
        assert run_in(f"{prefix}/leaf:1", "cat /machine", platform="linux/arm64") == "aarch64\n"
