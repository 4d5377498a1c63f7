"""`stackbake build` of the whole fixture hierarchy on the real engine: every target
built, in order, each child on exactly the parent image this run built, the test
stage run, both platforms where asked, and the reports telling all of it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.hierarchy import (
    ALL_TARGETS,
    MACHINE,
    PARENTS,
    TEST_STAGE_ECHO,
    Hierarchy,
    build,
    fixture_tree,
    image_inspect,
    images_removed_after,
    labels_of,
    local_images,
    new_prefix,
    run_in,
    summary_of,
    write_mini,
)

pytestmark = pytest.mark.engine

LABEL = "org.opencontainers.image."


@pytest.fixture
def tree(tmp_path: Path, registry: str, seed_image: str) -> Iterator[Hierarchy]:
    with fixture_tree(tmp_path, registry, seed_image) as h:
        yield h


def when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp)


def layers(ref: str) -> list[str]:
    return list(image_inspect(ref)["RootFS"]["Layers"])


def check_lineage(tree: Hierarchy, targets: dict[str, Any], *, per_target: bool) -> None:
    for child, parent in (("runtime", "base"), ("app", "runtime"), ("service", "checked")):
        labels = labels_of(tree.tag(child))
        assert labels[f"{LABEL}base.name"] == tree.tag(parent), child
        digest = targets[parent]["digest"] if per_target else ""
        assert labels[f"{LABEL}base.digest"] == digest, child
        below = layers(tree.tag(parent))
        assert layers(tree.tag(child))[: len(below)] == below, child


@pytest.mark.parametrize("per_target", [False, True], ids=["session", "per-target"])
def test_build_everything(tree: Hierarchy, per_target: bool) -> None:
    run = build(tree, *(["--per-target"] if per_target else []))
    print(f"\nhappy-path cold build: {run.seconds:.1f} s wall\n{summary_of(run.out)}")
    assert run.code == 0, run.explain()
    assert run.err == "", run.explain()

    # The JSON report: every target built, with its digest, tries and log.
    report = run.report
    assert report["schema"] == "stackbake.report/v1"
    assert report["result"] == "ok"
    assert report["counts"]["built"] == len(ALL_TARGETS)
    targets = run.targets
    assert sorted(targets) == sorted(ALL_TARGETS)
    for name, t in targets.items():
        assert t["status"] == "built", t
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", t["digest"] or ""), t
        assert t["attempts"] >= 1, t
        assert t["tags"] == [tree.tag(name)], t
        assert (tree.folder / t["log"]).is_file(), t
        assert t["log"] == f".stackbake/logs/{name}.log"
    # Parents first: no target started before each of its parents had finished
    # (`service` waits for `vault` by depends_on alone).
    for child, parents in PARENTS.items():
        for parent in parents:
            assert when(targets[child]["started"]) >= when(targets[parent]["finished"]), (
                f"{child} started before its parent {parent} finished"
            )

    # JUnit: a testcase per target, none failed or skipped.
    suite = run.junit.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("9", "0", "0")
    cases = run.testcases()
    assert sorted(cases) == sorted(ALL_TARGETS)
    for name, case in cases.items():
        assert case.find("failure") is None, name
        assert case.find("skipped") is None, name
        assert (case.findtext("system-out") or "") == f"digest {targets[name]['digest']}"

    # Every tag is in the local image store, naming exactly the image this run built;
    # the pins (REPO:stackbake-<hex>) are gone again.
    for name, t in targets.items():
        assert image_inspect(tree.tag(name))["Id"] == t["digest"], name
    names = local_images(tree.prefix)
    assert sorted(names) == sorted(tree.tag(n) for n in ALL_TARGETS), names

    # The two-platform branch really is: app runs on each platform, on its runtime.
    for platform, machine in MACHINE.items():
        out = run_in(tree.tag("app"), "uname -m; cat /etc/app.txt", platform=platform)
        assert out.splitlines() == [machine, f"app on {machine}"], platform

    # The multi-stage target's test stage ran, after its main build, into its log;
    # the published image is the runtime stage (nothing of the build stage's /out).
    log = (tree.folder / targets["checked"]["log"]).read_text(encoding="utf-8")
    assert f'[test 1/1] RUN echo "{TEST_STAGE_ECHO}"' in log, log
    assert re.search(rf"^#\d+ [\d.]+ {TEST_STAGE_ECHO}$", log, re.MULTILINE), log
    assert "[checked] testing" in run.out
    assert run.out.index("[checked] testing") < run.out.index("[checked] built")
    assert run_in(tree.tag("checked"), "checked; ls /out 2>&1 || true").splitlines()[0] == (
        "checked-ok"
    )
    assert run_in(tree.tag("service"), "cat /etc/service.txt") == "checked-ok\n"

    # COPY --from the tools target, by its tag: the file of this run's tools image.
    assert run_in(tree.tag("worker"), "cat /opt/worker/TOOLS_VERSION") == (
        f"tools base {tree.marker}\n"
    )

    # OCI labels: title and date on every image, the base by name and by the very
    # digest this run built it with (in a session: blank, the parent's digest being
    # unknown when the child starts). Either way the child's layers are the parent's
    # image's layers and its own on top.
    for name in ALL_TARGETS:
        labels = labels_of(tree.tag(name))
        assert labels[f"{LABEL}title"] == name
        created = when(labels[f"{LABEL}created"].replace("Z", "+00:00"))
        assert abs(created.timestamp() - when(report["started"]).timestamp()) < 5
    check_lineage(tree, targets, per_target=per_target)
    assert labels_of(tree.tag("worker"))[f"{LABEL}base.name"] == tree.seed

    # The session's own lines, or none without one.
    assert (tree.folder / ".stackbake/logs/_session.log").exists() is not per_target

    # The summary at the end of stdout.
    summary = summary_of(run.out)
    assert f"Done: {len(ALL_TARGETS)} built in " in summary
    for name in ALL_TARGETS:
        assert re.search(rf"^{name}\s+built\s", summary, re.MULTILINE), summary


def test_the_summary_in_a_log_keeps_whole_tags(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    """Without a terminal (CI logs) the summary must not cut the TAGS column with an
    ellipsis (the first cut of `build` did, 80 columns wide:
    `localhost:5000/e2e-ccb4fbd866f7…`), or the log never says what was tagged."""
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = write_mini(
            tmp_path,
            prefix,
            seed_image,
            {
                "application": (
                    'tags: ["${REG}/${target}:1.0.0", "${REG}/${target}:latest"]',
                    "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@\n",
                )
            },
        )
        run = build(mini)
        assert run.code == 0, run.explain()
        summary = summary_of(run.out)
        assert "…" not in summary, f"the summary drops text:\n{summary}"
