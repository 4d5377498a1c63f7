"""Tag streams from the spec's tags templates: the repository each renders now, and the
tags of it the template could render; stackbake's own tags and cosign's are in none."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.distribution.prune_streams import (
    cosign_subject,
    own_kind,
    streams_of,
    template_pattern,
)
from orchestrator.hierarchy.naming import key_tag, pin_tag, staging_tag
from orchestrator.hierarchy.project import load_project
from orchestrator.spec.model import Spec
from tests.helpers import write_tree

HEX = "ab" * 32
SPEC = """\
version: 1
variables:
  REGISTRY: localhost:5000/acme
  VERSION: 1.4.2
defaults:
  tags: ["${REGISTRY}/${target}:${VERSION}"]
targets:
  base: {context: base}
  shop-api:
    context: api
    tags: ["${REGISTRY}/${target}:${VERSION}", "${REGISTRY}/${target}:v${VERSION}-${git.sha:-dev}",
           "${REGISTRY}/${target}", "shop/api:stable"]
    args: {REGISTRY: "${REGISTRY}"}
  untagged: {context: base, tags: []}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Spec:
    write_tree(
        tmp_path,
        {
            "builds.yaml": SPEC,
            "base/Dockerfile": "FROM alpine:3.20\n",
            "api/Dockerfile": "ARG REGISTRY\nFROM ${REGISTRY}/base:1.4.2\n",
        },
    )
    return load_project(None, cwd=tmp_path, environ={}).spec


def test_a_stream_per_tags_template_in_the_repository_it_renders_now(spec: Spec) -> None:
    streams = streams_of(spec, ["base", "shop-api", "untagged"], ["shop-api"])
    seen = [(s.target, s.template, s.repository, s.written, s.release, s.selected) for s in streams]
    assert seen == [
        ("base", "${REGISTRY}/${target}:${VERSION}", "localhost:5000/acme/base",
         "localhost:5000/acme/base", "1.4.2", False),
        ("shop-api", "${REGISTRY}/${target}:${VERSION}", "localhost:5000/acme/shop-api",
         "localhost:5000/acme/shop-api", "1.4.2", True),
        ("shop-api", "${REGISTRY}/${target}:v${VERSION}-${git.sha:-dev}",
         "localhost:5000/acme/shop-api", "localhost:5000/acme/shop-api", "v1.4.2-dev", True),
        ("shop-api", "${REGISTRY}/${target}:latest", "localhost:5000/acme/shop-api",
         "localhost:5000/acme/shop-api", "latest", True),
        ("shop-api", "shop/api:stable", "docker.io/shop/api", "shop/api", "stable", True),
    ]  # fmt: skip


def test_what_each_template_could_render(spec: Spec) -> None:
    every, suffixed, latest, literal = streams_of(spec, ["shop-api"], ["shop-api"])
    assert [t for t in ("1.4.2", "0.1", "v1.4.2-abc", "latest") if every.holds(t)] == [
        "1.4.2", "0.1", "v1.4.2-abc", "latest",
    ]  # fmt: skip
    assert [t for t in ("v1.4.2-abc", "v2-", "1.4.2", "v1.4.2", "latest") if suffixed.holds(t)] == [
        "v1.4.2-abc", "v2-",
    ]  # fmt: skip
    assert [t for t in ("latest", "1.4.2") if latest.holds(t)] == ["latest"]
    assert [t for t in ("stable", "stable2", "latest") if literal.holds(t)] == ["stable"]


def test_stackbakes_own_tags_and_cosigns_are_in_no_stream(spec: Spec) -> None:
    (every, *_) = streams_of(spec, ["shop-api"], ["shop-api"])
    target = spec.targets["shop-api"]
    own = [
        key_tag(target, "9f" * 32),
        staging_tag(target, "0123456789ab"),
        pin_tag(target, f"sha256:{HEX}", "c0ffee123456"),
    ]
    tags = [ref.rsplit(":", 1)[1] for ref in own]
    assert [own_kind(t) for t in tags] == ["key", "staging", "pin"]
    assert own_kind("1.4.2") is None
    assert not any(every.holds(t) for t in tags)
    for kind in ("sig", "att", "sbom"):
        assert cosign_subject(f"sha256-{HEX}.{kind}") == (f"sha256:{HEX}", kind)
        assert not every.holds(f"sha256-{HEX}.{kind}")
    assert cosign_subject(f"sha256-{HEX}.zip") is None


def test_the_target_name_is_fixed_and_other_placeholders_are_wildcards() -> None:
    pattern = template_pattern("${REG:-x}/${target}:${V}-${date}", "api")
    assert pattern.fullmatch("localhost:5000/acme/api:1-20250101")
    assert not pattern.fullmatch("localhost:5000/acme/web:1-20250101")
    assert template_pattern("${A:-${B}}/app:1", "app").fullmatch("r.example/app:1")
    assert template_pattern("r/app:1.0", "app").fullmatch("r/app:1x0") is None
    assert template_pattern("r/app:$${V}", "app").fullmatch("r/app:${V}")  # `$$`: a `$`
    assert template_pattern("r/app:$${V}", "app").fullmatch("r/app:1") is None
