"""Where `stackbake mirror` pushes a base: its tag, or for a base pinned by its digest
the tag `sha256-<hex>`, never the tag an unpinned FROM of the same image names."""

from __future__ import annotations

from orchestrator.bases.mirroring import destination

DIGEST = "sha256:" + "ab" * 32


def test_a_tagged_base_keeps_its_tag():
    assert destination("mirror.internal/hub/alpine:3.20") == "mirror.internal/hub/alpine:3.20"


def test_a_base_pinned_by_digest_goes_to_its_digest_tag():
    assert destination(f"mirror.internal/hub/alpine:3.20@{DIGEST}") == (
        f"mirror.internal/hub/alpine:sha256-{'ab' * 32}"
    )
    assert destination(f"mirror.internal/hub/alpine@{DIGEST}") == (
        f"mirror.internal/hub/alpine:sha256-{'ab' * 32}"
    )
