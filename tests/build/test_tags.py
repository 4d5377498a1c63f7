"""The run's own tags: handed out once, made once, removed together."""

from __future__ import annotations

import threading
from pathlib import Path

from orchestrator.backend.fake import FakeBackend
from orchestrator.build.tags import RunTags
from orchestrator.hierarchy.project import load_project
from tests.build.test_runner import FILES
from tests.helpers import write_tree


def test_each_target_has_one_staging_tag_per_run_and_all_are_removed(tmp_path: Path) -> None:
    write_tree(tmp_path, FILES)
    targets = load_project(None, cwd=tmp_path, environ={}).spec.targets
    backend = FakeBackend()
    tags = RunTags(backend)
    py = tags.staging(targets["py"])
    assert py.startswith("r.example/acme/py:stackbake-build-")
    assert tags.staging(targets["py"]) == py, "every attempt lands under the same name"
    app = tags.staging(targets["app"])
    assert app.startswith("r.example/acme/app:stackbake-build-")
    assert app != py
    assert RunTags(backend).staging(targets["py"]) != py, "another run, another name"
    backend.images.update({py: "sha256:1", app: "sha256:2", "r.example/acme/py:1": "sha256:1"})
    tags.remove()
    assert backend.images == {"r.example/acme/py:1": "sha256:1"}
    assert sorted(c[1] for c in backend.calls if c[0] == "untag") == sorted([py, app])
    tags.remove()
    assert len([c for c in backend.calls if c[0] == "untag"]) == 2, "nothing left to remove"


def test_a_pin_is_made_once_even_when_asked_for_at_once() -> None:
    backend = FakeBackend()
    tags = RunTags(backend)
    pins = {"r.example/a:stackbake-1": "sha256:1", "r.example/b:stackbake-2": "sha256:2"}
    threads = [threading.Thread(target=tags.pin, args=(pins,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(c for c in backend.calls if c[0] == "tag") == [
        ("tag", "sha256:1", 1),
        ("tag", "sha256:2", 1),
    ]
    assert backend.images == pins
    assert sorted(tags.made()) == sorted(pins)
