"""The bake adapter without an engine: the definition it writes, and how it reads bake's
plain output (a session recorded on this machine's engine, buildx 0.13.1: `a`, and `b`
and `c` built on it through `target:a`; b's step fails and bake cancels c)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.backend.bake import Demux, bake_argv, bake_names, definition, finish
from orchestrator.backend.base import BuildRequest, BuildResult
from orchestrator.backend.buildx import classify
from orchestrator.model import Secret
from orchestrator.status import Phase

RECORDED = (Path(__file__).parent / "data" / "bake-one-failure.log").read_text().splitlines()
A_DIGEST = "sha256:2ab9d8a7394faf30e331ded8ecec8af1de4b27e29f76cbe9f3311da8b802f7bf"


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[str | None, str]] = []
        self.results: list[tuple[str, BuildResult]] = []

    def line(self, target: str | None, line: str) -> None:
        self.lines.append((target, line))

    def done(self, target: str, result: BuildResult) -> None:
        self.results.append((target, result))


def read(lines: list[str]) -> tuple[Demux, Sink]:
    sink = Sink()
    demux = Demux({"a": "a", "b": "b", "c": "c"}, sink)
    for line in lines:
        demux.feed(line)
    return demux, sink


def test_names_bake_accepts_are_kept_others_are_spelled_safely() -> None:
    assert bake_names(["base", "py-3.12", "internal", "app_1"]) == {
        "base": "base",
        "py-3.12": "t1-py-3_12",
        "internal": "t2-internal",
        "app_1": "app_1",
    }


def test_definition_links_targets_and_keeps_dollar_signs_literal(tmp_path: Path) -> None:
    base = BuildRequest("py-3.12", Phase.BUILD, tmp_path / "py", tmp_path / "py/Dockerfile")
    app = BuildRequest(
        "app",
        Phase.BUILD,
        tmp_path / "app",
        tmp_path / "app/Dockerfile.prod",
        stage="final",
        args={"GREETING": "${HOME} %{ x }"},
        labels={"k": "v"},
        tags=("r.example/app:1", "r.example/app:latest"),
        platforms=("linux/amd64", "linux/arm64"),
        cache_from=("type=registry,ref=r.example/app:cache",),
        secrets=(Secret("tok", env="TOKEN"),),
        no_cache=True,
        contexts={
            "r.example/py:3.12": "target:py-3.12",
            "alpine:3.20": "docker-image://alpine@sha256:ab",
        },
    )
    names = bake_names(["py-3.12", "app"])
    assert definition([base, app], names) == {
        "group": {"default": {"targets": ["t0-py-3_12", "app"]}},
        "target": {
            "t0-py-3_12": {
                "context": str(tmp_path / "py"),
                "dockerfile": str(tmp_path / "py/Dockerfile"),
            },
            "app": {
                "context": str(tmp_path / "app"),
                "dockerfile": str(tmp_path / "app/Dockerfile.prod"),
                "target": "final",
                "args": {"GREETING": "$${HOME} %%{ x }"},
                "labels": {"k": "v"},
                "tags": ["r.example/app:1", "r.example/app:latest"],
                "platforms": ["linux/amd64", "linux/arm64"],
                "contexts": {
                    "r.example/py:3.12": "target:t0-py-3_12",
                    "alpine:3.20": "docker-image://alpine@sha256:ab",
                },
                "cache-from": ["type=registry,ref=r.example/app:cache"],
                "secret": ["id=tok,env=TOKEN"],
                "no-cache": True,
            },
        },
    }
    assert bake_argv(tmp_path / "b.json", tmp_path / "m.json", builder="ci", load=True) == [
        "docker",
        "buildx",
        "bake",
        "--progress=plain",
        "--file",
        str(tmp_path / "b.json"),
        "--builder",
        "ci",
        "--load",
        "--metadata-file",
        str(tmp_path / "m.json"),
    ]


def test_each_line_goes_to_the_target_its_step_belongs_to() -> None:
    _, sink = read(RECORDED)
    owners = dict(sink.lines[i][::-1] for i in range(len(sink.lines)))
    assert owners['#0 building with "default" instance using docker driver'] is None
    assert owners["#1 reading /tmp/bx/def.json 498B / 498B done"] is None
    assert owners["#2 transferring dockerfile: 102B done"] == "a"
    assert owners["#13 0.197 x=${HOME} %{ y }"] == "b"
    assert owners["#12 CANCELED"] == "c"
    # bake's closing error block is about b
    assert owners["   2 | >>> RUN cat /x && exit 3"] == "b"


def test_a_target_is_done_when_its_export_is_with_the_digest_of_its_index() -> None:
    demux, sink = read(RECORDED)
    assert [(t, r.ok, r.digest) for t, r in sink.results] == [("a", True, A_DIGEST)]
    assert list(demux.failed) == ["b"]


def test_after_a_failure_the_failed_target_gets_its_reason_and_the_cancelled_nothing(
    tmp_path: Path,
) -> None:
    demux, sink = read(RECORDED)
    finish(demux, 1, tmp_path / "absent.json", classify)
    assert [(t, r.ok) for t, r in sink.results] == [("a", True), ("b", False)]
    failed = sink.results[1][1]
    assert failed.reason == (
        'ERROR: failed to solve: process "/bin/sh -c cat /x && exit 3" did not complete '
        "successfully: exit code: 3"
    )
    assert not failed.transient
    assert failed.log_tail[-1] == failed.reason
    step = '#13 ERROR: process "/bin/sh -c cat /x && exit 3" did not complete successfully'
    assert f"{step}: exit code: 3" in failed.log_tail


def test_a_session_that_succeeded_fills_in_digests_from_its_metadata(tmp_path: Path) -> None:
    upto_a = RECORDED[: RECORDED.index("#11 DONE 0.1s") + 1]
    demux, sink = read(upto_a)
    metadata = tmp_path / "m.json"
    metadata.write_text(json.dumps({"b": {"containerimage.digest": "sha256:bb"}, "c": {}}))
    finish(demux, 0, metadata, classify)
    assert [(t, r.ok, r.digest) for t, r in sink.results] == [
        ("a", True, A_DIGEST),
        ("b", True, "sha256:bb"),
        ("c", True, None),
    ]


def test_a_step_stopped_for_another_failure_is_not_a_failure(tmp_path: Path) -> None:
    at = RECORDED.index("#12 CANCELED")
    lines = [*RECORDED[:at], "#12 ERROR: context canceled", *RECORDED[at + 1 :]]
    demux, sink = read(lines)
    finish(demux, 1, tmp_path / "absent.json", classify)
    assert list(demux.failed) == ["b"]
    assert [(t, r.ok) for t, r in sink.results] == [("a", True), ("b", False)]


def test_a_repeated_export_header_keeps_the_digest_and_no_digest_waits_for_the_end(
    tmp_path: Path,
) -> None:
    lines = [
        "#20 [a] exporting to image",
        f"#20 exporting manifest list {A_DIGEST} done",
        "#21 [c 1/2] RUN sleep 3; cat /x",
        "#20 [a] exporting to image",  # plain progress repeats a header after another step
        "#20 DONE 0.1s",
        "#22 [b] exporting to client directory",
        "#22 copying files 2B done",
        "#22 DONE 0.0s",
    ]
    demux, sink = read(lines)
    assert [(t, r.digest) for t, r in sink.results] == [("a", A_DIGEST)]
    finish(demux, 0, tmp_path / "absent.json", classify)
    assert [(t, r.ok, r.digest) for t, r in sink.results] == [
        ("a", True, A_DIGEST),
        ("b", True, None),
        ("c", True, None),
    ]
