"""The nightly refresh on the real engine and registry: an upstream base pushed anew
under the same tag rebuilds exactly the targets built on it, pinned to its new digest;
builds before the refresh stay on the locked digest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.bases.lockfile import load_lock
from tests.e2e.hierarchy import (
    Hierarchy,
    build,
    docker,
    images_removed_after,
    labels_of,
    new_prefix,
    run_in,
    stackbake_env,
    statuses,
    write_files,
    write_mini,
)
from tests.e2e.test_build_incremental import buildkit_ran

pytestmark = pytest.mark.engine

BASE_DIGEST = "org.opencontainers.image.base.digest"


def stackbake(h: Hierarchy, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "orchestrator", *args, "-f", str(h.spec), *h.var_args()]
    return subprocess.run(
        argv,
        cwd=h.folder,
        env=stackbake_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )


def push_upstream(tmp_path: Path, ref: str, source: str, content: str) -> str:
    """Push an image FROM `source` with one file to `ref`; its digest in the registry."""
    folder = write_files(
        tmp_path / f"upstream-{content}",
        {
            "Dockerfile": f"FROM {source}\nCOPY version.txt /version.txt\n",
            "version.txt": f"{content}\n",
        },
    )
    docker(
        "buildx",
        "build",
        "--platform",
        "linux/amd64",
        "--provenance=false",
        "--tag",
        ref,
        "--push",
        str(folder),
        timeout=300,
    )
    inspected = docker("buildx", "imagetools", "inspect", ref, "--format", "{{json .Manifest}}")
    return str(__import__("json").loads(inspected)["digest"])


def test_refresh_rebuilds_exactly_the_subtree_of_a_moved_base(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    with images_removed_after(new_prefix(registry)) as prefix:
        up_a, up_b = f"{prefix}/upstream-a:1", f"{prefix}/upstream-b:1"
        first_a = push_upstream(tmp_path, up_a, seed_image, "a1")
        push_upstream(tmp_path, up_b, seed_image, "b1")
        mini = write_mini(
            tmp_path,
            prefix,
            seed_image,
            {
                "a-base": ("", f"FROM {up_a}\nRUN cp /version.txt /a-base.txt\n"),
                "a-app": ("", "ARG REG\nFROM ${REG}/a-base:1\nRUN cat /version.txt\n"),
                "b-base": ("", f"FROM {up_b}\nRUN cp /version.txt /b-base.txt\n"),
            },
        )
        first = build(mini, tag="first")
        assert first.code == 0, first.explain()
        lock = mini.folder / "builds.lock"
        assert f"builds.lock: {up_a}: locked at {first_a}" in first.out
        assert load_lock(lock).digests()[up_a] == first_a
        assert labels_of(mini.tag("a-base"))[BASE_DIGEST] == first_a

        second_a = push_upstream(tmp_path, up_a, seed_image, "a2")  # upstream moved
        assert second_a != first_a
        held = build(mini, tag="held")
        assert statuses(held) == dict.fromkeys(("a-base", "a-app", "b-base"), "up-to-date")

        forced = build(mini, "--force", "a-base", tag="forced")  # rebuilt: still the lock's
        assert statuses(forced)["a-base"] == "built", forced.explain()
        assert labels_of(mini.tag("a-base"))[BASE_DIGEST] == first_a
        assert run_in(mini.tag("a-base"), "cat /a-base.txt").strip() == "a1"

        dry = stackbake(mini, "refresh", "--dry-run")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert f"  {up_a}: {first_a} -> {second_a}" in dry.stdout.splitlines()
        assert load_lock(lock).digests()[up_a] == first_a, "a dry run wrote the lock"
        assert "b-base" not in dry.stdout

        done = stackbake(mini, "refresh", "--progress", "plain")
        assert done.returncode == 0, done.stdout + done.stderr
        assert load_lock(lock).digests()[up_a] == second_a
        assert "on a moved base: a-base, and what builds on them" in done.stdout
        assert {n for n in ("a-base", "a-app", "b-base") if buildkit_ran(mini, n)} == {
            "a-base",
            "a-app",
        }
        assert labels_of(mini.tag("a-base"))[BASE_DIGEST] == second_a
        assert run_in(mini.tag("a-app"), "cat /a-base.txt").strip() == "a2"
        assert run_in(mini.tag("b-base"), "cat /b-base.txt").strip() == "b1"
