"""`stackbake prune` from its command line to its output, on a spec and a fake registry:
flags checked before anything is read, what the dry run prints, what the run deletes
and in which order, and what is left."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path

import pytest

from tests.distribution.prune_fake import FakeRegistry, install
from tests.helpers import run_cli, write_tree

REG = "localhost:5000/acme"
SPEC = """\
version: 1
variables: {REG: localhost:5000/acme, VERSION: "3"}
defaults:
  tags: ["${REG}/${target}:${VERSION}"]
  args: {REG: "${REG}", VERSION: "${VERSION}"}
targets:
  base: {context: base}
  app: {context: app}
  plain: {context: base, tags: []}
"""
FILES = {
    "base/Dockerfile": "FROM alpine:3.20\n",
    "app/Dockerfile": "ARG REG\nARG VERSION\nFROM ${REG}/base:${VERSION}\n",
}


def ago(days: float) -> str:
    when = dt.datetime.fromtimestamp(time.time() - days * 86400, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def push(fake: FakeRegistry, target: str, tag: str, days: float, **labels: str) -> str:
    """An index of one amd64 image (seed, its own layer) and an attestation manifest."""
    repo = f"{REG}/{target}"
    layers = ("base-2",) if target == "app" else ()
    stamp = {"org.opencontainers.image.created": ago(days), **labels}
    platform, size = fake.image(repo, f"{target}-{tag}", stamp, "amd64", layers)
    att = fake.put(repo, {"layers": [], "for": f"{target}-{tag}"})
    return fake.index(repo, [(platform, size, "amd64"), (att, 9, "unknown")], tag)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FakeRegistry]:
    write_tree(tmp_path, {"builds.yaml": SPEC, **FILES})
    fake = install(monkeypatch)
    b1 = push(fake, "base", "1", 30.5)
    push(fake, "base", "2", 20.5)
    push(fake, "base", "3", 1.5)
    base_name = {"org.opencontainers.image.base.name": f"{REG}/base:2"}
    push(fake, "app", "1", 29.5, **{"org.opencontainers.image.base.digest": b1})
    push(fake, "app", "2", 19.5, **base_name)  # blank digest: found by its layers
    fake.put(f"{REG}/base", {"layers": [], "n": "sig"}, f"sha256-{b1[7:]}.sig")
    staging = fake.image(
        f"{REG}/base", "staged", {"org.opencontainers.image.created": ago(40.5)}, "amd64"
    )
    fake.tags[f"{REG}/base"]["stackbake-build-0123456789ab"] = staging[0]
    return tmp_path, fake


def test_flags_are_checked_before_anything_is_read(
    tree: tuple[Path, FakeRegistry],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, fake = tree
    none = run_cli(["prune"], folder, capsys, monkeypatch)
    assert none.code == 2
    assert none.err == (
        "error: prune needs --keep N, --older-than DAYS or both: what to keep of each tag stream\n"
    )
    zero = run_cli(["prune", "--keep", "0"], folder, capsys, monkeypatch)
    assert zero.code == 2
    assert zero.err.startswith("error: argument --keep: must be at least 1, not 0\n")
    both = run_cli(["prune", "--keep", "1", "--local", "--registry"], folder, capsys, monkeypatch)
    assert both.code == 2
    assert "not allowed with argument" in both.err
    plain = run_cli(["prune", "plain", "--keep", "1"], folder, capsys, monkeypatch)
    assert (plain.code, plain.err) == (
        2, "error: nothing to prune: plain has no tags in the spec (a tag stream is the tags one "
        "tags template renders); select targets with tags\n",
    )  # fmt: skip
    assert fake.deleted == []


SIZE = r"\d+(\.\d)? k?B"


def test_the_dry_run_says_what_would_go_and_why_and_deletes_nothing(
    tree: tuple[Path, FakeRegistry],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, fake = tree
    done = run_cli(["prune", "--keep", "1", "--dry-run"], folder, capsys, monkeypatch)
    assert done.code == 0, done.err
    shown = [
        re.sub(SIZE, "SIZE", re.sub(r"sha256:[0-9a-f]{12}", "DIGEST", ln))
        for ln in done.out.splitlines()
    ]
    assert shown == [
        f"base: ${{REG}}/${{target}}:${{VERSION}} in {REG}/base",
        "  kept          3  DIGEST  1 days  SIZE  kept: newest 1; release tag",
        "  kept          2  DIGEST  20 days  SIZE  kept: app:2 builds on it",
        "  would delete  1  DIGEST  30 days  SIZE  beyond the newest 1",
        f"app: ${{REG}}/${{target}}:${{VERSION}} in {REG}/app",
        "  kept          2  DIGEST  19 days  SIZE  kept: newest 1",
        "  would delete  1  DIGEST  29 days  SIZE  beyond the newest 1",
        f"leftovers in {REG}/base (stackbake's own tags)",
        "  would delete  stackbake-build-0123456789ab  DIGEST  40 days  SIZE  leftover staging tag",
        "dry run: 3 would be deleted (4 manifests, 1 signatures and attestations), 3 kept, SIZE "
        "would be freed (the registry frees the space at its garbage collection: registry "
        "garbage-collect); nothing was deleted",
    ]
    assert fake.deleted == []


def test_the_run_deletes_in_order_and_leaves_every_tag_whole(
    tree: tuple[Path, FakeRegistry],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, fake = tree
    base, app = f"{REG}/base", f"{REG}/app"
    b1, a1 = fake.tags[base]["1"], fake.tags[app]["1"]
    b1_children = re.findall(r"sha256:[0-9a-f]{64}", fake.manifests[base][b1])
    a1_children = re.findall(r"sha256:[0-9a-f]{64}", fake.manifests[app][a1])
    sig = fake.tags[base][f"sha256-{b1[7:]}.sig"]
    staged = fake.tags[base]["stackbake-build-0123456789ab"]
    done = run_cli(["prune", "--keep", "1"], folder, capsys, monkeypatch)
    assert done.code == 0, done.err
    # In waves: the images, then what they listed, then the signature; each wave at once.
    assert set(fake.deleted[:3]) == {b1, a1, staged}
    assert set(fake.deleted[3:7]) == {*b1_children, *a1_children}
    assert fake.deleted[7:] == [sig]
    assert sorted(fake.tags[base]) == ["2", "3"]
    assert sorted(fake.tags[app]) == ["2"]
    for repo in (base, app):
        for digest in fake.tags[repo].values():
            listed = json.loads(fake.manifests[repo][digest]).get("manifests") or []
            assert listed, "every tag left names an index here"
            assert all(m["digest"] in fake.manifests[repo] for m in listed)
    last = done.out.splitlines()[-1]
    assert re.fullmatch(
        rf"3 deleted \(4 manifests, 1 signatures and attestations\), 3 kept, {SIZE} freed \(.*\)",
        last,
    ), last
