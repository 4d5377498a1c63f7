"""The targets that build, in one session, through the pipeline's wiring with the
recording fake backend: each target's exact events, the requests the session sends,
and each way a session ends (done, a failure, a transient error, an interrupt).

Two runners at a time (a session needs -j 2 or more): the events of targets that run
together interleave as their threads please, so each target's own events are compared
exactly, and the order of targets only where the graph decides it."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from orchestrator.backend.base import BuildRequest, BuildResult, SessionFiles, SessionSink
from orchestrator.backend.fake import FakeBackend, Script, fake_digest
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.build.plan import session_members
from orchestrator.build.session import Session
from orchestrator.build.tags import RunTags
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.project import Project, load_project
from orchestrator.state import StateDir
from tests.build.test_runner import FILES, never
from tests.helpers import Executed, execute_plan, write_tree

STOPPED = "the session stopped before this target was built: building it alone"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_tree(tmp_path, FILES)
    return load_project(None, cwd=tmp_path, environ={})


def session_run(
    project: Project,
    backend: FakeBackend,
    *,
    push: bool = False,
    interrupted: threading.Event | None = None,
    stop_when: int = 0,
) -> Executed:
    """A run whose targets build in one session. `stop_when`: interrupt it once that
    many builds have started."""
    started: list[object] = []

    def on_event(event: tuple[object, ...]) -> None:
        if event[0] == "started":
            started.append(event[1])
            if stop_when and len(started) == stop_when and interrupted is not None:
                interrupted.set()

    options = BuildOptions(mode=OutputMode(push=push), jobs=2, retries=2, retry_base_s=0.001)
    done = execute_plan(project, backend, options, interrupted=interrupted, on_event=on_event)
    assert done.plan.session, "the targets did not build in a session"
    return done


def per_target(events: list[tuple[object, ...]]) -> dict[object, list[tuple[object, ...]]]:
    out: dict[object, list[tuple[object, ...]]] = {}
    for event in events:
        if event[0] != "stopping":
            out.setdefault(event[1], []).append(event)
    return out


def finished(events: list[tuple[object, ...]]) -> list[object]:
    return [e[1] for e in events if e[0] == "finished"]


def test_one_session_builds_everything_and_each_runner_reports_its_target(
    project: Project,
) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.BUILD, Script(lines=("#7 [py 1/2] RUN make",)))
    events = session_run(project, backend).events
    assert per_target(events) == {
        "base": [
            never("base"),
            ("started", "base", "build", 1),
            ("finished", "base", "built", None, "", (), 1),
        ],
        "py": [
            never("py"),
            ("started", "py", "build", 1),
            ("log", "py", "#7 [py 1/2] RUN make"),
            ("started", "py", "test", 1),
            ("finished", "py", "built", None, "", (), 2),
        ],
        "app": [
            never("app"),
            ("started", "app", "build", 1),
            ("finished", "app", "built", None, "", (), 1),
        ],
        "node": [
            never("node"),
            ("started", "node", "build", 1),
            ("finished", "node", "built", None, "", (), 1),
        ],
    }
    order = finished(events)
    assert order[0] == "base"
    assert order.index("py") < order.index("app")
    assert [c for c in backend.calls if c[0] in ("bake", "build", "prime")] == [
        ("prime", "base", 1),  # the root starts at once, while bake sets up its sessions
        ("bake", "base", 1),
        ("bake", "node", 1),
        ("bake", "py", 1),
        ("bake", "app", 1),
    ]
    assert (project.spec.folder / ".stackbake/logs/py.log").read_text() == "#7 [py 1/2] RUN make\n"
    [primer] = backend.primed
    sent = next(r for r in backend.requests if r.target == "base")
    assert primer == dataclasses.replace(
        sent, tags=(), outputs=("type=cacheonly",), log_file=None, cache_to=(), load=False
    )


def test_children_link_to_their_parents_and_only_untested_lines_get_release_tags(
    project: Project,
) -> None:
    backend = FakeBackend()
    done = session_run(project, backend)
    sent = {r.target: r for r in backend.requests if r.phase is Phase.BUILD}
    assert (sent["node"].contexts, sent["node"].links) == ({}, {"r.example/acme/base:1": "base"})
    assert (sent["app"].contexts, sent["app"].links) == ({}, {"r.example/acme/py:1": "py"})
    assert sent["node"].labels["org.opencontainers.image.base.digest"] == ""
    assert sent["node"].labels["org.opencontainers.image.base.name"] == "r.example/acme/base:1"
    # base, a root, is named by its build; the children wait for their lineage (and py
    # for its test stage) before their tags move
    assert sent["base"].tags == ("r.example/acme/base:1",)
    for child in ("node", "py", "app"):
        assert [t.split(":")[1][:15] for t in sent[child].tags] == ["stackbake-build"], child
    assert backend.images["r.example/acme/app:1"] == fake_digest("app/build")
    # py's test stage is pinned to base by digest: a pin tag made for it, then removed
    test = next(r for r in backend.requests if r.phase is Phase.TEST)
    base = fake_digest("base/build")
    pin = done.pin("base", base)
    assert test.contexts == {"r.example/acme/base:1": f"docker-image://{pin}"}
    untagged = [c[1] for c in backend.calls if c[0] == "untag"]
    staged = [t for n in ("node", "py", "app") for t in sent[n].tags]
    assert sorted(untagged) == sorted([pin, *staged])
    assert not [t for t in backend.images if ":stackbake-" in t]


def test_a_failure_fails_its_target_and_what_the_session_left_builds_alone(
    project: Project,
) -> None:
    backend = FakeBackend()
    backend.script("node", Phase.BUILD, Script("fail", lines=("#9 [node 1/1] RUN x",)))
    done = session_run(project, backend)
    events = done.events
    assert per_target(events) == {
        "base": [
            never("base"),
            ("started", "base", "build", 1),
            ("finished", "base", "built", None, "", (), 1),
        ],
        "py": [
            never("py"),
            ("started", "py", "build", 1),
            ("log", "py", STOPPED),
            ("started", "py", "test", 1),
            ("finished", "py", "built", None, "", (), 2),
        ],
        "app": [
            never("app"),
            ("started", "app", "build", 1),
            ("log", "app", STOPPED),
            ("finished", "app", "built", None, "", (), 1),
        ],
        "node": [
            never("node"),
            ("started", "node", "build", 1),
            ("log", "node", "#9 [node 1/1] RUN x"),
            ("finished", "node", "failed", "build", "node: exit code 1", (), 1),
        ],
    }
    assert finished(events)[0] == "base"
    assert [c for c in backend.calls if c[0] in ("bake", "build")] == [
        ("bake", "base", 1),
        ("bake", "node", 1),
        ("build", "py", 1),
        ("build", "app", 1),
    ]
    alone = {r.target: r for r in backend.requests if r.phase is Phase.BUILD}
    py = fake_digest("py/build")
    assert alone["app"].contexts == {"r.example/acme/py:1": f"docker-image://{done.pin('py', py)}"}
    assert alone["app"].links == {}
    assert alone["app"].labels["org.opencontainers.image.base.digest"] == py


def test_a_transient_failure_in_the_session_is_retried_alone(project: Project) -> None:
    backend = FakeBackend()
    backend.script("app", Phase.BUILD, Script("transient"), Script())
    events = session_run(project, backend).events
    assert per_target(events)["app"] == [
        never("app"),
        ("started", "app", "build", 1),
        ("retrying", "app", "build", 1, "503 Service Unavailable"),
        ("started", "app", "build", 2),
        ("finished", "app", "built", None, "", (), 2),
    ]
    assert [c for c in backend.calls if c[1] == "app" and c[0] in ("bake", "build")] == [
        ("bake", "app", 1),
        ("build", "app", 1),
    ]


def test_an_interrupt_stops_the_session_and_cancels_its_targets(project: Project) -> None:
    backend = FakeBackend()
    backend.script("node", Phase.BUILD, Script("hang"))  # the session hangs at node
    interrupted = threading.Event()
    events = session_run(project, backend, interrupted=interrupted, stop_when=3).events
    # Once py and node wait for the session, the interrupt: the session stops (execute
    # returned: its thread ended), its waiting targets are cancelled, nothing is built alone.
    assert events[-4:-2] == [
        ("stopping", "interrupted", ("node", "py")),
        ("finished", "app", "cancelled", None, "interrupted", (), 0),
    ]
    assert sorted(events[-2:]) == [
        ("finished", "node", "cancelled", "build", "interrupted", (), 1),
        ("finished", "py", "cancelled", "build", "interrupted", (), 1),
    ]
    assert [c for c in backend.calls if c[0] in ("bake", "build")] == [
        ("bake", "base", 1),
        ("bake", "node", 1),
    ]


def test_up_to_date_parents_are_pinned_by_digest_for_the_session(project: Project) -> None:
    backend = FakeBackend()
    session_run(project, backend)
    (project.spec.folder / "app" / "new.txt").write_text("x")
    (project.spec.folder / "node" / "new.txt").write_text("x")
    backend.calls.clear()
    backend.requests.clear()
    done = session_run(project, backend)
    events = done.events
    assert {e[1]: e[2] for e in events if e[0] == "finished"} == {
        "base": "up-to-date",
        "py": "up-to-date",
        "app": "built",
        "node": "built",
    }
    sent = {r.target: r for r in backend.requests}
    py = fake_digest("py/build")
    py_pin = done.pin("py", py)
    assert sent["app"].contexts == {"r.example/acme/py:1": f"docker-image://{py_pin}"}
    assert sent["app"].labels["org.opencontainers.image.base.digest"] == py
    assert py_pin in [c[1] for c in backend.calls if c[0] == "untag"]
    base = fake_digest("base/build")
    pins = sorted(c for c in backend.calls if c[0] == "tag" and c[1] in (py, base))
    assert pins == sorted([("tag", py, 1), ("tag", base, 1)]), "each pin made once"


def test_pushing_the_session_names_nothing_before_the_push(project: Project) -> None:
    """A push can fail after the build: until it passed, a child must not carry its
    release tags, so the session gives staging tags only."""
    backend = FakeBackend()
    backend.script("base", Phase.PUSH, Script("fail"))
    events = session_run(project, backend, push=True).events
    assert [e[:4] for e in events if e[0] == "finished"] == [
        ("finished", "base", "failed", "push"),
        ("finished", "node", "blocked", None),
        ("finished", "py", "blocked", None),
        ("finished", "app", "blocked", None),
    ]
    for request in backend.requests:
        assert [t.split(":")[1][:15] for t in request.tags] == ["stackbake-build"], request
    moved = [t for t in backend.images if t.endswith(":1")]
    assert moved == ["r.example/acme/base:1"], "a blocked target's release tag moved"
    assert [t for t in (*backend.images, *backend.registry) if ":key-" in t] == [], (
        "a key tag for a push that failed"
    )
    untagged = {c[1] for c in backend.calls if c[0] == "untag"}
    assert untagged == {t for r in backend.requests for t in r.tags}


class Blamed:
    """A backend whose session blames a child while its parent never finished."""

    def bake(
        self,
        requests: list[BuildRequest],
        sink: SessionSink,
        cancel: CancelToken,
        files: SessionFiles,
        primers: list[BuildRequest],
    ) -> None:
        sink.line("app", "#5 ERROR: failed")
        sink.done("app", BuildResult(False, reason="exit code 1"))


def test_a_failure_is_only_believed_when_the_ancestors_were_built(tmp_path: Path) -> None:
    request = BuildRequest("app", Phase.BUILD, tmp_path, tmp_path / "Dockerfile")
    session = Session(
        Blamed(),  # type: ignore[arg-type]
        {"py": request, "app": request},
        {"py": [], "app": ["py"]},
        StateDir(tmp_path),
        RunTags(FakeBackend()),
    )
    session.start()
    lines: list[str] = []
    assert session.wait("app", lines.append, CancelToken()) is None
    assert session.wait("py", lines.append, CancelToken()) is None
    session.close()
    assert lines == ["#5 ERROR: failed"]


@pytest.mark.parametrize(
    ("options", "why"),
    [
        (BuildOptions(per_target=True), "per-target"),
        (BuildOptions(jobs=1), "-j 1"),
        (BuildOptions(mode=OutputMode(pull=True)), "--pull"),
    ],
)
def test_when_targets_build_alone(project: Project, options: BuildOptions, why: str) -> None:
    h = project.hierarchy
    names = list(h.dag)
    assert session_members(h, options, names) == (), why
    assert session_members(h, BuildOptions(jobs=4), names[:1]) == (), "one target: nothing to share"
    assert session_members(h, BuildOptions(jobs=4), names) == ("base", "node", "py", "app")


def test_a_build_on_another_builder_builds_alone(tmp_path: Path) -> None:
    write_tree(tmp_path, FILES)
    project = load_project(None, cwd=tmp_path, environ={}, sets=["node.builder=remote"])
    assert (
        session_members(project.hierarchy, BuildOptions(jobs=4), list(project.hierarchy.dag)) == ()
    )


def test_a_target_with_a_network_mode_builds_the_run_alone(tmp_path: Path) -> None:
    """bake 0.13 drops `network` from its file: a session would run `none` with the
    network, `host` without it."""
    write_tree(tmp_path, FILES)
    for network in ("none", "host"):
        sets = [f"node.network={network}"]
        h = load_project(None, cwd=tmp_path, environ={}, sets=sets).hierarchy
        assert session_members(h, BuildOptions(jobs=4), list(h.dag)) == (), network
    h = load_project(None, cwd=tmp_path, environ={}, sets=["node.network=default"]).hierarchy
    assert session_members(h, BuildOptions(jobs=4), list(h.dag)) != ()


def test_fail_fast_in_a_session_starts_nothing_after_the_failure(project: Project) -> None:
    """node fails in the session: what was running (py, waiting for the session) still
    finishes, built alone; nothing starts after the failure; what waited is cancelled."""
    backend = FakeBackend()
    backend.script("node", Phase.BUILD, Script("fail"))
    options = BuildOptions(jobs=2, retries=2, retry_base_s=0.001, fail_fast=True)
    events = execute_plan(project, backend, options).events
    stop = next(i for i, e in enumerate(events) if e[0] == "stopping")
    assert events[stop][1] == "fail-fast: node failed"
    running = set(events[stop][2])  # type: ignore[arg-type]
    started_after = {e[1] for e in events[stop:] if e[0] == "started" and e[2] == "build"}
    assert started_after <= running, "a build started after the failure"
    final = {e[1]: e[2:5] for e in events if e[0] == "finished"}
    assert final["node"] == ("failed", "build", "node: exit code 1")
    assert final["base"][0] == "built"
    started_before = running | {e[1] for e in events[:stop] if e[0] == "started"}
    for name in ("py", "app"):
        if name in started_before:  # running (or done) when node failed: it finishes
            assert final[name][0] == "built", name
        else:
            assert final[name] == ("cancelled", None, "fail-fast: node failed"), name
    assert not [t for t in backend.images if ":stackbake-" in t]
