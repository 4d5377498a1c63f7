"""The OCI layout's names: cosign's tags recognised, a bundle's images renamed for the
registry they are loaded into."""

from __future__ import annotations

from pathlib import Path

from orchestrator.distribution.layout import Entry, closure, entries
from orchestrator.distribution.unbundle import moved
from tests.distribution.layouts import INDEX, image, put


def test_cosign_tags_name_the_digest_they_sign_or_attest():
    hexa = "ab" * 32
    assert Entry(f"r:5000/a/b:sha256-{hexa}.sig", "d", "").cosign == (f"sha256:{hexa}", "sig")
    assert Entry(f"r:5000/a/b:sha256-{hexa}.att", "d", "").cosign == (f"sha256:{hexa}", "att")
    assert Entry("r:5000/a/b:1.2", "d", "").cosign is None
    assert Entry(f"r:5000/a/b:sha256-{hexa}.sbom", "d", "").cosign is None


def test_entries_are_the_named_manifests_of_an_index():
    index = {
        "manifests": [
            {
                "digest": "sha256:1",
                "mediaType": INDEX,
                "annotations": {"org.opencontainers.image.ref.name": "localhost:5000/a:1"},
            },
            {"digest": "sha256:2", "mediaType": INDEX},
        ]
    }
    assert entries(index) == [Entry("localhost:5000/a:1", "sha256:1", INDEX)]


def test_closure_walks_an_index_down_to_its_layers(tmp_path: Path):
    index, manifest = image(tmp_path, layer=b"x" * 10)
    put(tmp_path, b"unrelated")
    found = list(closure(tmp_path, index, INDEX))
    assert found[:2] == [index, manifest]
    assert len(found) == 4  # and the config and the layer, never the unrelated blob


def test_moved_keeps_the_path_and_replaces_the_registry():
    assert moved("localhost:5000/acme/app:1.2", "site.internal:5000") == (
        "site.internal:5000/acme/app:1.2"
    )
    assert moved("localhost:5000/acme/app:1.2", "site.internal/mirror/") == (
        "site.internal/mirror/acme/app:1.2"
    )
    assert moved("busybox:1.35", "site:5000") == "site:5000/library/busybox:1.35"
