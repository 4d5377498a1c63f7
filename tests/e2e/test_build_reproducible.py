"""`reproducible`: two checkouts of the same tree, each built without the build cache,
give the same image on every platform (per-platform manifests, so layers and config);
without it they do not (the control)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.hierarchy import build, images_removed_after, new_prefix, statuses, write_mini
from tests.e2e.oci import fetch_manifest

pytestmark = pytest.mark.engine

TWO = "platforms: [linux/amd64, linux/arm64]"
BASE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ > /marker && mkdir /data\n"
APP = "ARG REG\nFROM ${REG}/base:1\nCOPY app.txt /data/\nRUN cat /data/app.txt > /data/seen\n"


def per_platform(image: str) -> dict[str, str]:
    _, index = fetch_manifest(image)
    return {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in index["manifests"]
        if m.get("platform", {}).get("os") != "unknown"
    }


def test_two_checkouts_built_cold_give_the_same_digests_per_platform(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    with images_removed_after(new_prefix(registry)) as prefix:
        first = write_mini(
            tmp_path / "one",
            prefix,
            seed_image,
            {"base": (TWO, BASE), "app": (TWO, APP)},
            defaults="reproducible: {epoch: 1700000000}",
        )
        (first.folder / "app/app.txt").write_text("the app\n")
        second = tmp_path / "two" / "mini"
        shutil.copytree(first.folder, second)
        other = type(first)(second, prefix, seed_image, first.marker, dict(first.variables))

        one = build(first, "--push", tag="one")
        assert statuses(one) == {"base": "built", "app": "built"}, one.explain()
        digests = {n: per_platform(first.tag(n)) for n in ("base", "app")}
        assert all(len(d) == 2 for d in digests.values()), digests

        # The other checkout, cold: no step from the build cache.
        two = build(other, "--push", "--no-cache", tag="two")
        assert statuses(two) == {"base": "built", "app": "built"}, two.explain()
        assert {n: per_platform(other.tag(n)) for n in ("base", "app")} == digests

        # The control: not reproducible, the same tree gives other images.
        three = build(other, "--push", "--no-cache", "--set", "*.reproducible=false", tag="c")
        assert statuses(three) == {"base": "built", "app": "built"}, three.explain()
        again = {n: per_platform(other.tag(n)) for n in ("base", "app")}
        assert all(again[n][p] != digests[n][p] for n in again for p in again[n]), again
