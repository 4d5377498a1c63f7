"""`prune --local` without an engine: what is read of each local image (python-on-whales
objects faked), which names each removal takes and when it frees the image's size, and
a removal the engine refuses."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from python_on_whales import docker
from python_on_whales.exceptions import DockerException

from orchestrator.distribution.prune_decide import Verdict
from orchestrator.distribution.prune_local import local_removals, read_local, remove_names
from orchestrator.distribution.prune_model import Image
from tests.distribution.prune_fixtures import REG, d

BASE = f"{REG}/base"


def found(tags: list[str], digest: str, labels: dict[str, str] | None = None, size: int = 5) -> Any:
    return SimpleNamespace(
        id=digest,
        repo_tags=tags,
        repo_digests=[f"{BASE}@{d('pushed ' + digest)}"],
        config=SimpleNamespace(labels=labels),
        created=dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
        os="linux",
        architecture="arm64",
        variant="v8",
        root_fs=SimpleNamespace(layers=["sha256:l0", "sha256:l1"]),
        size=size,
    )


def test_each_image_is_read_once_per_repository_it_is_named_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    labels = {
        "org.opencontainers.image.created": "2025-06-02T00:00:00Z",
        "org.opencontainers.image.base.name": f"{REG}/root:1",
    }
    one = found(
        [f"{BASE}:1", f"{BASE}:stackbake-build-0123456789ab", "mine/copy:1"], d("1"), labels
    )
    both = found([f"{BASE}:2", f"{REG}/app:2"], d("2"))
    listed = {BASE: [one, both], f"{REG}/app": [both]}
    monkeypatch.setattr(docker.image, "list", lambda repository_or_tag: listed[repository_or_tag])
    images = read_local([BASE, f"{REG}/app"])
    assert [(i.repository, i.tags, i.elsewhere) for i in images] == [
        (BASE, ("1", "stackbake-build-0123456789ab"), ("mine/copy:1",)),
        (BASE, ("2",), ()),  # its other name is in a repository read too
        (f"{REG}/app", ("2",), ()),
    ]
    first = images[0]
    assert first.created == dt.datetime(2025, 6, 2, tzinfo=dt.UTC).timestamp()
    assert images[1].created == dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()
    assert first.layers == {"linux/arm64/v8": ("sha256:l0", "sha256:l1")}
    assert first.also == frozenset({d("pushed " + d("1"))})
    assert (first.base_name, first.base_digest, first.size) == (f"{REG}/root:1", "", 5)


def verdict(image: Image, kept: bool) -> Verdict:
    return Verdict(image, kept, ("x",), None, True)


def test_the_size_is_freed_by_the_removal_that_takes_the_last_name() -> None:
    alone = Image(BASE, d("1"), ("1", "stackbake-build-0123456789ab"), size=100)
    in_two = Image(BASE, d("2"), ("2",), size=200)
    in_two_app = Image(f"{REG}/app", d("2"), ("2",), size=200)
    named_elsewhere = Image(BASE, d("3"), ("3",), size=300, elsewhere=("mine/copy:3",))
    kept_twin = Image(f"{REG}/app", d("4"), ("4",), size=400)
    going_twin = Image(BASE, d("4"), ("4",), size=400)
    verdicts = [
        verdict(alone, False),
        verdict(in_two, False),
        verdict(in_two_app, False),
        verdict(named_elsewhere, False),
        verdict(kept_twin, True),
        verdict(going_twin, False),
    ]
    assert [(r.names, r.freed) for r in local_removals(verdicts)] == [
        ((f"{BASE}:1", f"{BASE}:stackbake-build-0123456789ab"), 100),
        ((f"{BASE}:2",), 0),
        ((f"{REG}/app:2",), 200),
        ((f"{BASE}:3",), 0),
        ((f"{BASE}:4",), 0),
    ]


def test_a_removal_the_engine_refuses_is_said_and_the_others_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    removed: list[list[str]] = []
    refusal = b'Error response from daemon: conflict: unable to remove repository reference "x"'

    def remove(names: list[str], force: bool, prune: bool) -> None:
        assert (force, prune) == (False, True)
        if names == [f"{BASE}:1"]:
            raise DockerException(["docker", "image", "rm", *names], 1, b"", refusal)
        removed.append(names)

    monkeypatch.setattr(docker.image, "remove", remove)
    one, two = Image(BASE, d("1"), ("1",)), Image(BASE, d("2"), ("2", "9"))
    failed = remove_names(local_removals([verdict(one, False), verdict(two, False)]))
    assert removed == [[f"{BASE}:2", f"{BASE}:9"]]
    assert failed == {(BASE, d("1")): refusal.decode()}
