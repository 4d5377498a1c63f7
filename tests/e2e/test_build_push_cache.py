"""`build --push` with a registry cache: every tag lands in the registry, and a second
(forced) build on another engine (its own store and build cache: a second CI runner)
imports the RUN layers from the registry cache instead of running them again. Nothing
of the first engine's global state is touched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.hierarchy import (
    build,
    images_removed_after,
    local_images,
    new_prefix,
    statuses,
    write_mini,
)
from tests.e2e.oci import fetch_manifest, platform_layers

pytestmark = pytest.mark.engine

CACHE = """
cache_from: ["type=registry,ref=${REG}/cache/${target}"]
cache_to: ["type=registry,ref=${REG}/cache/${target},mode=max"]
"""
RUN_PARENT = "RUN echo @MARKER@ parent && sleep 2 && echo parent > /parent.txt"
RUN_CHILD = "RUN echo @MARKER@ child && sleep 2 && cat /parent.txt > /child.txt"


def run_step(log: str, command: str) -> str:
    """The lines of the build step that runs `command`, by its `#N` number."""
    numbers = re.findall(rf"^#(\d+) \[[^\]]*\] {re.escape(command)}$", log, re.MULTILINE)
    assert numbers, f"no step {command!r} in:\n{log}"
    lines = [line for line in log.splitlines() if line.startswith(f"#{numbers[-1]} ")]
    return "\n".join(lines)


def ran(step: str, marker: str, name: str) -> bool | None:
    """Whether a RUN step executed (True: not CACHED and `sleep 2` took its time; its echo
    is not required, as BuildKit now and then drops a step's output from the progress
    stream), was taken from the cache (False: CACHED, or its layer fetched from the
    registry cache without the command's output, in well under the sleep), or is unclear
    (None)."""
    printed = re.search(rf"^#\d+ [\d.]+ {marker} {name}$", step, re.MULTILINE)
    done = re.search(r"^#\d+ DONE ([\d.]+)s$", step, re.MULTILINE)
    cached = re.search(r"^#\d+ CACHED$", step, re.MULTILINE)
    if not cached and done and float(done.group(1)) >= 2:
        return True
    if not printed and (cached or (done and float(done.group(1)) < 1.5)):
        return False
    return None


def test_push_then_rebuild_from_the_registry_cache(
    tmp_path: Path, registry: str, seed_image: str, second_engine: str
) -> None:
    with images_removed_after(new_prefix(registry), second_engine) as prefix:
        mini = write_mini(
            tmp_path,
            prefix,
            seed_image,
            {
                "parent": ("", f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\n{RUN_PARENT}\n"),
                "child": ("", f"ARG REG\nFROM ${{REG}}/parent:1\n{RUN_CHILD}\n"),
            },
            defaults=CACHE,
        )
        parent_run = RUN_PARENT.replace("@MARKER@", mini.marker)
        child_run = RUN_CHILD.replace("@MARKER@", mini.marker)

        first = build(mini, "--push", tag="first")
        assert first.code == 0, first.explain()
        assert statuses(first) == {"parent": "built", "child": "built"}
        for name in ("parent", "child"):
            _, index = fetch_manifest(mini.tag(name))
            digests = [m["digest"] for m in index.get("manifests", [])]
            # What was pushed is what was built: the registry serves the reported digest.
            response_digest = first.targets[name]["digest"]
            assert response_digest, first.targets[name]
            _, by_digest = fetch_manifest(mini.tag(name), response_digest)
            assert by_digest == index, f"{name}: the tag is not the digest stackbake reported"
            assert digests, f"{name}: no manifests in {index}"
            fetch_manifest(f"{prefix}/cache/{name}:latest")  # the cache was exported
        first_logs = {
            n: (mini.folder / f".stackbake/logs/{n}.log").read_text() for n in ("parent", "child")
        }
        for name, command in (("parent", parent_run), ("child", child_run)):
            assert ran(run_step(first_logs[name], command), mini.marker, name), "not a cold build"
        layers = {n: platform_layers(mini.tag(n), "linux/amd64") for n in ("parent", "child")}

        # Another engine: none of this test's images, none of its steps in its cache.
        assert local_images(prefix, second_engine) == []
        # Forced: their keys are in the registry, so they would be up to date otherwise.
        second = build(
            mini, "--push", "--force", "*", tag="second", env={"DOCKER_HOST": second_engine}
        )
        assert second.code == 0, second.explain()
        assert statuses(second) == {"parent": "built", "child": "built"}
        logs = {
            n: (mini.folder / f".stackbake/logs/{n}.log").read_text() for n in ("parent", "child")
        }
        for name, command in (("parent", parent_run), ("child", child_run)):
            assert f"importing cache manifest from {prefix}/cache/{name}" in logs[name], logs[name]
            step = run_step(logs[name], command)
            assert ran(step, mini.marker, name) is False, f"{name} ran again:\n{step}"
        # New images (the labels carry the run's date), on the very same layers.
        for name in ("parent", "child"):
            assert second.targets[name]["digest"] != first.targets[name]["digest"], name
            assert platform_layers(mini.tag(name), "linux/amd64") == layers[name], name
        print(
            f"\ncold push build {first.seconds:.1f} s, on the other engine {second.seconds:.1f} s; "
            f"durations {[first.targets[n]['duration_s'] for n in ('parent', 'child')]} -> "
            f"{[second.targets[n]['duration_s'] for n in ('parent', 'child')]}"
        )
