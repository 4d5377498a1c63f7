"""The targets that build, in one session, with the recording fake backend: the exact
events, the requests the session sends, and each way a session ends (done, a failure,
a transient error, an interrupt)."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.backend.base import BuildRequest, BuildResult, CancelToken, SessionSink
from orchestrator.backend.fake import FakeBackend, Script, fake_digest
from orchestrator.build.labels import RunFacts
from orchestrator.build.options import BuildOptions
from orchestrator.build.requests import OutputMode, RequestFactory
from orchestrator.build.runner import RetryPolicy, TargetRunner
from orchestrator.build.session import Session, open_session
from orchestrator.execution.executor import Run
from orchestrator.execution.schedule import Schedule
from orchestrator.execution.status import Phase
from orchestrator.freshness.uptodate import assess
from orchestrator.hierarchy.project import Project, load_project
from tests.helpers import write_tree
from tests.test_scheduler import FILES, simple


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_tree(tmp_path, FILES)
    return load_project(None, cwd=tmp_path, environ={})


def session_run(
    project: Project,
    backend: FakeBackend,
    *,
    interrupted: threading.Event | None = None,
    building: Callable[[list[str]], list[str]] = lambda names: names,
    push: bool = False,
) -> tuple[Run, Session | None, TargetRunner]:
    """A run whose targets build in one session; one runner at a time (-j 1 for the
    scheduler), so the events come in one order."""
    ticks = itertools.count()

    def clock() -> float:
        return float(next(ticks))

    h = project.hierarchy
    names = list(h.dag)
    state = project.spec.folder / ".stackbake"
    fresh = assess(h, names, backend, state, forced={}, remote=push)
    factory = RequestFactory(
        h,
        OutputMode(push=push),
        RunFacts("2026-11-29T00:00:00Z", None, None),
        project.spec.folder / ".stackbake" / "logs",
        {n: fresh.key(n) for n in names},
    )
    todo = building([n for n in names if n not in fresh.current])
    session = open_session(factory, fresh, backend, todo, per_target=False, jobs=2)
    runner = TargetRunner(
        backend,
        factory,
        push=push,
        retry=RetryPolicy(2, base_s=0.001, cap_s=0.002),
        clock=clock,
        fresh=fresh,
        session=session,
    )
    schedule = Schedule(h.dag.copy(), {}, 1)
    return (
        Run(schedule, runner, False, interrupted or threading.Event(), clock=clock),
        session,
        runner,
    )


def events_of(run: Run, session: Session | None) -> list[tuple[object, ...]]:
    assert session is not None
    session.start()
    try:
        return [simple(e) for e in run.events()]
    finally:
        session.close()


def never(name: str) -> tuple[object, ...]:
    return ("log", name, "building: never built")


def test_one_session_builds_everything_and_each_runner_reports_its_target(
    project: Project,
) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.BUILD, Script(lines=("#7 [py 1/2] RUN make",)))
    run, session, _ = session_run(project, backend)
    events = events_of(run, session)
    assert events == [
        never("base"),
        ("started", "base", "build", 1),
        ("finished", "base", "built", None, "", (), 1),
        never("py"),
        ("started", "py", "build", 1),
        ("log", "py", "#7 [py 1/2] RUN make"),
        ("started", "py", "test", 1),
        ("finished", "py", "built", None, "", (), 2),
        never("app"),
        ("started", "app", "build", 1),
        ("finished", "app", "built", None, "", (), 1),
        never("node"),
        ("started", "node", "build", 1),
        ("finished", "node", "built", None, "", (), 1),
    ]
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
    run, session, runner = session_run(project, backend)
    events_of(run, session)
    sent = {r.target: r for r in backend.requests if r.phase is Phase.BUILD}
    assert sent["node"].contexts == {"r.example/acme/base:1": "target:base"}
    assert sent["app"].contexts == {"r.example/acme/py:1": "target:py"}
    assert sent["node"].labels["org.opencontainers.image.base.digest"] == ""
    assert sent["node"].labels["org.opencontainers.image.base.name"] == "r.example/acme/base:1"
    assert sent["base"].tags == ("r.example/acme/base:1",)
    assert sent["node"].tags == ("r.example/acme/node:1",)
    # py has a test stage, app is built on py: both wait for it before their tags move
    assert [t.split(":")[1][:15] for t in sent["py"].tags] == ["stackbake-build"]
    assert [t.split(":")[1][:15] for t in sent["app"].tags] == ["stackbake-build"]
    assert backend.images["r.example/acme/app:1"] == fake_digest("app/build")
    # py's test stage is pinned to base by digest: a pin tag made for it, then removed
    test = next(r for r in backend.requests if r.phase is Phase.TEST)
    base = fake_digest("base/build")
    assert test.contexts == {
        "r.example/acme/base:1": f"docker-image://r.example/acme/base:stackbake-{base[7:]}"
    }
    assert session is not None
    assert sorted({*runner.leftovers, *session.leftovers()}) == sorted(
        [
            f"r.example/acme/base:stackbake-{base[7:]}",
            *(t for n in ("py", "app") for t in sent[n].tags),
        ]
    )


def test_a_failure_fails_its_target_and_what_the_session_left_builds_alone(
    project: Project,
) -> None:
    backend = FakeBackend()
    backend.script("node", Phase.BUILD, Script("fail", lines=("#9 [node 1/1] RUN x",)))
    run, session, _ = session_run(project, backend)
    events = events_of(run, session)
    stopped = "the session stopped before this target was built: building it alone"
    assert events == [
        never("base"),
        ("started", "base", "build", 1),
        ("finished", "base", "built", None, "", (), 1),
        never("py"),
        ("started", "py", "build", 1),
        ("log", "py", stopped),
        ("started", "py", "test", 1),
        ("finished", "py", "built", None, "", (), 2),
        never("app"),
        ("started", "app", "build", 1),
        ("log", "app", stopped),
        ("finished", "app", "built", None, "", (), 1),
        never("node"),
        ("started", "node", "build", 1),
        ("log", "node", "#9 [node 1/1] RUN x"),
        ("finished", "node", "failed", "build", "node: exit code 1", (), 1),
    ]
    assert [c for c in backend.calls if c[0] in ("bake", "build")] == [
        ("bake", "base", 1),
        ("bake", "node", 1),
        ("build", "py", 1),
        ("build", "app", 1),
    ]
    alone = {r.target: r for r in backend.requests if r.phase is Phase.BUILD}
    py = fake_digest("py/build")
    assert alone["app"].contexts == {
        "r.example/acme/py:1": f"docker-image://r.example/acme/py:stackbake-{py[7:]}"
    }
    assert alone["app"].labels["org.opencontainers.image.base.digest"] == py


def test_a_transient_failure_in_the_session_is_retried_alone(project: Project) -> None:
    backend = FakeBackend()
    backend.script("app", Phase.BUILD, Script("transient"), Script())
    run, session, _ = session_run(project, backend)
    events = events_of(run, session)
    assert ("retrying", "app", "build", 1, "503 Service Unavailable") in events
    assert ("finished", "app", "built", None, "", (), 2) in events
    assert [c for c in backend.calls if c[1] == "app" and c[0] in ("bake", "build")] == [
        ("bake", "app", 1),
        ("build", "app", 1),
    ]


def test_an_interrupt_stops_the_session_and_cancels_its_targets(project: Project) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.BUILD, Script("hang"))
    interrupted = threading.Event()
    run, session, _ = session_run(project, backend, interrupted=interrupted)
    assert session is not None
    session.start()
    events = []
    for event in run.events():
        events.append(simple(event))
        if simple(event)[:2] == ("started", "py"):
            interrupted.set()
    session.close()
    assert events[-5:] == [
        ("started", "py", "build", 1),
        ("stopping", "interrupted", ("py",)),
        ("finished", "node", "cancelled", None, "interrupted", (), 0),
        ("finished", "app", "cancelled", None, "interrupted", (), 0),
        ("finished", "py", "cancelled", "build", "interrupted", (), 1),
    ]
    assert session.cancel.cancelled


def test_up_to_date_parents_are_pinned_by_digest_for_the_session(project: Project) -> None:
    backend = FakeBackend()
    first, session, _ = session_run(project, backend)
    events_of(first, session)
    (project.spec.folder / "app" / "new.txt").write_text("x")
    (project.spec.folder / "node" / "new.txt").write_text("x")
    backend.calls.clear()
    backend.requests.clear()
    run, session, _ = session_run(project, backend)
    events = events_of(run, session)
    assert [e[:3] for e in events if e[0] == "finished"] == [
        ("finished", "base", "up-to-date"),
        ("finished", "py", "up-to-date"),
        ("finished", "app", "built"),
        ("finished", "node", "built"),
    ]
    sent = {r.target: r for r in backend.requests}
    py = fake_digest("py/build")
    assert sent["app"].contexts == {
        "r.example/acme/py:1": f"docker-image://r.example/acme/py:stackbake-{py[7:]}"
    }
    assert sent["app"].labels["org.opencontainers.image.base.digest"] == py
    assert session is not None
    assert f"r.example/acme/py:stackbake-{py[7:]}" in session.leftovers()
    base = fake_digest("base/build")
    tagged = sorted(c for c in backend.calls if c[0] == "tag")
    assert tagged == sorted([("tag", py, 1), ("tag", base, 1)]), "each pin made once"


def test_pushing_the_session_names_nothing_before_the_push(project: Project) -> None:
    """A push can fail after the build: until it passed, a child must not carry its
    release tags, so the session gives staging tags only."""
    backend = FakeBackend()
    backend.script("base", Phase.PUSH, Script("fail"))
    run, session, _ = session_run(project, backend, push=True)
    events = events_of(run, session)
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
    assert session is not None
    assert set(session.leftovers()) == {t for r in backend.requests for t in r.tags}


class Blamed:
    """A backend whose session blames a child while its parent never finished."""

    def bake(
        self, requests: list[BuildRequest], sink: SessionSink, cancel: CancelToken, folder: Path
    ) -> None:
        sink.line("app", "#5 ERROR: failed")
        sink.done("app", BuildResult(False, reason="exit code 1"))


def test_a_failure_is_only_believed_when_the_ancestors_were_built(tmp_path: Path) -> None:
    request = BuildRequest("app", Phase.BUILD, tmp_path, tmp_path / "Dockerfile")
    session = Session(
        Blamed(),  # type: ignore[arg-type]
        {"py": request, "app": request},
        {"app": ["py"]},
        tmp_path / "logs",
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
    backend = FakeBackend()
    fresh = assess(h, names, backend, project.spec.folder / ".stackbake", forced={})
    factory = RequestFactory(
        h, options.mode, RunFacts("now", None, None), project.spec.folder / "logs"
    )
    got = open_session(
        factory, fresh, backend, names, per_target=options.per_target, jobs=options.jobs
    )
    assert got is None, why
    one = open_session(factory, fresh, backend, names[:1], per_target=False, jobs=4)
    assert one is None, "one target: nothing to share"
