"""Failures on the real engine: a failed target blocks its descendants and nothing else;
a failed test stage publishes nothing; --fail-fast starts nothing new."""

from __future__ import annotations

import re
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hierarchy import (
    ALL_TARGETS,
    TEST_STAGE_ECHO,
    Hierarchy,
    Run,
    build,
    fixture_tree,
    images_removed_after,
    local_images,
    new_prefix,
    statuses,
    summary_of,
    write_mini,
)
from tests.e2e.oci import fetch_manifest

pytestmark = pytest.mark.engine


@pytest.fixture
def tree(tmp_path: Path, registry: str, seed_image: str) -> Iterator[Hierarchy]:
    with fixture_tree(tmp_path, registry, seed_image) as h:
        yield h


def in_registry(image: str) -> bool:
    try:
        fetch_manifest(image)
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return False
        raise
    return True


def check_blocked_log(tree: Hierarchy, run: Run, *, per_target: bool) -> None:
    """worker, blocked, has no log of its own built alone; in a session BuildKit began on
    it, but none of its steps could finish. And bake's cancelled targets were built alone."""
    worker_log = tree.folder / ".stackbake/logs/worker.log"
    if per_target:
        assert not worker_log.exists()
        return
    assert "exporting to image" not in worker_log.read_text(encoding="utf-8")
    stopped = "the session stopped before this target was built: building it alone"
    alone = [n for n in ALL_TARGETS if f"[{n}] {stopped}" in run.out]
    assert alone, "bake cancelled nobody: the test shows no failure isolation"


@pytest.mark.parametrize("per_target", [False, True], ids=["session", "per-target"])
def test_a_failure_blocks_its_descendants_only(
    tree: Hierarchy, tmp_path: Path, per_target: bool
) -> None:
    # tools (level 1) fails; worker builds on it; everything else is independent of it.
    # In a session bake cancels the rest at the failure: they must still be built.
    tree.append("tools", "RUN echo about to fail && exit 3\n")
    # solo is still running when tools fails (by seconds): bake cancels it, and it must
    # be built alone.
    tree.append("solo", "RUN sleep 4\n")
    step_summary = tmp_path / "step-summary.md"
    flags = ["--per-target"] if per_target else []
    run = build(tree, *flags, env={"GITHUB_STEP_SUMMARY": str(step_summary)})
    assert run.code == 1, run.explain()

    expected = dict.fromkeys(ALL_TARGETS, "built") | {"tools": "failed", "worker": "blocked"}
    assert statuses(run) == expected, run.explain()
    targets = run.targets
    tools, worker = targets["tools"], targets["worker"]
    assert tools["phase"] == "build"
    assert tools["digest"] is None
    assert tools["attempts"] == 1, "a RUN that exits non-zero is not worth a retry"
    assert "exit code: 3" in tools["reason"], tools
    assert worker["blocked_by"] == ["tools"]
    assert worker["started"] is None, "a blocked target never starts"
    check_blocked_log(tree, run, per_target=per_target)
    report = run.report
    assert report["result"] == "failed"
    assert report["counts"] == {
        "failed": 1,
        "blocked": 1,
        "cancelled": 0,
        "built": 7,
        "up-to-date": 0,
    }

    # JUnit: a failure with the log tail for tools, skipped for worker.
    suite = run.junit.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("9", "1", "1")
    cases = run.testcases()
    failure = cases["tools"].find("failure")
    assert failure is not None
    assert failure.get("type") == "build"
    assert "exit code: 3" in (failure.get("message") or "")
    assert "about to fail" in (failure.text or ""), "the failure carries no log tail"
    skipped = cases["worker"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "blocked by tools"
    for name in set(ALL_TARGETS) - {"tools", "worker"}:
        assert cases[name].find("failure") is None, name
        assert cases[name].find("skipped") is None, name

    # The summary names the failure, shows its log tail and what it blocked.
    summary = summary_of(run.out)
    assert re.search(r"^tools\s+failed\s+build\s", summary, re.MULTILINE), summary
    assert re.search(r"^worker\s+blocked\s", summary, re.MULTILINE), summary
    assert "tools failed in build:" in summary
    assert "about to fail" in summary
    assert "full log: .stackbake/logs/tools.log" in summary
    assert "tools failed and blocked 1 target: worker" in summary
    assert "1 failure blocked 1 target" in summary
    assert "Done: 1 failed, 1 blocked, 7 built in " in summary

    markdown = step_summary.read_text(encoding="utf-8")
    assert markdown.startswith("### stackbake: Done: 1 failed, 1 blocked, 7 built in ")
    assert "| `worker` | ⛔ blocked by tools |" in markdown


@pytest.mark.parametrize(
    "publish",
    [
        ["--push"],
        # An output that publishes is built locally and pushed by stackbake, after the
        # test stage (it once published before the test ran).
        pytest.param(["--output", "type=registry"], id="output-registry"),
        pytest.param(["--output", "type=image,push=true"], id="output-image-push"),
    ],
    ids=lambda p: "-".join(p) if isinstance(p, list) else str(p),
)
def test_a_failed_test_stage_publishes_nothing(tree: Hierarchy, publish: list[str]) -> None:
    # The test stage of `checked` fails; its main build succeeded before that.
    dockerfile = tree.dockerfile("checked")
    text = dockerfile.read_text(encoding="utf-8")
    dockerfile.write_text(text.replace("| grep -q checked-ok", "| grep -q checked-ok && exit 4"))
    run = build(tree, "service", *publish)
    assert run.code == 1, run.explain()

    assert statuses(run) == {
        "base": "built",
        "checked": "failed",
        "vault": "built",
        "service": "blocked",
    }
    checked = run.targets["checked"]
    assert checked["phase"] == "test", checked
    assert "exit code: 4" in checked["reason"], checked
    assert checked["digest"] is None
    assert run.targets["service"]["blocked_by"] == ["checked"]
    log = (tree.folder / checked["log"]).read_text(encoding="utf-8")
    assert TEST_STAGE_ECHO in log, "the test stage did not run"
    failure = run.testcases()["checked"].find("failure")
    assert failure is not None
    assert failure.get("type") == "test"
    assert re.search(r"^checked\s+failed\s+test\s", summary_of(run.out), re.MULTILINE)

    # Nothing of checked (or of service) reached the registry; the rest did.
    assert not in_registry(tree.tag("checked")), "an image whose tests failed was pushed"
    assert not in_registry(tree.tag("service"))
    assert in_registry(tree.tag("base"))
    assert in_registry(tree.tag("vault"))
    assert "[checked] pushing" not in run.out


def test_fail_fast_starts_nothing_after_a_failure(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    # Two independent branches; with -j 1 the longer one (a1 -> a2 -> a3) goes first,
    # and a1 fails.
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = write_mini(
            tmp_path,
            prefix,
            seed_image,
            {
                "a1": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ && exit 3\n"),
                "a2": ("", "ARG REG\nFROM ${REG}/a1:1\nRUN echo a2\n"),
                "a3": ("", "ARG REG\nFROM ${REG}/a2:1\nRUN echo a3\n"),
                "b1": ("", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ b1\n"),
                "b2": ("", "ARG REG\nFROM ${REG}/b1:1\nRUN echo b2\n"),
            },
        )
        run = build(mini, "-j", "1", "--fail-fast")
        assert run.code == 1, run.explain()
        assert statuses(run) == {
            "a1": "failed",
            "a2": "blocked",
            "a3": "blocked",
            "b1": "cancelled",
            "b2": "cancelled",
        }, run.explain()
        for name in ("b1", "b2"):
            b = run.targets[name]
            assert b["started"] is None, f"{name} was started after the failure"
            assert b["reason"] == "fail-fast: a1 failed", b
            assert f"[{name}] building" not in run.out
        assert run.report["result"] == "failed"
        assert "stopping: fail-fast: a1 failed" in run.out
        summary = summary_of(run.out)
        assert re.search(r"^b1\s+cancelled\s", summary, re.MULTILINE), summary
        assert "Done: 1 failed, 2 blocked, 2 cancelled in " in summary
        cases = run.testcases()
        for name in ("b1", "b2"):
            skipped = cases[name].find("skipped")
            assert skipped is not None, name
            assert skipped.get("message") == "cancelled (fail-fast: a1 failed)"


def test_push_refuses_a_target_without_tags(tmp_path: Path, registry: str, seed_image: str) -> None:
    """A target without `tags` has nothing to push to: a usage error (exit 2) before
    anything is built, rather than a push of the internal local name
    `localhost/stackbake/NAME:latest`, retried as a "connection refused"."""
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = write_mini(
            tmp_path,
            prefix,
            seed_image,
            {"untagged": ("tags: []", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@\n")},
        )
        run = build(mini, "--push", "--retries", "0")
        assert "localhost/stackbake/untagged" not in run.out, "pushed the internal local name"
        assert run.code == 2, run.explain()
        assert "untagged" in run.err, run.explain()


def test_a_failed_test_stage_leaves_no_pin_tag(tree: Hierarchy) -> None:
    """A target with a test stage builds under a staging name, and its test stage is
    pinned to its parent by a pin tag; when the test fails, the staging name and the pin
    go too (with the run's other tags): nothing of the failed target stays in the image
    store."""
    dockerfile = tree.dockerfile("checked")
    text = dockerfile.read_text(encoding="utf-8")
    dockerfile.write_text(text.replace("| grep -q checked-ok", "| grep -q checked-ok && exit 4"))
    run = build(tree, "checked")
    assert run.code == 1, run.explain()
    assert statuses(run) == {"base": "built", "checked": "failed"}
    assert run.targets["checked"]["phase"] == "test"
    pins = [name for name in local_images(tree.prefix) if ":stackbake-" in name]
    assert pins == [], f"pin tags left behind: {pins}"
