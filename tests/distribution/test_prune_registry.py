"""The registry side of prune against a fake skopeo: what is read of tags, indexes,
platform manifests, configs and cosign's tags; DELETEs in order, left out when what
they need did not go."""

from __future__ import annotations

import json

import pytest

from orchestrator.distribution.prune_plan import Step
from orchestrator.distribution.prune_registry import delete_steps, read_registry
from tests.distribution.prune_fake import FakeRegistry, digest_of, install

REPO = "localhost:5000/acme/base"

DENIED = "localhost:5000 refuses to write (read-only, or this user may not write there)"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    return install(monkeypatch)


def test_an_index_its_platforms_its_config_and_its_signatures_are_read(fake: FakeRegistry) -> None:
    parent = "sha256:" + "ab" * 32
    labels = {
        "org.opencontainers.image.created": "2025-06-15T12:00:00.123456789Z",
        "org.opencontainers.image.base.digest": parent,
        "org.opencontainers.image.base.name": "localhost:5000/acme/root:1",
    }
    amd, amd_size = fake.image(REPO, "amd", labels, "amd64")
    arm, arm_size = fake.image(REPO, "arm", labels, "arm64")
    att = fake.put(REPO, {"layers": [{"digest": digest_of("provenance"), "size": 77}]})
    entries = [(amd, amd_size, "amd64"), (arm, arm_size, "arm64"), (att, 1, "unknown")]
    index = fake.index(REPO, entries, "v1", "key-" + "9f" * 32)
    sig = fake.put(REPO, {"layers": [{"digest": digest_of("payload"), "size": 300}]},
                   f"sha256-{index[7:]}.sig")  # fmt: skip
    fake.put(REPO, {"layers": []}, f"sha256-{'cd' * 32}.att")  # what it attests is gone

    fake.vanishing.add("vanished")
    (image,), attachments = read_registry([REPO])
    assert image.digest == index
    assert image.tags == ("key-" + "9f" * 32, "v1")
    assert image.created == 1749988800.123456
    assert image.platforms == {"linux/amd64": amd, "linux/arm64": arm}
    assert image.children == (amd, arm, att)
    assert image.layers == {
        "linux/amd64": (digest_of("seed"), digest_of("amd")),
        "linux/arm64": (digest_of("seed"), digest_of("arm")),
    }
    assert (image.base_digest, image.base_name) == (parent, "localhost:5000/acme/root:1")
    configs = {json.loads(fake.manifests[REPO][m])["config"]["digest"] for m in (amd, arm)}
    assert image.also == frozenset(configs)
    assert image.blobs[att] == {att: len(fake.manifests[REPO][att]), digest_of("provenance"): 77}
    assert image.blobs[index] == {index: len(fake.manifests[REPO][index])}
    assert [(a.kind, a.subject, a.digest, a.orphan) for a in attachments] == [
        ("sig", index, sig, False),
        (
            "att",
            "sha256:" + "cd" * 32,
            digest_of(fake.manifests[REPO][attachments[1].digest]),
            True,
        ),
    ]


def test_a_manifest_alone_takes_its_platform_from_its_config(fake: FakeRegistry) -> None:
    manifest, _ = fake.image(REPO, "solo", {}, "arm64")
    fake.tags[REPO]["2"] = manifest
    (image,), _ = read_registry([REPO])
    assert image.platforms == {"linux/arm64": manifest}
    assert image.layers == {"linux/arm64": (digest_of("seed"), digest_of("solo"))}
    assert image.created is None
    assert image.children == ()


def test_deletes_in_order_and_none_whose_needs_are_still_there(fake: FakeRegistry) -> None:
    index, stuck = (
        fake.put(REPO, {"manifests": [], "n": 0}, "1"),
        fake.put(REPO, {"manifests": []}, "2"),
    )
    child, sig, left = fake.put(REPO, {"n": 1}), fake.put(REPO, {"n": 2}), fake.put(REPO, {"n": 3})
    fake.refuse.add(stuck)
    said: list[str] = []
    steps = [
        Step(REPO, index, "image"),
        Step(REPO, stuck, "image"),
        Step(REPO, child, "manifest", (index,)),
        Step(REPO, "sha256:" + "00" * 32, "manifest", (index,)),  # gone already: fine
        Step(REPO, left, "manifest", (index, stuck)),
        Step(REPO, sig, "signature", (stuck,)),
    ]
    failed = delete_steps(steps, said.append)
    assert fake.deleted == [index, child]
    assert failed == {
        (REPO, stuck): f"delete {REPO}@{stuck}: denied: not allowed ({DENIED})",
        (REPO, left): f"not deleted: {stuck} is still there",
        (REPO, sig): f"not deleted: {stuck} is still there",
    }
    assert said == [
        f"error: delete {REPO}@{stuck}: denied: not allowed ({DENIED})",
        f"manifest {REPO}@{left}: not deleted: {stuck} is still there",
        f"signature {REPO}@{sig}: not deleted: {stuck} is still there",
    ]
