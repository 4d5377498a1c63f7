"""The target runner, each target built on its own, through the pipeline's wiring with
the recording fake backend: the exact sequence of events for success, failure,
blocked, retries; pins and pulls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.backend.base import BuildResult, Layers
from orchestrator.backend.fake import STALE_EXPORT, FakeBackend, Script, fake_digest
from orchestrator.build.attempts import Attempts, RetryPolicy
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.events import Event
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.project import Project, load_project
from tests.helpers import execute_plan, simple, ticks, write_tree

SPEC = """\
version: 1
defaults:
  tags: ["r.example/acme/${target}:1"]
targets:
  base: {context: base}
  py: {context: py, test: test}
  app: {context: app}
  node: {context: node}
"""
FILES = {
    "builds.yaml": SPEC,
    "base/Dockerfile": "FROM alpine\n",
    "py/Dockerfile": "FROM r.example/acme/base:1 AS main\nFROM main AS test\nFROM main\n",
    "app/Dockerfile": "FROM r.example/acme/py:1\n",
    "node/Dockerfile": "FROM r.example/acme/base:1\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_tree(tmp_path, FILES)
    return load_project(None, cwd=tmp_path, environ={})


def never(name: str) -> tuple[object, ...]:
    return ("log", name, "building: never built")


def run(
    project: Project,
    backend: FakeBackend,
    *,
    jobs: int = 1,
    fail_fast: bool = False,
    push: bool = False,
    interrupted: threading.Event | None = None,
    on_event: Callable[[tuple[object, ...]], None] = lambda event: None,
) -> list[tuple[object, ...]]:
    """The events of a run that builds each target on its own (-j 1 unless asked)."""
    options = BuildOptions(
        mode=OutputMode(push=push),
        jobs=jobs,
        fail_fast=fail_fast,
        retries=2,
        retry_base_s=0.001,
        per_target=True,
    )
    return execute_plan(
        project, backend, options, interrupted=interrupted, on_event=on_event
    ).events


def test_success_in_build_order_with_test_stage(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.BUILD, Script(lines=("#1 FROM alpine", "#2 DONE")))
    assert run(project, backend) == [
        never("base"),
        ("started", "base", "build", 1),
        ("log", "base", "#1 FROM alpine"),
        ("log", "base", "#2 DONE"),
        ("finished", "base", "built", None, "", (), 1),
        never("py"),
        ("started", "py", "build", 1),
        ("started", "py", "test", 1),
        ("finished", "py", "built", None, "", (), 2),
        never("app"),
        ("started", "app", "build", 1),
        ("finished", "app", "built", None, "", (), 1),
        never("node"),
        ("started", "node", "build", 1),
        ("finished", "node", "built", None, "", (), 1),
    ]


def test_children_are_pinned_to_the_digest_just_built(project: Project) -> None:
    backend = FakeBackend()
    done = execute_plan(project, backend, BuildOptions(jobs=1, retries=2, per_target=True))
    app = next(r for r in backend.requests if r.target == "app")
    digest = fake_digest("py/build")
    pin = done.pin("py", digest)
    assert pin == f"r.example/acme/py:stackbake-{digest[7:]}-{done.state.run_id}"
    assert app.contexts == {"r.example/acme/py:1": f"docker-image://{pin}"}
    # The pin is made before the child's build (by the child's builder), once, and
    # removed after the run.
    ops = [(c[0], c[1]) for c in backend.calls]
    assert ops.index(("tag", digest)) < ops.index(("build", "app"))
    assert ops.count(("tag", digest)) == 2  # the pin, then py's release tags after its test
    assert ("untag", pin) in ops[ops.index(("build", "node")) :]
    assert pin not in backend.images


def test_pushed_parents_are_pinned_by_registry_digest(project: Project) -> None:
    backend = FakeBackend()
    run(project, backend, push=True)
    node = next(r for r in backend.requests if r.target == "node")
    assert node.contexts == {
        "r.example/acme/base:1": f"docker-image://r.example/acme/base@{fake_digest('base/build')}"
    }
    assert backend.registry["r.example/acme/app:1"] == fake_digest("app/build")
    removed = [c[1] for c in backend.calls if c[0] == "untag"]
    assert [t for t in removed if ":stackbake-" in t and ":stackbake-build-" not in t] == []


def test_failure_blocks_descendants_and_independent_branches_go_on(project: Project) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.BUILD, Script("fail", lines=("#5 RUN make",)))
    assert run(project, backend) == [
        never("base"),
        ("started", "base", "build", 1),
        ("finished", "base", "built", None, "", (), 1),
        never("py"),
        ("started", "py", "build", 1),
        ("log", "py", "#5 RUN make"),
        ("finished", "py", "failed", "build", "py: exit code 1", (), 1),
        ("finished", "app", "blocked", None, "", ("py",), 0),
        never("node"),
        ("started", "node", "build", 1),
        ("finished", "node", "built", None, "", (), 1),
    ]


def test_failing_test_stage_fails_in_phase_test_and_is_not_pushed(project: Project) -> None:
    backend = FakeBackend()
    backend.script("py", Phase.TEST, Script("fail"))
    events = run(project, backend, push=True)
    assert ("finished", "py", "failed", "test", "py: exit code 1", (), 2) in events
    assert ("finished", "app", "blocked", None, "", ("py",), 0) in events
    assert [c for c in backend.calls if c[0] == "push"] == [
        ("push", "base", 1),
        ("push", "node", 1),
    ]


def test_transient_errors_are_retried_permanent_ones_are_not(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.BUILD, Script("transient"), Script("transient"), Script())
    backend.script("node", Phase.BUILD, Script("fail"))
    events = run(project, backend)
    assert events[:7] == [
        never("base"),
        ("started", "base", "build", 1),
        ("retrying", "base", "build", 1, "503 Service Unavailable"),
        ("started", "base", "build", 2),
        ("retrying", "base", "build", 2, "503 Service Unavailable"),
        ("started", "base", "build", 3),
        ("finished", "base", "built", None, "", (), 3),
    ]
    assert ("finished", "node", "failed", "build", "node: exit code 1", (), 1) in events


def test_a_stale_cache_is_tried_again_without_the_cache(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.BUILD, Script("stale"), Script())
    events = run(project, backend)
    assert events[:6] == [
        never("base"),
        ("started", "base", "build", 1),
        ("log", "base", "the engine lost a cached step's snapshot: trying again without its cache"),
        ("retrying", "base", "build", 1, STALE_EXPORT),
        ("started", "base", "build", 2),
        ("finished", "base", "built", None, "", (), 2),
    ]
    assert [r.no_cache for r in backend.requests if r.target == "base"] == [False, True]


def test_retries_run_out(project: Project) -> None:
    backend = FakeBackend()
    backend.script("base", Phase.PUSH, Script("transient"))
    events = run(project, backend, push=True)
    assert events[:9] == [
        never("base"),
        ("started", "base", "build", 1),
        ("started", "base", "push", 1),
        ("retrying", "base", "push", 1, "503 Service Unavailable"),
        ("started", "base", "push", 2),
        ("retrying", "base", "push", 2, "503 Service Unavailable"),
        ("started", "base", "push", 3),
        ("finished", "base", "failed", "push", "503 Service Unavailable", (), 4),
        ("finished", "node", "blocked", None, "", ("base",), 0),
    ]


def test_pull_with_local_parents_fetches_external_bases_itself(tmp_path: Path) -> None:
    files = {
        **FILES,
        "node/Dockerfile": "FROM r.example/acme/base:1\nCOPY --from=tools.example/t:2 /t /t\n",
    }
    write_tree(tmp_path, files)
    project = load_project(None, cwd=tmp_path, environ={}, sets=["*.pull=true"])
    backend = FakeBackend()
    run(project, backend)
    requests = {r.target: r for r in backend.requests}
    assert requests["base"].pull is True  # no parents: BuildKit's own --pull
    assert requests["node"].pull is False
    assert [c for c in backend.calls if c[0] == "pull"] == [("pull", "tools.example/t:2 ", 1)]


class Ticking:
    """A monotonic clock that moves `step` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = -step, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_transient_errors_are_retried_while_the_time_budget_lasts() -> None:
    def attempts(policy: RetryPolicy) -> list[tuple[object, ...]]:
        events: list[Event] = []
        tries = Attempts("base", events.append, CancelToken(), policy, ticks())
        result = tries.run(Phase.PUSH, lambda: BuildResult(False, reason="503", transient=True))
        assert (result.ok, result.transient, tries.count) == (False, True, len(events) // 2 + 1)
        return [simple(e)[:4] for e in events]

    # Each attempt takes 20 s of the 60 s budget: three attempts, the last at 40 s.
    budget = RetryPolicy(timeout_s=60, base_s=0.001, now=Ticking(20))
    assert attempts(budget) == [
        ("started", "base", "push", 1),
        ("retrying", "base", "push", 1),
        ("started", "base", "push", 2),
        ("retrying", "base", "push", 2),
        ("started", "base", "push", 3),
    ]
    # --retries caps the count within the budget.
    capped = RetryPolicy(retries=1, timeout_s=60, base_s=0.001, now=Ticking(1))
    assert [e for e in attempts(capped) if e[0] == "started"] == [
        ("started", "base", "push", 1),
        ("started", "base", "push", 2),
    ]


def test_a_wait_between_attempts_never_outlasts_the_budget() -> None:
    policy = RetryPolicy(timeout_s=5, base_s=4, cap_s=10, now=Ticking(0))
    assert all(2 <= policy.delay(3) <= 10 for _ in range(50))
    policy = RetryPolicy(timeout_s=5, base_s=4, cap_s=10, now=Ticking(3))
    assert policy.next_delay(3, since=-3.0) == pytest.approx(2.0)  # 5 s budget, 3 s gone
    assert policy.next_delay(1, since=-10.0) is None


def test_a_child_on_stale_layers_is_built_again_without_its_cache(project: Project) -> None:
    """app's first build sits on layers py does not have (a content-based cache hit on
    an older py): found by its lineage, built again without its steps' cache."""
    backend = FakeBackend(stale={"app"})
    events = run(project, backend)
    py = fake_digest("py/build")
    app = [e for e in events if e[1] == "app"]
    assert app == [
        never("app"),
        ("started", "app", "build", 1),
        (
            "log",
            "app",
            f"lineage: on linux/amd64 the layers of app do not begin with those of py ({py}): "
            "building it again, without its steps' cache",
        ),
        ("started", "app", "build", 2),
        ("finished", "app", "built", None, "", (), 2),
    ]
    sent = [r for r in backend.requests if r.target == "app" and r.phase is Phase.BUILD]
    assert [r.no_cache for r in sent] == [False, True]
    assert (
        backend.stacks[fake_digest("app/build")]["linux/amd64"][:-1]
        == (backend.stacks[py]["linux/amd64"])
    )


def test_a_child_whose_lineage_cannot_be_mended_fails_and_is_not_released(
    project: Project,
) -> None:
    class Broken(FakeBackend):
        def layers(self, digest: str, *, registry_ref: str | None = None) -> Layers:
            found = super().layers(digest, registry_ref=registry_ref)
            if digest == fake_digest("app/build"):
                return dict.fromkeys(found, ("elsewhere",))
            return found

    backend = Broken()
    backend.images["r.example/acme/app:1"] = "sha256:before"
    events = run(project, backend)
    py = fake_digest("py/build")
    reason = f"lineage: on linux/amd64 the layers of app do not begin with those of py ({py})"
    assert [e for e in events if e[1] == "app"][-2:] == [
        ("started", "app", "build", 2),
        ("finished", "app", "failed", "build", reason, (), 2),
    ]
    assert backend.images["r.example/acme/app:1"] == "sha256:before", "released anyway"


def test_a_target_whose_parent_builds_builds_too(project: Project) -> None:
    """py is forced (same key, new image): app, up to date on py's old image, builds on
    the new one; node, on base (untouched), stays up to date."""
    backend = FakeBackend()
    run(project, backend)
    backend.requests.clear()
    options = BuildOptions(jobs=1, retries=2, retry_base_s=0.001, per_target=True, force=("py",))
    events = execute_plan(project, backend, options).events
    assert {e[1]: e[2] for e in events if e[0] == "finished"} == {
        "base": "up-to-date",
        "py": "built",
        "app": "built",
        "node": "up-to-date",
    }
    assert ("log", "app", "building: parent py builds: built again on its new image") in events
