"""`run_build` end to end with the fake backend: exit codes, summary, report files."""

from __future__ import annotations

import io
import json
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from orchestrator.backend.fake import FakeBackend, Script
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.build.pipeline import run_build
from orchestrator.errors import SpecError, UsageError
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.project import Project, load_project
from tests.helpers import write_tree

ROOT = Path(__file__).parents[2]
SPEC = """\
version: 1
defaults:
  tags: ["r.example/acme/${target}:1"]
targets:
  base: {context: base}
  py: {context: py, secrets: [{id: tok, env: TOKEN_FOR_TESTS}]}
  app: {context: app}
  node: {context: node}
"""
FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "FROM alpine\n",
    "py/Dockerfile": "FROM r.example/acme/base:1\n",
    "app/Dockerfile": "FROM r.example/acme/py:1\n",
    "node/Dockerfile": "FROM r.example/acme/base:1\n",
}
ENV = {"TOKEN_FOR_TESTS": "x"}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_tree(tmp_path, FILES)
    return load_project(None, cwd=tmp_path, environ={})


def build(project: Project, backend: FakeBackend, **options: object) -> tuple[int, str]:
    stream = io.StringIO()
    opts = BuildOptions(progress="plain", jobs=1, retries=2, retry_base_s=0.001, **options)  # type: ignore[arg-type]
    code = run_build(
        project, opts, backend, stream=stream, interrupted=threading.Event(), environ=dict(ENV)
    )
    return code, stream.getvalue()


def test_all_built_exit_0_and_pins_removed(project: Project) -> None:
    backend = FakeBackend()
    code, out = build(project, backend)
    assert code == 0
    assert out.splitlines()[-1].startswith("Done: 4 built in ")
    assert not [t for t in backend.images if ":stackbake-" in t], "pin tags left behind"
    assert ("preflight", "multi=False,local_pins=True", 1) in backend.calls


def test_failure_exit_1_summary_report_and_junit(project: Project, tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.BUILD, Script("fail", lines=("#4 RUN make", "make: *** Error 2")))
    report, junit, step = tmp_path / "r.json", tmp_path / "j.xml", tmp_path / "summary.md"
    stream = io.StringIO()
    opts = BuildOptions(progress="plain", jobs=1, report=report, junit=junit)
    code = run_build(
        project,
        opts,
        backend,
        stream=stream,
        interrupted=threading.Event(),
        environ={**ENV, "GITHUB_STEP_SUMMARY": str(step)},
    )
    out = stream.getvalue()
    assert code == 1
    assert "[py] FAILED in build" in out
    assert "py failed in build: py: exit code 1\n  | #4 RUN make\n  | make: *** Error 2" in out
    assert "1 failure blocked 1 target\npy failed and blocked 1 target: app" in out
    assert out.splitlines()[-1].startswith("Done: 1 failed, 1 blocked, 2 built in ")

    data = json.loads(report.read_text())
    schema = json.loads((ROOT / "schemas/report.schema.json").read_text())
    Draft202012Validator(schema).validate(data)
    assert data["result"] == "failed"
    assert data["counts"] == {
        "failed": 1,
        "blocked": 1,
        "cancelled": 0,
        "built": 2,
        "up-to-date": 0,
    }
    by_name = {t["name"]: t for t in data["targets"]}
    assert [t["name"] for t in data["targets"]] == ["base", "node", "py", "app"]
    assert (by_name["py"]["status"], by_name["py"]["phase"], by_name["py"]["attempts"]) == (
        "failed",
        "build",
        1,
    )
    assert (by_name["app"]["status"], by_name["app"]["blocked_by"]) == ("blocked", ["py"])
    assert by_name["base"]["digest"].startswith("sha256:")
    assert by_name["base"]["log"].endswith(".stackbake/logs/base.log")
    logs = project.spec.folder / ".stackbake/logs"
    assert sorted(p.name for p in logs.iterdir()) == ["base.log", "node.log", "py.log"], (
        "a blocked target never starts: no log"
    )

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    failure = cases["py"].find("failure")
    assert failure is not None
    assert failure.get("message") == "failed in build: py: exit code 1"
    assert "make: *** Error 2" in (failure.text or "")
    skipped = cases["app"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "blocked by py"

    markdown = step.read_text()
    assert markdown.startswith("### stackbake: Done: 1 failed, 1 blocked, 2 built in ")
    assert "| `app` | ⛔ blocked by py |" in markdown


def test_interrupt_exit_130(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.BUILD, Script("hang"))
    interrupted = threading.Event()
    stream = io.StringIO()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            run_build(
                project,
                BuildOptions(progress="plain", jobs=1),
                backend,
                stream=stream,
                interrupted=interrupted,
                environ=dict(ENV),
            )
        )
    )
    thread.start()
    assert backend.started.wait(5)
    interrupted.set()
    thread.join(10)
    assert result == [130]
    assert "stopping: interrupted; running: base" in stream.getvalue()
    assert stream.getvalue().splitlines()[-1].startswith("Interrupted: 4 cancelled in ")


def test_missing_secret_is_a_spec_error_before_anything_runs(project: Project) -> None:
    backend = FakeBackend()
    with pytest.raises(SpecError) as info:
        run_build(
            project,
            BuildOptions(),
            backend,
            stream=io.StringIO(),
            interrupted=threading.Event(),
            environ={},
        )
    assert info.value.render() == (
        f"{project.spec.path}:6:31: targets.py.secrets[0]: secret 'tok': environment variable "
        "TOKEN_FOR_TESTS is not set; export it before building"
    )
    assert backend.calls == []


def test_non_image_output_refused_for_parents(project: Project) -> None:
    with pytest.raises(UsageError) as info:
        build(project, FakeBackend(), mode=OutputMode(outputs=("type=local,dest=out",)))
    assert str(info.value) == (
        "--output 'type=local,dest=out' exports no image, but base, py must be an image for "
        "the targets built on it; select only leaf targets, or use type=image/registry"
    )
    code, _ = build(
        project,
        FakeBackend(),
        targets=("node",),
        mode=OutputMode(outputs=("type=image,push=false",)),
    )
    assert code == 0


def test_durations_feed_the_next_schedule(project: Project) -> None:
    build(project, FakeBackend())
    saved = json.loads((project.spec.folder / ".stackbake/durations.json").read_text())
    assert sorted(saved) == ["app", "base", "node", "py"]


def test_failed_test_stage_moves_no_release_tag_and_leaves_no_pin(project: Project) -> None:
    backend = FakeBackend()
    backend.images["r.example/acme/py:1"] = "sha256:previous"
    backend.script("py", Phase.TEST, Script("fail"))
    write_tree(project.spec.folder, {"py/Dockerfile": "FROM r.example/acme/base:1 AS t\nFROM t\n"})
    project = load_project(None, cwd=project.spec.folder, environ={}, sets=["py.test=t"])
    code, _ = build(project, backend)
    assert code == 1
    assert backend.images["r.example/acme/py:1"] == "sha256:previous"
    assert not [t for t in backend.images if ":stackbake-" in t], "staging or pin tag left"


def test_push_needs_tags(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            **FILES,
            "builds.yaml": SPEC.replace(
                "  node: {context: node}", "  node: {context: node, tags: []}"
            ),
        },
    )
    project = load_project(None, cwd=tmp_path, environ={})
    with pytest.raises(UsageError) as info:
        build(project, FakeBackend(), mode=OutputMode(outputs=("type=registry",)))
    assert str(info.value) == (
        "node has no tags, so there is nothing to push to; give them tags, or leave them out "
        "of the selection"
    )


def test_a_publishing_output_is_pushed_by_stackbake_after_tests(project: Project) -> None:
    backend = FakeBackend()
    code, _ = build(project, backend, mode=OutputMode(outputs=("type=registry,compression=zstd",)))
    assert code == 0
    assert {r.outputs for r in backend.requests if r.phase is Phase.BUILD} == {
        ("type=image,compression=zstd",)
    }
    assert sorted(t for t in backend.registry if ":key-" not in t) == [
        "r.example/acme/app:1",
        "r.example/acme/base:1",
        "r.example/acme/node:1",
        "r.example/acme/py:1",
    ]


def builds(backend: FakeBackend) -> list[str]:
    return [r.target for r in backend.requests if r.phase is Phase.BUILD]


def test_second_build_is_all_up_to_date_and_sends_nothing(project: Project) -> None:
    backend = FakeBackend()
    assert build(project, backend)[0] == 0
    first = builds(backend)
    calls = len(backend.calls)
    code, out = build(project, backend)
    assert code == 0
    assert builds(backend) == first, "the second run sent a build"
    assert [c[0] for c in backend.calls[calls:]] == ["lookup", "inspect"], "no pre-flight"
    assert out.splitlines()[-1].startswith("Done: 4 up-to-date in ")
    assert "[app] up-to-date: sha256:" in out


def test_a_changed_file_rebuilds_its_target_and_descendants_only(project: Project) -> None:
    backend = FakeBackend()
    build(project, backend)
    backend.requests.clear()
    calls = len(backend.calls)
    (project.spec.folder / "py/extra.txt").write_text("new\n")
    code, out = build(project, backend)
    assert code == 0
    # A key unlike the last build's: the engine is asked for pre-flight's facts early.
    assert [c[0] for c in backend.calls[calls:]][:4] == ["lookup", "warm", "inspect", "preflight"]
    assert sorted(builds(backend)) == ["app", "py"]
    assert "[py] building: file added: extra.txt" in out
    assert "[app] building: parent py changed" in out


def test_force_and_no_cache_build_regardless(project: Project) -> None:
    backend = FakeBackend()
    build(project, backend)
    backend.requests.clear()
    _, out = build(project, backend, force=("no*",))
    assert builds(backend) == ["node"]
    assert "[node] building: built regardless: --force" in out
    backend.requests.clear()
    build(project, backend, mode=OutputMode(no_cache=True))
    assert sorted(builds(backend)) == ["app", "base", "node", "py"]


def test_a_tag_moved_away_means_a_rebuild(project: Project) -> None:
    backend = FakeBackend()
    build(project, backend)
    del backend.images["r.example/acme/node:1"]
    backend.images["r.example/acme/node:1"] = "sha256:someone-else"
    backend.requests.clear()
    _, out = build(project, backend)
    # node's only tag moved away: nothing names its key any more, so it builds again
    assert builds(backend) == ["node"]
    assert "no image with its key under its tags" in out


def test_up_to_date_target_gets_its_missing_tags_back(tmp_path: Path) -> None:
    write_tree(tmp_path, FILES)
    project = load_project(
        None,
        cwd=tmp_path,
        environ={},
        sets=["node.tags=r.example/acme/node:1,r.example/acme/node:latest"],
    )
    backend = FakeBackend()
    build(project, backend)
    digest = backend.images.pop("r.example/acme/node:latest")
    backend.requests.clear()
    _, out = build(project, backend)
    assert builds(backend) == []
    assert backend.images["r.example/acme/node:latest"] == digest
    assert f"[node] up-to-date: {digest} has key " in out
    assert "; re-tagged r.example/acme/node:latest" in out


def test_push_publishes_a_key_tag_and_a_fresh_store_skips_via_the_registry(
    project: Project,
) -> None:
    pushed = OutputMode(push=True)
    backend = FakeBackend()
    assert build(project, backend, mode=pushed)[0] == 0
    keys = sorted(t for t in backend.registry if ":key-" in t)
    assert [k.split(":key-")[0] for k in keys] == [
        "r.example/acme/app",
        "r.example/acme/base",
        "r.example/acme/node",
        "r.example/acme/py",
    ]
    assert not [t for t in backend.images if ":key-" in t], "key tags stay out of the store"
    fresh = FakeBackend(registry=dict(backend.registry))  # a new CI runner: empty store
    code, out = build(project, fresh, mode=pushed)
    assert code == 0
    assert builds(fresh) == []
    assert [c for c in fresh.calls if c[0] in ("push", "copy", "inspect")] == []
    assert out.splitlines()[-1].startswith("Done: 4 up-to-date in ")
    digest = backend.registry["r.example/acme/app:1"]
    assert f"[app] up-to-date in the registry: {digest} has key " in out


def test_pushed_up_to_date_target_gets_missing_registry_tags_copied(project: Project) -> None:
    pushed = OutputMode(push=True)
    backend = FakeBackend()
    build(project, backend, mode=pushed)
    digest = backend.registry.pop("r.example/acme/node:1")
    backend.requests.clear()
    _, out = build(project, FakeBackend(registry=backend.registry), mode=pushed)
    assert backend.registry["r.example/acme/node:1"] == digest
    assert "; re-tagged r.example/acme/node:1" in out


def test_pushed_child_of_a_changed_parent_rebuilds_pinned_by_digest(project: Project) -> None:
    pushed = OutputMode(push=True)
    backend = FakeBackend()
    build(project, backend, mode=pushed)
    (project.spec.folder / "py/extra.txt").write_text("new\n")
    fresh = FakeBackend(registry=dict(backend.registry))
    code, out = build(project, fresh, mode=pushed)
    assert code == 0
    assert builds(fresh) == ["py", "app"]
    app = next(r for r in fresh.requests if r.target == "app")
    py_digest = fresh.registry["r.example/acme/py:1"]
    assert app.contexts == {"r.example/acme/py:1": f"docker-image://r.example/acme/py@{py_digest}"}
    assert "[py] building: file added: extra.txt" in out


def test_a_context_holding_the_state_folder_is_warned_about(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "builds.yaml": "version: 1\ntargets:\n  app: {context: .}\n",
            "Dockerfile": "FROM alpine\n",
        },
    )
    project = load_project(None, cwd=tmp_path, environ={})
    build(project, FakeBackend())  # makes .stackbake/ (logs, keys' inputs)
    _, out = build(project, FakeBackend())
    assert out.splitlines()[1] == (
        "warning: the context of app holds .stackbake/ (stackbake's logs and state, new "
        "every run): add '.stackbake' to its .dockerignore, else it is never up to date and "
        "the image carries the logs"
    )
    (tmp_path / ".dockerignore").write_text(".stackbake\n")
    _, out = build(project, FakeBackend())
    assert "warning" not in out
