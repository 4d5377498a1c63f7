"""bake's rawjson progress read per target, on a session recorded on this machine's
engine (buildx 0.13.1): `a`, and `b` and `c` built on it through `target:a`; b's step
fails and bake cancels c's."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from orchestrator.backend.bake import finish
from orchestrator.backend.base import BuildResult
from orchestrator.backend.failures import failure
from orchestrator.backend.progress import Demux
from orchestrator.backend.redact import Redactor

RECORDED = (Path(__file__).parent / "data" / "bake-one-failure.rawjson").read_text().splitlines()
A_DIGEST = "sha256:1347204c1ca4312e6351a738b7f4d274de6a2d4483b6f09eb3df987b86128aa0"
A_STEP = '[a 2/2] RUN echo "x=v5168 ${HOME} %{ y }" > /x && sleep 1'
FAILED = 'process "/bin/sh -c cat /x && exit 3" did not complete successfully: exit code: 3'


class Sink:
    def __init__(self) -> None:
        self.lines: list[tuple[str | None, str]] = []
        self.results: list[tuple[str, BuildResult]] = []

    def line(self, target: str | None, line: str) -> None:
        self.lines.append((target, line))

    def done(self, target: str, result: BuildResult) -> None:
        self.results.append((target, result))

    def of(self, target: str | None) -> list[str]:
        return [line for t, line in self.lines if t == target]


def read(lines: list[str], redactor: Redactor | None = None) -> tuple[Demux, Sink]:
    sink = Sink()
    demux = Demux({"a": "a", "b": "b", "c": "c"}, sink, redactor or Redactor(()))
    for line in lines:
        demux.feed(line)
    return demux, sink


def test_a_parents_step_is_in_the_parents_log_and_in_each_childs() -> None:
    _, sink = read(RECORDED)
    a = sink.of("a")
    assert a[a.index(f"#8 {A_STEP}") + 1 :][:1] != [], a
    assert "#8 DONE 1.2s" in a
    for child in ("b", "c"):  # reported under the child's name too: its build holds it
        assert f"#8 {A_STEP.replace('[a ', f'[{child} ')}" in sink.of(child)
        assert "#8 DONE 1.2s" in sink.of(child)
    assert sink.of(None) == [
        "#1 [internal] load local bake definitions",
        "#1 reading /tmp/bx/def.json done",
        "#1 DONE 0.0s",
    ]


def test_a_target_is_done_when_its_export_is_with_the_digest_of_its_index() -> None:
    demux, sink = read(RECORDED)
    assert [(t, r.ok, r.digest) for t, r in sink.results] == [("a", True, A_DIGEST)]
    assert sink.of("a")[-1] == "#13 DONE 0.1s"
    assert list(demux.failed) == ["b"], "c's step was cancelled, not failed"


def test_the_failure_is_the_failed_targets_with_bakes_closing_lines() -> None:
    _, sink = read(RECORDED)
    b = sink.of("b")
    assert b[-9:] == [
        "#7 0.231 x=v5168 ${HOME} %{ y }",
        f"#7 ERROR: {FAILED}",
        "Dockerfile:2",
        "--------------------",
        "   1 |     FROM parent",
        "   2 | >>> RUN cat /x && exit 3",
        "   3 |     ",
        "--------------------",
        f"ERROR: failed to solve: {FAILED}",
    ]
    assert f"#12 ERROR: {FAILED.replace('cat /x && exit 3', 'sleep 3; cat /x')}"[:40] in (
        "\n".join(sink.of("c"))
    )


def test_after_a_failure_the_failed_target_gets_its_reason_and_the_cancelled_nothing(
    tmp_path: Path,
) -> None:
    demux, sink = read(RECORDED)
    finish(demux, 1, tmp_path / "absent.json", failure)
    assert [(t, r.ok) for t, r in sink.results] == [("a", True), ("b", False)]
    failed = sink.results[1][1]
    assert failed.reason == f"ERROR: failed to solve: {FAILED}"
    assert not failed.transient
    assert failed.log_tail[-1] == failed.reason


def test_a_session_that_succeeded_fills_in_digests_from_its_metadata(tmp_path: Path) -> None:
    demux, sink = read([])
    for line in RECORDED:  # up to a's export, as if b and c had built without a word
        demux.feed(line)
        if sink.results:
            break
    assert [t for t, _ in sink.results] == ["a"]
    metadata = tmp_path / "m.json"
    metadata.write_text(json.dumps({"b": {"containerimage.digest": "sha256:bb"}, "c": {}}))
    finish(demux, 0, metadata, failure)
    assert [(t, r.ok, r.digest) for t, r in sink.results] == [
        ("a", True, A_DIGEST),
        ("b", True, "sha256:bb"),
        ("c", True, None),
    ]


def test_step_output_is_redacted_after_decoding() -> None:
    """Logs come base64-encoded in the JSON: a secret is masked once decoded."""
    _, sink = read(RECORDED, Redactor(["v5168"]))
    assert "#7 0.231 x=*** ${HOME} %{ y }" in sink.of("b")
    assert not [line for _, line in sink.lines if "v5168" in line]


def _object(**fields: object) -> list[str]:
    """A status object as buildx prints it: indented JSON, `{` and `}` alone."""
    return json.dumps(fields, indent=2).splitlines()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_an_export_ending_with_its_digests_in_one_object_gives_the_index() -> None:
    vertex = {"digest": "sha256:e1", "name": "[a] exporting to image", "started": "x"}
    lines = _object(vertexes=[vertex])
    lines += _object(
        vertexes=[{**vertex, "completed": "y"}],
        statuses=[
            {"id": "exporting manifest sha256:platform", "vertex": "sha256:e1", "completed": "y"},
            {"id": "exporting manifest list sha256:index", "vertex": "sha256:e1", "completed": "y"},
        ],
    )
    _, sink = read(lines)
    assert [(t, r.digest) for t, r in sink.results] == [("a", "sha256:index")]


def test_output_split_between_pieces_is_joined_before_masking() -> None:
    vertex = {"digest": "sha256:r1", "name": "[a 1/1] RUN make"}
    lines = _object(vertexes=[vertex])
    lines += _object(logs=[{"vertex": "sha256:r1", "stream": 1, "data": _b64("token=hun")}])
    lines += _object(logs=[{"vertex": "sha256:r1", "stream": 1, "data": _b64("ter2\nnext")}])
    lines += _object(vertexes=[{**vertex, "completed": "z"}])
    _, sink = read(lines, Redactor(["hunter2"]))
    assert sink.of("a") == ["#1 [a 1/1] RUN make", "#1 token=***", "#1 next", "#1 DONE"]


def test_a_brace_in_bakes_plain_text_is_text_and_nothing_is_swallowed(tmp_path: Path) -> None:
    demux, sink = read([*RECORDED, "{", "cat <<EOF", "ERROR: the end"])
    finish(demux, 1, tmp_path / "absent.json", failure)
    assert sink.of("b")[-3:] == ["{", "cat <<EOF", "ERROR: the end"]


def test_an_error_after_the_first_failure_is_not_a_failure(tmp_path: Path) -> None:
    """Measured: bake cutting a sibling's export short prints "error writing config blob:
    failed to get status: error getting writer status: EOF: unknown" for it."""
    cut = {"digest": "sha256:x1", "name": "[c] exporting to image", "started": "x"}
    late = _object(vertexes=[cut])
    late += _object(vertexes=[{**cut, "completed": "y", "error": "error writing config blob"}])
    end = RECORDED.index(f"ERROR: failed to solve: {FAILED}")
    demux, sink = read([*RECORDED[:end], *late, *RECORDED[end:]])
    assert list(demux.failed) == ["b"]
    finish(demux, 1, tmp_path / "absent.json", failure)
    assert [(t, r.ok) for t, r in sink.results] == [("a", True), ("b", False)]


def status(**parts: object) -> list[str]:
    """A status object as bake and buildx print it with --progress=rawjson."""
    return json.dumps(parts, indent=2).splitlines()


def output(vertex: str, text: str, at: str) -> dict[str, object]:
    data = base64.b64encode(text.encode()).decode()
    return {"vertex": vertex, "stream": 1, "data": data, "timestamp": at}


def test_a_primed_steps_output_comes_from_the_primer_once() -> None:
    """A primer started a's RUN: BuildKit sends its output to the primer's client only
    (bake's stream shows the step, then DONE). Said once even when both streams have it,
    and kept until bake announces the step when the primer's comes first."""
    step = "sha256:" + "7" * 64
    started, done = "2026-12-02T08:00:00.000000000Z", "2026-12-02T08:00:02.100000000Z"
    announce = {"digest": step, "name": "[a 1/2] RUN make", "started": started}
    first = output(step, "compiling\n", "2026-12-02T08:00:00.500000000Z")
    second = output(step, "token=s3cr3t-value\n", "2026-12-02T08:00:01.000000000Z")
    sink = Sink()
    demux = Demux({"a": "a"}, sink, Redactor(["s3cr3t-value"]))
    primer = demux.primer()
    for line in status(vertexes=[{"digest": step, "name": "[1/2] RUN make"}], logs=[first]):
        primer(line)  # before bake announced the step
    for line in status(vertexes=[announce]):
        demux.feed(line)
    for line in status(logs=[second, first]):  # the primer's next piece; bake repeats one
        primer(line)
    for line in status(logs=[first]):
        demux.feed(line)
    for line in status(vertexes=[{**announce, "completed": done}]):
        demux.feed(line)
    assert sink.of("a") == [
        "#1 [a 1/2] RUN make",
        "#1 0.500 compiling",
        "#1 1.000 token=***",
        "#1 DONE 2.1s",
    ]
