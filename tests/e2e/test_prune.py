"""`stackbake prune` on the real registry (its delete API on) and the real engine.

A two-platform parent and child, signed, pushed in three versions under a prefix of the
test's own: v1 and v2 of both (each in one session, so the child's base.digest label is
blank and its parent is found by its layers), v3 of the parent alone. A second index
(`shared-1`, of no stream) lists v1's platform manifests, and v1 also carries a cosign
attestation. `--keep 1` then deletes app:v1 and base:v1 with their key tags, signatures
and attestation, keeps base:v2 (app:v2 builds on it) though it is older than base:v3,
keeps v1's platform manifests (shared-1 lists them), and leaves no tag that answers
`manifest unknown`. The dry run before it deletes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orchestrator.backend import skopeo
from tests.e2e.hierarchy import (
    docker,
    images_removed_after,
    local_images,
    new_prefix,
    stackbake_env,
    write_files,
)

pytestmark = pytest.mark.engine

PASSWORD_ENV = "STACKBAKE_E2E_PRUNE_PASSWORD"
PASSWORD = "e2e-prune-password-not-for-logs"
SPEC = """\
version: 1
variables:
  REG: set-by-the-test.invalid/e2e
  BASE_IMAGE: set-by-the-test.invalid/seed:1
  VERSION: "0"
defaults:
  platforms: [linux/amd64, linux/arm64]
  tags: ["${REG}/${target}:v${VERSION}"]
  args: {REG: "${REG}", BASE_IMAGE: "${BASE_IMAGE}", VERSION: "${VERSION}"}
%(sign)s
targets:
  base: {context: base}
  app: {context: app}
"""
BASE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY version.txt /etc/base-version\n"
APP = "ARG REG\nARG VERSION\nFROM ${REG}/base:v${VERSION}\nCOPY app.txt /etc/app-version\n"


class Tree:
    def __init__(self, folder: Path, prefix: str, seed: str, *, signed: bool) -> None:
        self.folder, self.prefix, self.seed = folder, prefix, seed
        self.marker = uuid.uuid4().hex
        sign = f"  sign: {{key: cosign.key, password_env: {PASSWORD_ENV}}}" if signed else ""
        write_files(
            folder,
            {"builds.yaml": SPEC % {"sign": sign}, "base/Dockerfile": BASE, "app/Dockerfile": APP},
        )

    def repo(self, target: str) -> str:
        return f"{self.prefix}/{target}"

    def run(self, version: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "orchestrator", *args, "-f", str(self.folder / "builds.yaml")]
        argv += ["--var", f"REG={self.prefix}", "--var", f"BASE_IMAGE={self.seed}"]
        argv += ["--var", f"VERSION={version}"]
        return subprocess.run(
            argv,
            cwd=self.folder,
            env=stackbake_env({PASSWORD_ENV: PASSWORD}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=420,
            check=False,
        )

    def build(self, version: str, *args: str) -> None:
        (self.folder / "base/version.txt").write_text(f"base {self.marker} {version}\n")
        (self.folder / "app/app.txt").write_text(f"app {self.marker} {version}\n")
        done = self.run(version, "build", "--progress", "plain", *args)
        assert done.returncode == 0, done.stdout + done.stderr


def cosign(folder: Path, *args: str) -> None:
    done = subprocess.run(
        ["cosign", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
    )
    assert done.returncode == 0, done.stderr


def manifest(ref: str) -> tuple[dict[str, Any], str]:
    return skopeo.raw_manifest(ref)


def tags_of(repository: str) -> set[str]:
    return set(skopeo.list_tags(repository))


def cosign_tag(digest: str, kind: str) -> str:
    return f"sha256-{digest.split(':', 1)[1]}.{kind}"


def every_tag_whole(repository: str) -> int:
    """Each tag's manifest, and every manifest it lists, answers; how many were read."""
    read = 0
    for tag in sorted(tags_of(repository)):
        body, _ = manifest(f"{repository}:{tag}")  # raises on `manifest unknown`
        read += 1
        for child in body.get("manifests") or []:
            manifest(f"{repository}@{child['digest']}")
            read += 1
    return read


def delete_repository(repository: str) -> None:
    """Everything the test pushed to `repository`: indexes first, then what they list."""
    listed: list[str] = []
    for tag in skopeo.list_tags(repository):
        with contextlib.suppress(skopeo.SkopeoError):
            body, digest = manifest(f"{repository}:{tag}")
            listed += [m["digest"] for m in body.get("manifests") or []]
            skopeo.delete(repository, digest)
    for digest in listed:
        with contextlib.suppress(skopeo.SkopeoError):
            skopeo.delete(repository, digest)


@contextlib.contextmanager
def pushed_under(prefix: str, *targets: str) -> Iterator[str]:
    try:
        yield prefix
    finally:
        for target in targets:
            with contextlib.suppress(Exception):
                delete_repository(f"{prefix}/{target}")


def line_of(out: str, target: str, tag: str) -> str:
    """The line of the image tagged `tag` under the stream of `target`."""
    found, inside = [], False
    for line in out.splitlines():
        if not line.startswith("  "):
            inside = line.startswith(f"{target}: ")
        elif inside and re.match(rf"  \S.*?  {re.escape(tag)}[ ,]", line):
            found.append(line)
    assert len(found) == 1, f"no single line for {target} {tag}:\n{out}"
    return found[0]


def freed_of(summary: str) -> str:
    found = re.search(r", (\d+(?:\.\d)? [kMG]?B) (?:would be )?freed", summary)
    assert found, summary
    return found[1]


@dataclass(frozen=True)
class Pushed:
    base: str  # repositories
    app: str
    v1: str  # base:v1's index
    v1_platforms: tuple[str, ...]
    v1_attestations: tuple[str, ...]  # BuildKit's attestation manifests in it
    app_v1: tuple[dict[str, Any], str]


def push_three_versions(tree: Tree, tmp_path: Path) -> Pushed:
    cosign(tree.folder, "generate-key-pair")
    for version in ("1", "2"):
        tree.build(version, "--push")
    tree.build("3", "--push", "base")
    base, app = tree.repo("base"), tree.repo("app")
    index, v1 = manifest(f"{base}:v1")
    listed = index["manifests"]
    platforms = tuple(m["digest"] for m in listed if m["platform"]["os"] != "unknown")
    attestations = tuple(m["digest"] for m in listed if m["platform"]["os"] == "unknown")
    # An index of no stream listing v1's platforms, and an attestation on v1.
    docker(
        "buildx", "imagetools", "create", "-t", f"{base}:shared-1",
        *(f"{base}@{d}" for d in platforms),
    )  # fmt: skip
    predicate = write_files(tmp_path / "pred", {"p.json": '{"note": "old"}\n'}) / "p.json"
    cosign(
        tree.folder, "attest", "--key", "cosign.key", "--tlog-upload=false", "--yes",
        "--type", "custom", "--predicate", str(predicate),
        "--allow-http-registry", "--allow-insecure-registry", f"{base}@{v1}",
    )  # fmt: skip
    return Pushed(base, app, v1, platforms, attestations, manifest(f"{app}:v1"))


def test_prune_keeps_what_the_tree_builds_on_and_leaves_every_tag_whole(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    prefix = new_prefix(registry)
    with images_removed_after(prefix), pushed_under(prefix, "base", "app"):
        tree = Tree(tmp_path / "tree", prefix, seed_image, signed=True)
        p = push_three_versions(tree, tmp_path)
        before = {p.base: tags_of(p.base), p.app: tags_of(p.app)}
        assert {cosign_tag(p.v1, "sig"), cosign_tag(p.v1, "att")} <= before[p.base]

        dry = tree.run("3", "prune", "--keep", "1", "--dry-run")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert {p.base: tags_of(p.base), p.app: tags_of(p.app)} == before, "the dry run deleted"
        assert line_of(dry.stdout, "base", "v1").startswith("  would delete  v1, key-")
        assert line_of(dry.stdout, "app", "v1").startswith("  would delete  v1, key-")
        assert line_of(dry.stdout, "base", "v2").endswith("kept: app:v2 builds on it")
        assert line_of(dry.stdout, "base", "v3").endswith("kept: newest 1; release tag")
        assert line_of(dry.stdout, "app", "v2").endswith("kept: newest 1")
        assert len([ln for ln in dry.stdout.splitlines() if ln.startswith("  ")]) == 5
        summary = dry.stdout.splitlines()[-1]
        assert summary.startswith("dry run: 2 would be deleted"), dry.stdout

        started = time.monotonic()
        done = tree.run("3", "prune", "--keep", "1")
        seconds = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr
        tags = sum(len(t) for t in before.values())
        print(f"prune, 2 of 6 images deleted, {tags} tags: {seconds:.2f} s\n{done.stdout}")
        assert done.stdout.splitlines()[-1].startswith("2 deleted ("), done.stdout
        assert freed_of(done.stdout.splitlines()[-1]) == freed_of(summary)
        what_is_left_is_whole(p)

        again = tree.run("3", "prune", "--keep", "1")
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.splitlines()[-1].startswith("0 deleted ("), again.stdout


def what_is_left_is_whole(p: Pushed) -> None:
    left = tags_of(p.base)
    assert {"v2", "v3", "shared-1"} <= left
    assert "v1" not in left
    gone = {cosign_tag(d, k) for d in (p.v1, *p.v1_attestations) for k in ("sig", "att")}
    assert not gone & left
    assert {cosign_tag(d, "sig") for d in p.v1_platforms} <= left, "shared-1's platforms lost"
    for digest in p.v1_platforms:
        manifest(f"{p.base}@{digest}")
    with pytest.raises(skopeo.SkopeoError) as lost:
        manifest(f"{p.base}@{p.v1}")
    assert lost.value.not_found
    assert not [t for t in left if t.startswith("key-") and manifest(f"{p.base}:{t}")[1] == p.v1]
    app_left = tags_of(p.app)
    assert "v1" not in app_left
    assert "v2" in app_left
    assert cosign_tag(p.app_v1[1], "sig") not in app_left
    for child in p.app_v1[0]["manifests"]:
        with pytest.raises(skopeo.SkopeoError):
            manifest(f"{p.app}@{child['digest']}")
    assert every_tag_whole(p.base) > 10
    assert every_tag_whole(p.app) > 5


def test_prune_local_removes_names_and_keeps_what_a_kept_child_builds_on(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    with images_removed_after(new_prefix(registry)) as prefix:
        tree = Tree(tmp_path / "tree", prefix, seed_image, signed=False)
        tree.build("1")
        tree.build("2", "base")
        tree.build("3", "base")
        base = tree.repo("base")
        docker("tag", f"{base}:v2", f"{base}:stackbake-build-0123456789ab")
        names = {f"{base}:v1", f"{base}:v2", f"{base}:v3", f"{tree.repo('app')}:v1"}
        assert set(local_images(prefix)) == names | {f"{base}:stackbake-build-0123456789ab"}

        dry = tree.run("3", "prune", "--local", "--keep", "1", "--dry-run")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert len(local_images(prefix)) == 5, "a dry run removed something"
        assert "would delete  stackbake-build-0123456789ab, v2" not in dry.stdout
        v2 = line_of(dry.stdout, "base", "v2")
        assert v2.startswith("  would delete  v2, stackbake-build-0123456789ab  sha256:"), v2
        assert line_of(dry.stdout, "base", "v1").endswith("kept: app:v1 builds on it")

        done = tree.run("3", "prune", "--local", "--keep", "1")
        assert done.returncode == 0, done.stdout + done.stderr
        assert set(local_images(prefix)) == names - {f"{base}:v2"}, done.stdout
        assert done.stdout.splitlines()[-1].startswith("1 deleted (2 names), 3 kept, "), done.stdout
        inspected = json.loads(docker("image", "inspect", f"{base}:v1"))[0]
        assert inspected["RepoTags"] == [f"{base}:v1"]
