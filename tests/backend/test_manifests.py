"""The registry's HTTP API as manifests.fetch reads it: a small registry served here
for index, single manifest, absent and login-only answers; and, on the engine's
registry, the same answer imagetools gives."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.backend.base import RemoteImage
from orchestrator.backend.manifests import fetch
from orchestrator.backend.registry import remote_image

INDEX = {
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"digest": "sha256:" + "a" * 64, "platform": {"os": "linux", "architecture": "amd64"}},
        {
            "digest": "sha256:" + "b" * 64,
            "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
        },
        {"digest": "sha256:" + "c" * 64, "platform": {"os": "unknown", "architecture": "unknown"}},
    ],
}
SINGLE = {"config": {"digest": "sha256:" + "d" * 64}, "layers": []}
CONFIG = {"os": "linux", "architecture": "amd64", "rootfs": {"diff_ids": []}}
ROUTES = {
    "/v2/acme/app/manifests/1": (200, INDEX, "sha256:" + "1" * 64),
    "/v2/acme/one/manifests/1": (200, SINGLE, "sha256:" + "2" * 64),
    "/v2/acme/one/blobs/sha256:" + "d" * 64: (200, CONFIG, ""),
    "/v2/acme/private/manifests/1": (401, {}, ""),
}


class Registry(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/v2/acme/cut/manifests/1":  # a body cut short
            self.send_response(200)
            self.send_header("Docker-Content-Digest", "sha256:" + "3" * 64)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"manifests": [')
            return
        status, body, digest = ROUTES.get(self.path, (404, {"errors": []}, ""))
        data = json.dumps(body).encode()
        self.send_response(status)
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_index_lists_its_platforms_not_its_attestations(served: str) -> None:
    assert fetch(f"{served}/acme/app:1") == RemoteImage(
        "sha256:" + "1" * 64,
        {"linux/amd64": "sha256:" + "a" * 64, "linux/arm64/v8": "sha256:" + "b" * 64},
    )


def test_a_single_manifest_has_its_config_platform(served: str) -> None:
    digest = "sha256:" + "2" * 64
    assert fetch(f"{served}/acme/one:1") == RemoteImage(digest, {"linux/amd64": digest})


def test_absent_is_false_and_a_login_is_for_imagetools(served: str) -> None:
    assert fetch(f"{served}/acme/nothing:1") is False
    assert fetch(f"{served}/acme/private:1") is None


def test_a_body_cut_short_is_for_imagetools(served: str) -> None:
    assert fetch(f"{served}/acme/cut:1") is None


def test_nothing_listening_and_docker_hub_are_for_imagetools() -> None:
    assert fetch("127.0.0.1:9/acme/app:1") is None  # refused: imagetools retries it
    assert fetch("alpine:3.20") is None
    assert fetch("localhost:5000/acme/app@sha256:" + "1" * 64) is None


@pytest.mark.engine
def test_the_same_answer_as_imagetools(seed_image: str) -> None:
    done = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", seed_image, "--format", "{{json .}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert fetch(seed_image) == remote_image(json.loads(done.stdout))
