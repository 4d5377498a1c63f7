"""Locked external bases with the fake backend: builds pin to the lock and complete it;
`lock` writes it; `refresh` rebuilds exactly what builds on a base that moved."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from orchestrator.backend.fake import FakeBackend, Script
from orchestrator.bases.lockfile import load_lock
from orchestrator.bases.resolution import run_lock
from orchestrator.build.options import BuildOptions, OutputMode
from orchestrator.build.pipeline import run_build
from orchestrator.build.refresh import run_refresh
from orchestrator.errors import SpecError
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.project import Project, load_project
from tests.helpers import write_tree

A1, A2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
D1 = "sha256:" + "d" * 64
ALPINE, DEBIAN = "docker.io/library/alpine:3.20", "docker.io/library/debian:12"
FILES = {
    "builds.yaml": """\
        version: 1
        defaults:
          tags: ["r.example/acme/${target}:1"]
          platforms: [linux/amd64, linux/arm64]
        targets:
          base: {context: base}
          py: {context: py}
          app: {context: app}
          other: {context: other}
        """,
    "base/Dockerfile": "FROM alpine:3.20\n",
    "py/Dockerfile": "FROM r.example/acme/base:1\n",
    "app/Dockerfile": "FROM r.example/acme/py:1\n",
    "other/Dockerfile": "FROM debian:12\n",
}
BOTH = {"linux/amd64": "sha256:" + "e" * 64, "linux/arm64": "sha256:" + "f" * 64}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path, FILES)
    return load_project(None, cwd=tmp_path, environ={})


def registry() -> FakeBackend:
    return FakeBackend(registry={ALPINE: A1, DEBIAN: D1}, platforms={A1: BOTH, A2: BOTH, D1: BOTH})


def options(**kw: object) -> BuildOptions:
    return BuildOptions(progress="plain", jobs=1, retries=2, retry_base_s=0.001, **kw)  # type: ignore[arg-type]


def build(project: Project, backend: FakeBackend) -> tuple[int, str]:
    out = io.StringIO()
    code = run_build(project, options(), backend, stream=out, interrupted=threading.Event())
    return code, out.getvalue()


def refresh(project: Project, backend: FakeBackend, *, dry_run: bool) -> tuple[int, str]:
    out = io.StringIO()
    code = run_refresh(
        project, options(), backend, dry_run=dry_run, stream=out, interrupted=threading.Event()
    )
    return code, out.getvalue()


def built(backend: FakeBackend) -> list[str]:
    return [r.target for r in backend.requests if r.phase is Phase.BUILD]


def test_first_build_locks_its_bases_and_pins_them(project: Project) -> None:
    backend = registry()
    code, out = build(project, backend)
    assert code == 0
    assert out.splitlines()[:2] == [
        f"builds.lock: {ALPINE}: locked at {A1}",
        f"builds.lock: {DEBIAN}: locked at {D1}",
    ]
    assert load_lock(project.spec.folder / "builds.lock").digests() == {ALPINE: A1, DEBIAN: D1}
    base = next(r for r in backend.requests if r.target == "base")
    assert base.contexts == {"alpine:3.20": f"docker-image://docker.io/library/alpine@{A1}"}
    assert base.labels["org.opencontainers.image.base.digest"] == A1


def test_a_base_no_registry_knows_is_built_unpinned_and_said(project: Project) -> None:
    backend = FakeBackend(registry={ALPINE: A1})
    code, out = build(project, backend)
    assert code == 0
    assert f"{DEBIAN}: not found in a registry; not pinned, used as the engine has it" in out
    other = next(r for r in backend.requests if r.target == "other")
    assert other.contexts == {}


def test_the_lock_holds_until_refresh(project: Project) -> None:
    backend = registry()
    build(project, backend)
    backend.registry[ALPINE] = A2  # upstream pushed a new alpine:3.20
    backend.requests.clear()
    code, out = build(project, backend)
    assert code == 0
    assert built(backend) == [], out


def test_refresh_dry_run_shows_the_subtree_and_writes_nothing(project: Project) -> None:
    backend = registry()
    build(project, backend)
    before = (project.spec.folder / "builds.lock").read_text(encoding="utf-8")
    backend.registry[ALPINE] = A2
    backend.requests.clear()
    code, out = refresh(project, backend, dry_run=True)
    assert code == 0
    assert built(backend) == []
    assert (project.spec.folder / "builds.lock").read_text(encoding="utf-8") == before
    lines = out.splitlines()
    assert lines[:2] == ["builds.lock: 2 bases resolved, 1 changed", f"  {ALPINE}: {A1} -> {A2}"]
    actions = [line.split()[0] for line in lines if line.strip().startswith(("build:", "up-"))]
    assert actions == ["build:", "build:", "build:"]
    assert f"base {ALPINE} changed: {A1} -> {A2}" in out
    assert "parent base changed" in out
    assert "other" not in out, "up-to-date targets are not listed"
    assert "needed by the selection" not in out, "every listed target would build"
    assert lines[-1] == "dry run: the lock was not written, nothing was built"


def test_refresh_rebuilds_exactly_the_subtree_of_the_moved_base(project: Project) -> None:
    backend = registry()
    build(project, backend)
    backend.registry[ALPINE] = A2
    backend.requests.clear()
    code, out = refresh(project, backend, dry_run=False)
    assert code == 0, out
    assert built(backend) == ["base", "py", "app"]
    assert load_lock(project.spec.folder / "builds.lock").digests()[ALPINE] == A2
    assert "on a moved base: base, and what builds on them" in out
    assert out.splitlines()[-1].startswith("Done: 3 built, 1 up-to-date in ")
    backend.requests.clear()
    code, out = refresh(project, backend, dry_run=False)
    assert (code, built(backend)) == (0, [])
    assert out.splitlines()[-1].startswith("Done: 4 up-to-date in ")


def test_refresh_retries_what_failed_under_last_nights_base(project: Project) -> None:
    backend = registry()
    build(project, backend)
    backend.registry[ALPINE] = A2
    backend.script("py", Phase.BUILD, Script("fail"))
    code, _ = refresh(project, backend, dry_run=False)
    assert code == 1
    backend.scripts.clear()
    backend.requests.clear()
    code, out = refresh(project, backend, dry_run=False)  # alpine no longer "moves"
    assert code == 0, out
    assert built(backend) == ["py", "app"]


def test_lock_writes_every_base_and_fails_on_an_unknown_one(project: Project) -> None:
    out = io.StringIO()
    assert run_lock(project.hierarchy, registry(), stream=out) == 0
    assert load_lock(project.spec.folder / "builds.lock").images[ALPINE].platforms == BOTH
    out = io.StringIO()
    assert run_lock(project.hierarchy, FakeBackend(registry={ALPINE: A1}), stream=out) == 1
    assert out.getvalue().splitlines()[-1] == (
        f"  {DEBIAN}: not found in its registry (or not allowed: docker login), left "
        "unlocked; used by other/Dockerfile:1 FROM debian:12"
    )


def test_a_base_without_a_platform_the_target_builds_is_refused(project: Project) -> None:
    backend = FakeBackend(
        registry={ALPINE: A1, DEBIAN: D1},
        platforms={A1: {"linux/amd64": BOTH["linux/amd64"]}, D1: BOTH},
    )
    with pytest.raises(SpecError) as info:
        run_lock(project.hierarchy, backend, stream=io.StringIO())
    assert str(info.value) == (
        f"base/Dockerfile:1: FROM alpine:3.20: {ALPINE} has no linux/arm64 image (it has "
        "linux/amd64); target 'base' builds for it: change the target's platforms or its base"
    )


def test_pull_does_not_fetch_a_locked_base_by_its_tag(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "builds.yaml": (
                "version: 1\ntargets:\n  base: {context: base, tags: [r.example/base:1]}\n"
                "  app: {context: app}\n"
            ),
            "base/Dockerfile": "FROM alpine:3.20\n",
            "app/Dockerfile": ("FROM r.example/base:1\nCOPY --from=debian:12 /etc/os-release /\n"),
        },
    )
    project = load_project(None, cwd=tmp_path, environ={})
    backend = FakeBackend(registry={ALPINE: A1})  # debian:12 is in no registry: not locked
    out = io.StringIO()
    code = run_build(
        project,
        options(mode=OutputMode(pull=True)),
        backend,
        stream=out,
        interrupted=threading.Event(),
    )
    assert code == 0, out.getvalue()
    assert [c[1] for c in backend.calls if c[0] == "pull"] == ["debian:12 "], backend.calls
    app = next(r for r in backend.requests if r.target == "app")
    assert app.pull is False


def test_refresh_fails_when_a_base_could_not_be_resolved(project: Project) -> None:
    backend = registry()
    build(project, backend)
    del backend.registry[DEBIAN]  # e.g. the registry's credentials expired
    code, out = refresh(project, backend, dry_run=False)
    assert code == 1
    assert f"  {DEBIAN}: not found in its registry (or not allowed: docker login)" in out
    assert out.splitlines()[-1].startswith("Done: 4 up-to-date in ")


def test_a_platform_matches_the_variant_an_official_index_writes(project: Project) -> None:
    arm = {"linux/amd64": BOTH["linux/amd64"], "linux/arm64/v8": BOTH["linux/arm64"]}
    backend = FakeBackend(registry={ALPINE: A1, DEBIAN: D1}, platforms={A1: arm, D1: arm})
    assert run_lock(project.hierarchy, backend, stream=io.StringIO()) == 0


def test_refresh_dry_run_counts_forced_targets(project: Project) -> None:
    backend = registry()
    build(project, backend)
    out = io.StringIO()
    code = run_refresh(
        project,
        options(force=("other",)),
        backend,
        dry_run=True,
        stream=out,
        interrupted=threading.Event(),
    )
    assert code == 0
    assert "built regardless: --force" in out.getvalue()
    assert "nothing would be built" not in out.getvalue()


MIRRORED = {
    **FILES,
    "builds.yaml": FILES["builds.yaml"]
    + "mirrors:\n          docker.io/library/*: mirror.internal/hub/*\n",
}
MIRROR_ALPINE = "mirror.internal/hub/alpine:3.20"


def test_a_mirrored_base_is_locked_and_pinned_at_its_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path, MIRRORED)
    project = load_project(None, cwd=tmp_path, environ={})
    backend = FakeBackend(registry={MIRROR_ALPINE: A1}, platforms={A1: BOTH})  # not upstream
    code, out = build(project, backend)
    assert code == 0
    assert out.splitlines()[:2] == [
        f"builds.lock: {ALPINE}: locked at {A1}",  # the lock keeps the Dockerfile's name
        f"{DEBIAN}: not found at its mirror mirror.internal/hub/debian:12 ('stackbake mirror' "
        "copies it); not pinned, used as the engine has it",
    ]
    assert ("lookup", f"{MIRROR_ALPINE},mirror.internal/hub/debian:12", 1) in backend.calls
    base = next(r for r in backend.requests if r.target == "base")
    assert base.contexts == {"alpine:3.20": f"docker-image://mirror.internal/hub/alpine@{A1}"}
    other = next(r for r in backend.requests if r.target == "other")
    assert other.contexts == {"debian:12": "docker-image://mirror.internal/hub/debian:12"}
