"""Faults for the engine tests, each the test's own: a real registry on a port of its
own that can be stopped and started again, and a gate a RUN step waits at (over the
host network) until the test opens it, so a build is known to be mid-step."""

from __future__ import annotations

import contextlib
import http.server
import socket
import struct
import subprocess
import textwrap
import threading
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRegistry:
    """`docker-registry` on 127.0.0.1:<free port> with its own storage (the engine treats
    loopback registries as insecure: plain HTTP)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "registry.yml"
        self.config.write_text(
            textwrap.dedent(
                f"""\
                version: 0.1
                storage:
                  filesystem:
                    rootdirectory: {folder / "storage"}
                  delete:
                    enabled: true
                http:
                  addr: 127.0.0.1:{self.port}
                """
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2).close()
        except OSError:
            return False
        return True

    def start(self, timeout: float = 30) -> None:
        log = (self.folder / "registry.log").open("ab")
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(self.config)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            assert self.proc.poll() is None, (self.folder / "registry.log").read_text()
            assert time.monotonic() < deadline, f"registry {self.address} did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None


class Gate:
    """An HTTP endpoint that answers 503 until opened; a RUN step (network: host) loops
    on it: `gate.wait_command()`. `knocked` is set once a build asked."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.knocked = threading.Event()
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gate.knocked.set()
                self.send_response(200 if gate.opened.is_set() else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_command(self) -> str:
        url = f"http://127.0.0.1:{self.port}/go"
        return f"until wget -q -O /dev/null {url}; do sleep 0.1; done"

    def open(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.opened.set()
        self.server.shutdown()
        self.server.server_close()


class ResettingProxy:
    """Forwards 127.0.0.1:<port> to the registry; resets the next `fail_next` connections,
    or (`stall`) holds every new one open without an answer until closed; `knocked` is
    set when a connection came in while stalling."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.lock = threading.Lock()
        self.to_reset = 0
        self.resets = 0
        self.forwarded = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.closed = False
        self.stalling = False
        self.stalled: list[socket.socket] = []
        self.knocked = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail_next(self, n: int) -> None:
        with self.lock:
            self.to_reset = n

    def stall(self) -> None:
        with self.lock:
            self.stalling = True

    def close(self) -> None:
        self.closed = True
        self.server.close()
        for conn in self.stalled:
            conn.close()

    def _serve(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with self.lock:
                if self.stalling:
                    self.stalled.append(conn)
                    self.knocked.set()
                    continue
                reset = self.to_reset > 0
                if reset:
                    self.to_reset -= 1
                    self.resets += 1
                else:
                    self.forwarded += 1
            if reset:  # RST, not FIN: "connection reset by peer"
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            else:
                threading.Thread(target=self._forward, args=(conn,), daemon=True).start()

    def _forward(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            conn.close()
            return
        upstream.settimeout(None)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

        back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
        back.start()
        pump(conn, upstream)
        back.join(120)
        conn.close()
        upstream.close()
