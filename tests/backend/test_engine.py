"""The image store and the engine's checks, without an engine: pre-flight messages,
which socket the API is asked on, and an inspect through a stand-in Engine API."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from orchestrator.backend import engine
from orchestrator.backend.base import ImageInfo
from orchestrator.errors import EngineError

INFO = {
    "classic": '"overlay2"\tnull\n',
    "containerd": '"overlayfs"\t[["driver-type","io.containerd.snapshotter.v1"]]\n',
}


def answering(monkeypatch: pytest.MonkeyPatch, answers: dict[str, str | EngineError]) -> None:
    """`engine.docker` answers by its first two arguments (e.g. "info", "buildx inspect");
    the builder is the engine's own unless said otherwise."""
    answers = {"buildx inspect": "Name: default\nDriver: docker\n", **answers}

    def fake(environ: object, *args: str) -> str:
        answer = answers.get(" ".join(args[:2])) or answers[args[0]]
        if isinstance(answer, EngineError):
            raise answer
        return answer

    monkeypatch.setattr(engine, "docker", fake)


def preflight(*, multi_platform: bool, builder: str | None, local_pins: bool) -> None:
    engine.check(engine.engine_facts({}), multi_platform=multi_platform)
    if local_pins:
        engine.check_builder(engine.builder_driver({}, builder), builder)


def test_preflight_explains_the_classic_store(monkeypatch: pytest.MonkeyPatch) -> None:
    answering(monkeypatch, {"info": INFO["classic"]})
    with pytest.raises(EngineError) as info:
        preflight(multi_platform=True, builder=None, local_pins=False)
    assert str(info.value) == (
        "this engine's image store (overlay2) cannot hold multi-platform images; enable the "
        'containerd image store ({"features": {"containerd-snapshotter": true}} in '
        "/etc/docker/daemon.json, then restart dockerd), or publish with --push, or build "
        "one platform at a time (--set '*.platforms=linux/amd64')"
    )
    preflight(multi_platform=False, builder=None, local_pins=False)


def test_preflight_refuses_local_pins_on_a_container_builder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builder = "Name:          ci\nDriver:        docker-container\nLast Activity: now\n"
    answering(monkeypatch, {"info": INFO["containerd"], "buildx inspect": builder})
    with pytest.raises(EngineError) as info:
        preflight(multi_platform=True, builder="ci", local_pins=True)
    assert str(info.value) == (
        "builder ci uses the docker-container driver, which cannot see the engine's image "
        "store, so children cannot be pinned to parents built here; publish with --push, or "
        "use the engine's own builder (--builder default)"
    )
    answering(monkeypatch, {"info": INFO["containerd"], "buildx inspect": "Driver: docker\n"})
    preflight(multi_platform=True, builder=None, local_pins=True)


def test_the_default_builder_needs_no_buildx_inspect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering(monkeypatch, {"buildx inspect": "Driver: docker-container\n"})
    buildx = tmp_path / "buildx"
    buildx.mkdir()
    env = {"BUILDX_CONFIG": str(buildx)}
    assert engine.builder_driver(env, None) == "docker", "never chose a builder"
    (buildx / "current").write_text('{"Key":"unix:///var/run/docker.sock","Name":""}')
    assert engine.builder_driver(env, None) == "docker", "the context's own"
    (buildx / "current").write_text('{"Key":"unix:///var/run/docker.sock","Name":"ci"}')
    assert engine.builder_driver(env, None) == "docker-container", "asked: `buildx use ci`"
    assert engine.builder_driver({**env, "BUILDX_BUILDER": "ci"}, None) == "docker-container"
    assert engine.builder_driver(env, "ci") == "docker-container"


def test_preflight_names_an_engine_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    answering(monkeypatch, {"info": EngineError(f"docker info: {refused}")})
    with pytest.raises(EngineError) as info:
        preflight(multi_platform=False, builder=None, local_pins=False)
    assert str(info.value) == (
        f"cannot reach the Docker engine ({refused}); start it (scripts/engine-up.sh "
        "installs one on Debian) or set DOCKER_HOST"
    )


def test_the_api_is_used_only_where_the_cli_would_go_too(tmp_path: Path) -> None:
    sock = tmp_path / "docker.sock"
    sock.touch()
    config = tmp_path / "config"
    config.mkdir()
    assert engine.local_socket({"DOCKER_HOST": f"unix://{sock}"}) == str(sock)
    assert engine.local_socket({"DOCKER_HOST": "tcp://10.0.0.1:2376"}) is None
    assert engine.local_socket({"DOCKER_HOST": f"unix://{tmp_path}/absent.sock"}) is None
    assert engine.local_socket({"DOCKER_HOST": f"unix://{sock}", "DOCKER_CONTEXT": "ci"}) is None
    (config / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    assert engine.local_socket({"DOCKER_CONFIG": str(config)}) is None


IMAGES: dict[str, dict[str, object]] = {
    "r.example/app:1": {"Id": "sha256:aa", "Config": {"Labels": {"stackbake.key": "k"}}},
    "r.example/base:1": {"Id": "sha256:bb", "Config": {"Labels": None}},
}


class _Images(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        from urllib.parse import unquote

        name = unquote(self.path.removeprefix("/images/").removesuffix("/json"))
        found = IMAGES.get(name)
        body = json.dumps(found or {"message": f"No such image: {name}"}).encode()
        self.send_response(int(found.get("status", 200)) if found else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 64  # 16 connections at once, as the engine takes them


@pytest.fixture
def api(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "engine.sock")
    server = _Server(path, _Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_a_refusing_api_means_the_cli_is_asked(api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only 404 is "absent": a 500 or an authorization plugin's 403 must not make an
    image look missing (and its target rebuild)."""
    asked: list[list[str]] = []
    monkeypatch.setitem(IMAGES, "r.example/app:1", {"status": 403})
    monkeypatch.setattr(engine, "inspect_cli", lambda environ, refs: asked.append(refs) or {})
    engine.inspect({"DOCKER_HOST": f"unix://{api}"}, ["r.example/app:1"])
    assert asked == [["r.example/app:1"]]


def test_inspect_asks_the_api_for_each_name_absent_ones_left_out(api: str) -> None:
    names = ["r.example/app:1", "r.example/base:1", "r.example/gone:1"] * 7
    found = engine.inspect({"DOCKER_HOST": f"unix://{api}"}, names)
    assert found == {
        "r.example/app:1": ImageInfo("sha256:aa", {"stackbake.key": "k"}),
        "r.example/base:1": ImageInfo("sha256:bb", {}),
    }
