"""CI shards on two real engines that share only the registry: `stackbake matrix`
places the tree, shard 2 (on the second engine) waits for the parents shard 1 (on
this host's engine) pushes, every target is built exactly once across the two, each
child sits on the parent the other engine built, and no release tag moves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.backend.layers import remote_layers
from tests.e2e.hierarchy import (
    Hierarchy,
    Streaming,
    build,
    images_removed_after,
    new_prefix,
    statuses,
    write_mini,
)

pytestmark = pytest.mark.engine

TWO = "platforms: [linux/amd64, linux/arm64]"
TREE = {
    "base": (TWO, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ base > /base\n"),
    "rt": (TWO, "ARG REG\nFROM ${REG}/base:1\nRUN echo rt > /rt\n"),
    "app1": ("", "ARG REG\nFROM ${REG}/rt:1\nRUN echo app1 > /app1\n"),
    "app2": (TWO, "ARG REG\nFROM ${REG}/rt:1\nRUN echo app2 > /app2\n"),
    "lib": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ lib > /lib\n"),
}
# shard 1: base, rt, app1 (3 s); shard 2: lib (2 s), then app2 once rt is pushed
DURATIONS = {"base": 1.0, "rt": 1.0, "app1": 1.0, "app2": 1.0, "lib": 2.0}
SHARD = ["--durations", "durations.json"]


def matrix(h: Hierarchy) -> dict[str, object]:
    argv = [sys.executable, "-m", "orchestrator", "matrix", "-f", str(h.spec), *h.var_args()]
    done = subprocess.run(
        [*argv, "--shards", "2", *SHARD],
        cwd=h.folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def registry_has(ref: str) -> bool:
    done = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", ref],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return done.returncode == 0


def test_two_shards_on_two_engines_build_each_target_once_on_each_others_parents(
    tmp_path: Path, registry: str, seed_image: str, second_engine: str
) -> None:
    with images_removed_after(new_prefix(registry), second_engine) as prefix:
        a = write_mini(tmp_path / "a", prefix, seed_image, TREE)
        (a.folder / "durations.json").write_text(json.dumps(DURATIONS))
        b = replace(a, folder=tmp_path / "b" / "mini")  # a second checkout, another runner
        shutil.copytree(a.folder, b.folder)
        assert matrix(a)["include"] == [
            {
                "shard": "1/2",
                "targets": ["base", "rt", "app1"],
                "platforms": [],
                "needs": [],
                "estimate_s": 3.0,
            },
            {
                "shard": "2/2",
                "targets": ["lib", "app2"],
                "platforms": [],
                "needs": ["1/2"],
                "estimate_s": 3.0,
            },
        ]
        # shard 2 starts first, on engine B, and waits for rt from shard 1
        second = Streaming(
            b, "--shard", "2/2", *SHARD, "--wait", "300", env={"DOCKER_HOST": second_engine}
        )
        try:
            second.wait_for_line("from another shard", 240)
            first = build(a, "--shard", "1/2", *SHARD)
            assert first.code == 0, first.explain()
            two = second.finish(420)
        finally:
            second.kill()
        assert two.code == 0, two.explain()
        assert statuses(first) == {"base": "built", "rt": "built", "app1": "built"}
        assert statuses(two) == {
            "base": "up-to-date",
            "rt": "up-to-date",
            "lib": "built",
            "app2": "built",
        }
        keyed = {n: t["tags"][0] for n, t in two.targets.items()}
        keyed |= {n: t["tags"][0] for n, t in first.targets.items()}
        assert all(":key-" in ref for ref in keyed.values())
        # app2, built on engine B, sits on the rt engine A built, on both platforms
        env = dict(os.environ)
        rt, app2 = remote_layers(keyed["rt"], env), remote_layers(keyed["app2"], env)
        assert sorted(app2) == ["linux/amd64", "linux/arm64/v8"]
        for platform, layers in app2.items():
            assert layers[: len(rt[platform])] == rt[platform]
            assert len(layers) == len(rt[platform]) + 1
        # pushed by key only: no release tag exists until `publish`
        assert [n for n in TREE if registry_has(a.tag(n))] == []
        # a shard run again builds nothing
        again = build(a, "--shard", "1/2", *SHARD, tag="again")
        assert again.code == 0, again.explain()
        assert set(statuses(again).values()) == {"up-to-date"}


def stackbake(h: Hierarchy, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "orchestrator", args[0], "-f", str(h.spec), *h.var_args()]
    return subprocess.run(
        [*argv, *args[1:]], cwd=h.folder, capture_output=True, text=True, timeout=300, check=False
    )


def test_per_platform_shards_on_two_engines_then_publish_one_index_per_target(
    tmp_path: Path, registry: str, seed_image: str, second_engine: str
) -> None:
    tree = {n: (TWO, TREE[n][1]) for n in ("base", "rt", "app2")}
    with images_removed_after(new_prefix(registry), second_engine) as prefix:
        a = write_mini(tmp_path / "a", prefix, seed_image, tree)
        b = replace(a, folder=tmp_path / "b" / "mini")
        shutil.copytree(a.folder, b.folder)
        planned = stackbake(a, "matrix", "--shards", "2", "--split", "platforms")
        assert planned.returncode == 0, planned.stderr
        assert [(s["targets"], s["platforms"]) for s in json.loads(planned.stdout)["include"]] == [
            (["base", "rt", "app2"], ["linux/amd64"]),
            (["base", "rt", "app2"], ["linux/arm64"]),
        ]
        arm = Streaming(
            b, "--shard", "2/2", "--split", "platforms", env={"DOCKER_HOST": second_engine}
        )
        try:
            amd = build(a, "--shard", "1/2", "--split", "platforms")
            on_b = arm.finish(420)
        finally:
            arm.kill()
        assert (amd.code, on_b.code) == (0, 0), amd.explain() + on_b.explain()
        assert set(statuses(amd).values()) == set(statuses(on_b).values()) == {"built"}
        assert [n for n in tree if registry_has(a.tag(n))] == []
        published = stackbake(a, "publish")
        assert published.returncode == 0, published.stdout + published.stderr
        env = dict(os.environ)
        layers = {n: remote_layers(a.tag(n), env) for n in tree}
        for name in tree:
            assert sorted(layers[name]) == ["linux/amd64", "linux/arm64/v8"], name
        for child, parent in (("rt", "base"), ("app2", "rt")):
            for platform, own in layers[child].items():
                assert own[:-1] == layers[parent][platform], (child, platform)
        again = stackbake(a, "publish")
        assert again.returncode == 0
        assert again.stdout.count("already there") == 3


def test_a_failing_shard_and_publish_moves_nothing(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    tree = dict(TREE)
    tree["app1"] = ("", "ARG REG\nFROM ${REG}/rt:1\nRUN echo @MARKER@ && exit 3\n")
    with images_removed_after(new_prefix(registry)) as prefix:
        h = write_mini(tmp_path, prefix, seed_image, tree)
        (h.folder / "durations.json").write_text(json.dumps(DURATIONS))
        first = build(h, "--shard", "1/2", *SHARD, tag="one")
        second = build(h, "--shard", "2/2", *SHARD, tag="two")
        assert first.code == 1, first.explain()
        assert second.code == 0, second.explain()
        assert statuses(first) == {"base": "built", "rt": "built", "app1": "failed"}
        published = stackbake(h, "publish")
        assert published.returncode == 1
        assert published.stdout.splitlines() == [
            "app1: not in the registry under its key on linux/amd64",
            "held back (complete, but every target must be): base, lib, rt, app2",
            "publish: nothing moved; build what is missing, then run publish again",
        ]
        assert [n for n in tree if registry_has(h.tag(n))] == []


def test_push_atomic_on_one_engine_moves_every_release_tag_or_none(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    tree = {n: TREE[n] for n in ("base", "rt", "app1", "lib")}
    failing = "ARG REG\nFROM ${REG}/rt:1\nRUN echo @MARKER@ && exit 3\n"
    with images_removed_after(new_prefix(registry)) as prefix:
        h = write_mini(tmp_path, prefix, seed_image, {**tree, "app1": ("", failing)})
        first = build(h, "--push", "--atomic", tag="one")
        assert first.code == 1, first.explain()
        assert "atomic: no release tag moved" in first.out
        assert [n for n in tree if registry_has(h.tag(n))] == []
        h.dockerfile("app1").write_text(TREE["app1"][1])
        second = build(h, "--push", "--atomic", tag="two")
        assert second.code == 0, second.explain()
        assert statuses(second) == {
            "base": "up-to-date",
            "rt": "up-to-date",
            "lib": "up-to-date",
            "app1": "built",
        }
        assert [n for n in tree if registry_has(h.tag(n))] == list(tree)
