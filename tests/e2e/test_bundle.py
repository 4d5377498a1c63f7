"""Air-gapped bundles on the real engines: a signed two-platform hierarchy pushed from
the first engine, bundled, its images then deleted from the registry; the bundle loaded
into the second engine (its own store, nothing in the registry to pull) and a child run
there on both platforms. A bundle with one byte flipped, and one checked with another
key, are refused and load nothing; loaded into a registry under another name, its
signatures still verify there. Ctrl-C while its copies hang on a registry stops them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.backend import skopeo
from tests.distribution.layouts import flip_byte
from tests.e2e.faults import ResettingProxy
from tests.e2e.hierarchy import (
    build,
    docker,
    images_removed_after,
    local_images,
    new_prefix,
    processes,
    run_stackbake,
    statuses,
    write_mini,
)

pytestmark = pytest.mark.engine

PASSWORD_ENV = "STACKBAKE_E2E_BUNDLE_PASSWORD"
PASSWORD = "e2e-bundle-password-not-for-logs"
BOTH = "platforms: [linux/amd64, linux/arm64]"
TARGETS = {
    "root": (BOTH, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo @MARKER@ > /marker\n"),
    "child": (BOTH, 'ARG REG\nFROM ${REG}/root:1\nRUN echo "child on $(uname -m)" > /child\n'),
}
DEFAULTS = f"sign: {{key: cosign.key, password_env: {PASSWORD_ENV}}}"


def stackbake(
    folder: Path, *args: str, host: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env or {}), **({"DOCKER_HOST": host} if host else {})}
    return run_stackbake(folder, *args, env=env, timeout=600)


def into_the_engine(
    folder: Path, bundle: str, host: str, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`bundle load BUNDLE --engine [--key KEY]` into the engine at `host`."""
    checked = ["--key", key] if key else []
    return stackbake(folder, "bundle", "load", bundle, "--engine", *checked, host=host)


def keys(folder: Path) -> None:
    for name in ("", "other"):
        (folder / name).mkdir(exist_ok=True)
        made = subprocess.run(
            ["cosign", "generate-key-pair"],
            cwd=folder / name,
            env={**os.environ, "COSIGN_PASSWORD": PASSWORD},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert made.returncode == 0, made.stderr


def test_bundle_into_a_second_engine_with_nothing_in_the_registry(
    tmp_path: Path, registry: str, seed_image: str, second_engine: str
) -> None:
    with images_removed_after(new_prefix(registry), second_engine) as prefix:
        mini = write_mini(tmp_path, prefix, seed_image, TARGETS, defaults=DEFAULTS)
        keys(mini.folder)
        run = build(mini, "--push", env={PASSWORD_ENV: PASSWORD})
        assert statuses(run) == {"root": "built", "child": "built"}, run.explain()

        made = stackbake(mini.folder, "bundle", *mini.var_args(), "-o", "tree.tar")
        assert made.returncode == 2
        assert made.stderr == (
            f"error: child: the key's password variable {PASSWORD_ENV} is not set (sign: in the "
            "spec)\n"
        )
        made = stackbake(
            mini.folder, "bundle", *mini.var_args(), "-o", "tree.tar", env={PASSWORD_ENV: PASSWORD}
        )
        assert made.returncode == 0, made.stdout + made.stderr
        bundle = mini.folder / "tree.tar"
        manifest = the_bundle_holds_the_tree(bundle, prefix, seed_image)
        assert made.stdout.splitlines()[-1].startswith(
            "wrote tree.tar: 2 target(s) and 1 base(s) on linux/amd64, linux/arm64, "
        )
        deleted_from_the_registry(manifest)

        tampered = tmp_path / "tampered.tar"
        tampered.write_bytes(bundle.read_bytes())
        layer = max(manifest["blobs"], key=manifest["blobs"].get)
        flip_byte(tampered, f"blobs/sha256/{layer.removeprefix('sha256:')}", at=100)
        refused = into_the_engine(mini.folder, str(tampered), second_engine)
        assert refused.returncode == 2
        assert refused.stderr.startswith(
            f"error: {tampered}: blob {layer} does not match its checksum"
        )
        assert refused.stderr.rstrip().endswith("; nothing was loaded")

        other = into_the_engine(mini.folder, "tree.tar", second_engine, "other/cosign.pub")
        assert other.returncode == 2
        assert other.stderr == (
            "error: tree.tar: its stackbake-bundle.json is not signed by other/cosign.pub; "
            "nothing was loaded\n"
        ), other.stderr
        assert local_images(prefix, second_engine) == []

        loaded = into_the_engine(mini.folder, "tree.tar", second_engine, "cosign.pub")
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert sorted(local_images(prefix, second_engine)) == [
            f"{prefix}/child:1",
            f"{prefix}/root:1",
        ]
        for platform, machine in (("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")):
            ran = docker(
                "run",
                "--rm",
                "--pull",
                "never",
                "--platform",
                platform,
                f"{prefix}/child:1",
                "cat",
                "/child",
                "/marker",
                host=second_engine,
                timeout=180,
            )
            assert ran.splitlines() == [f"child on {machine}", mini.marker]

        into_a_registry_the_signatures_still_verify(mini.folder, registry)


def the_bundle_holds_the_tree(bundle: Path, prefix: str, seed: str) -> dict[str, object]:
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("stackbake-bundle.json"))  # type: ignore[arg-type]
    assert names[:5] == [
        "stackbake-bundle.json",
        "stackbake-bundle.json.sig",  # signed with the spec's key: vouches for every blob
        "oci-layout",
        "index.json",
        "builds.lock",
    ]
    images = {i["target"]: i for i in manifest["images"]}
    assert sorted(images, key=str) == [None, "child", "root"]
    assert images[None]["ref"] == seed
    for name in ("root", "child"):
        image = images[name]
        assert image["ref"] == f"{prefix}/{name}:1"
        assert sorted(image["platforms"]) == ["linux/amd64", "linux/arm64"]
        signed = {t.removesuffix(".sig") for t in image["signatures"]}
        needed = {d.replace(":", "-") for d in [image["digest"], *image["platforms"].values()]}
        assert needed <= signed
    assert len(names) == 5 + len(manifest["blobs"])
    return manifest


def deleted_from_the_registry(manifest: dict[str, object]) -> None:
    """The test's own images gone from the registry: the load cannot pull them."""
    for image in manifest["images"]:  # type: ignore[attr-defined]
        if image["target"]:
            repository = image["ref"].rsplit(":", 1)[0]
            skopeo.delete(repository, image["digest"])
            with pytest.raises(skopeo.SkopeoError):
                skopeo.raw_manifest(image["ref"])


def into_a_registry_the_signatures_still_verify(folder: Path, registry: str) -> None:
    site = new_prefix(registry)
    loaded = stackbake(folder, "bundle", "load", "tree.tar", "--to", site, "--key", "cosign.pub")
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert loaded.stdout.splitlines()[-1].startswith("loaded 3 image(s) and ")
    with tarfile.open(folder / "tree.tar") as tar:
        manifest = json.load(tar.extractfile("stackbake-bundle.json"))  # type: ignore[arg-type]
    child = next(i for i in manifest["images"] if i["target"] == "child")
    moved = f"{site}/{child['ref'].split('/', 1)[1]}"
    verified = subprocess.run(
        ["cosign", "verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true", moved],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert child["digest"] in verified.stdout


def test_ctrl_c_during_a_load_into_a_registry_stops_every_copy(
    tmp_path: Path, registry: str, seed_image: str
) -> None:
    """Copies run a few at once: Ctrl-C while they hang on a registry that never answers
    stops every one of them, and stackbake, at once (exit 130)."""
    leaf = "ARG REG\nFROM ${REG}/root:1\nRUN echo @MARKER@ > /leaf\n"
    targets = {"root": TARGETS["root"], "left": ("", leaf), "right": ("", leaf)}
    with images_removed_after(new_prefix(registry)) as prefix:
        mini = write_mini(tmp_path, prefix, seed_image, targets)
        run = build(mini, "--push")
        assert statuses(run) == {"root": "built", "left": "built", "right": "built"}, run.explain()
        made = stackbake(mini.folder, "bundle", *mini.var_args(), "-o", "tree.tar")
        assert made.returncode == 0, made.stdout + made.stderr
        proxy = ResettingProxy(registry)
        proxy.stall()  # every connection held open, never answered
        site = f"{proxy.address}/e2e-{uuid.uuid4().hex[:12]}"
        loading = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "bundle", "load", "tree.tar", "--to", site],
            cwd=mini.folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            hanging = wait_until(lambda: len(copying(site)) >= 2 and proxy.knocked.is_set())
            assert hanging, "fewer than two copies at once, or none reached the registry"
            loading.send_signal(signal.SIGINT)
            out, err = loading.communicate(timeout=60)
        finally:
            if loading.poll() is None:
                os.killpg(loading.pid, signal.SIGKILL)
            proxy.close()
        assert loading.returncode == 130, out + err
        assert err.endswith("interrupted\n"), err
        assert out.splitlines()[-1] == (
            f"interrupted: 0 of 4 image(s) pushed to {site}; load again for the rest (what is "
            "there already is not sent again)"
        )
        assert copying(site) == [], "a copy outlived stackbake"


def copying(site: str) -> list[str]:
    """The skopeo copies to `site` running now."""
    return [args for _, args in processes() if "skopeo" in args and site in args]


def wait_until(condition: Callable[[], bool], timeout: float = 180) -> bool:
    """Whether `condition` came true within `timeout` seconds (checked every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
