"""The real backend: `docker buildx build` on BuildKit.

Builds run `docker buildx build` as a child process rather than through
python-on-whales' `docker.buildx.build()`, for three things it does not give:
a process handle to cancel (we terminate the build's whole process group on
Ctrl-C or fail-fast), per-target log streaming line by line (for the live view
and the per-target log files), and no extra `buildx inspect`/`ls` calls per
build (it asks the builder for its driver before every build). The image store and
the engine's checks (backend/engine.py), push and registry lookups run directly too:
one call for many names, streamed output, and no 0.21 s python-on-whales import in a
run that builds one target.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

from orchestrator.atomic import write_atomic
from orchestrator.backend import builders, engine
from orchestrator.backend.bake import bake_argv, bake_names, definition, finish
from orchestrator.backend.base import (
    TAIL,
    BuilderUse,
    BuildRequest,
    BuildResult,
    ImageInfo,
    Layers,
    OnLine,
    RemoteImage,
    SessionFiles,
    SessionSink,
)
from orchestrator.backend.failures import failure
from orchestrator.backend.layers import local_layers, remote_layers
from orchestrator.backend.process import background, run_streaming
from orchestrator.backend.progress import Demux
from orchestrator.backend.redact import Redactor
from orchestrator.backend.registry import lookup_all
from orchestrator.execution.cancel import CancelToken

T = TypeVar("T")


def buildx_argv(req: BuildRequest, metadata_file: Path, *, progress: str = "plain") -> list[str]:
    """The command line for a request; secrets by reference only, never by value."""
    if req.links:
        raise ValueError(f"{req.target}: a request linked to other targets needs a session")
    argv = ["docker", "buildx", "build", f"--progress={progress}"]
    if req.builder:
        argv += ["--builder", req.builder]
    argv += ["--file", str(req.dockerfile)]
    if req.stage:
        argv += ["--target", req.stage]
    if req.platforms:
        argv += ["--platform", ",".join(req.platforms)]
    for key, value in req.args.items():
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in req.labels.items():
        argv += ["--label", f"{key}={value}"]
    for tag in req.tags:
        argv += ["--tag", tag]
    for name, source in req.contexts.items():
        argv += ["--build-context", f"{name}={source}"]
    for entry in req.cache_from:
        argv += ["--cache-from", entry]
    for entry in req.cache_to:
        argv += ["--cache-to", entry]
    for secret in req.secrets:
        argv += ["--secret", secret.describe()]
    for ssh in req.ssh:
        argv += ["--ssh", ssh]
    if req.network:
        argv += ["--network", req.network]
    if req.no_cache:
        argv.append("--no-cache")
    if req.pull:
        argv.append("--pull")
    for output in req.outputs:
        argv += ["--output", output]
    if req.load:
        argv.append("--load")
    if req.reproducible:  # a provenance attestation holds the build's own times
        argv.append("--provenance=false")
    argv += ["--metadata-file", str(metadata_file), str(req.context)]
    return argv


class BuildxBackend:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self._engine: Future[engine.Engine] | None = None
        self._builders: dict[str | None, Future[str]] = {}

    def warm(self, builder: str | None, *, pins: bool) -> None:
        # Ask the engine what pre-flight needs while the run still inspects its images
        # (`docker info`; `buildx inspect` too when children may be pinned locally).
        if self._engine is None:
            self._engine = background(engine.engine_facts, self.environ)
        if pins and builder not in self._builders:
            self._builders[builder] = background(engine.builder_driver, self.environ, builder)

    def preflight(self, *, multi_platform: bool, builder: str | None, local_pins: bool) -> None:
        self.warm(builder, pins=local_pins)
        assert self._engine is not None
        engine.check(self._engine.result(), multi_platform=multi_platform)
        if local_pins:
            engine.check_builder(self._builders[builder].result(), builder)

    def check_builders(self, uses: Sequence[BuilderUse]) -> None:
        builders.check_builders(self.environ, uses)

    def in_context(self, context: str) -> BuildxBackend:
        return BuildxBackend(builders.in_context(self.environ, context))

    def build(self, request: BuildRequest, on_line: OnLine, cancel: CancelToken) -> BuildResult:
        env = dict(self.environ)
        redactor = Redactor.for_secrets(request.secrets, env)
        with tempfile.TemporaryDirectory(prefix="stackbake-") as tmp:
            metadata, tar = Path(tmp) / "metadata.json", Path(tmp) / "image.oci.tar"
            if request.reproducible:
                # BuildKit 0.13's image exporter (Docker 26.1) refuses rewrite-timestamp
                # together with unpacking into the store: an OCI tarball, then loaded.
                output = f"type=oci,dest={tar},rewrite-timestamp=true"
                request = dataclasses.replace(request, outputs=(output,), load=False)
            code, tail = run_streaming(
                buildx_argv(request, metadata),
                env,
                on_line=on_line,
                cancel=cancel,
                redactor=redactor,
                log_file=request.log_file,
            )
            if cancel.cancelled:
                return BuildResult(False, reason="cancelled", cancelled=True, log_tail=tuple(tail))
            if code != 0:
                return failure(list(tail))
            if request.reproducible:
                loaded = self._each(
                    [("docker load", ["docker", "load", "-i", str(tar)])], on_line, cancel
                )
                if not loaded.ok:
                    return dataclasses.replace(loaded, log_tail=(*tail, *loaded.log_tail)[-TAIL:])
            digest = None
            if metadata.is_file():
                digest = json.loads(metadata.read_text() or "{}").get("containerimage.digest")
            return BuildResult(True, digest=digest, log_tail=tuple(tail))

    def bake(
        self,
        requests: Sequence[BuildRequest],
        sink: SessionSink,
        cancel: CancelToken,
        files: SessionFiles,
        primers: Sequence[BuildRequest] = (),
    ) -> None:
        # `docker buildx bake` as a child process, for the same reasons as build(): a
        # process group to stop, and its output line by line (see backend/bake.py). The
        # bake file (build args and labels, secrets by reference) exists for the session
        # only. Primers run as `docker buildx build` beside it, their progress read as
        # the session's (a step a primer started sends its output to the primer only).
        env = dict(self.environ)
        redactor = Redactor.for_secrets([s for r in requests for s in r.secrets], env)
        names = bake_names([r.target for r in requests])
        demux = Demux({bake: target for target, bake in names.items()}, sink, redactor)
        builders = {r.builder for r in requests}
        file, metadata = files.definition, files.metadata
        metadata.unlink(missing_ok=True)
        write_atomic(file, json.dumps(definition(requests, names), indent=1) + "\n")
        argv = bake_argv(
            file,
            metadata,
            builder=builders.pop() if len(builders) == 1 else None,
            load=any(r.load for r in requests),
        )
        primed = CancelToken()  # the primers: stopped when the session ends
        cancel.on_cancel(primed.cancel)
        threads = [
            threading.Thread(target=self._prime, args=(p, demux.primer(), primed), daemon=True)
            for p in primers
        ]
        for thread in threads:
            thread.start()
        try:
            # Masked by the demux once decoded: a raw JSON line holds digests and base64.
            code, _ = run_streaming(
                argv, env, on_line=demux.feed, cancel=cancel, redactor=Redactor(()), log_file=None
            )
            primed.cancel()
            for thread in threads:
                thread.join()
            finish(demux, code, metadata, failure)
        finally:
            primed.cancel()
            file.unlink(missing_ok=True)
            metadata.unlink(missing_ok=True)

    def _prime(self, request: BuildRequest, on_line: OnLine, cancel: CancelToken) -> None:
        # Only a head start: whatever fails here, the session says it for the target.
        with contextlib.suppress(Exception), tempfile.TemporaryDirectory() as tmp:
            argv = buildx_argv(request, Path(tmp) / "metadata.json", progress="rawjson")
            run_streaming(
                argv,
                dict(self.environ),
                on_line=on_line,
                cancel=cancel,
                redactor=Redactor(()),  # masked by the demux, as bake's lines
                log_file=None,
            )

    def _each(
        self, commands: Sequence[tuple[str, list[str]]], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        """Run (label, argv) commands in turn; the first failure ends it, named by label."""
        tail: deque[str] = deque(maxlen=TAIL)
        for label, argv in commands:
            code, lines = run_streaming(
                argv,
                self.environ,
                on_line=on_line,
                cancel=cancel,
                redactor=Redactor(()),
                log_file=None,
            )
            tail.extend(lines)
            if cancel.cancelled:
                return BuildResult(False, reason="cancelled", cancelled=True, log_tail=tuple(tail))
            if code != 0:
                return failure(list(lines), label=label, log_tail=tail)
        return BuildResult(True, log_tail=tuple(tail))

    def push(
        self, target: str, tags: Sequence[str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        # `docker push` of the image in the containerd store publishes the very index that
        # was built and tested, so the digest does not change on the way out.
        return self._each([(f"push {t}", ["docker", "push", t]) for t in tags], on_line, cancel)

    def pull(
        self, refs: Sequence[str], platforms: Sequence[str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        commands = [
            (f"pull {ref}", ["docker", "pull", *(["--platform", p] if p else []), ref])
            for ref in refs
            for p in (platforms or [""])
        ]
        return self._each(commands, on_line, cancel)

    def tag(self, source: str, tags: Sequence[str]) -> None:
        engine.tag(self.environ, source, tags)

    def untag(self, tags: Sequence[str]) -> None:
        engine.untag(self.environ, tags)

    def inspect(self, refs: Sequence[str]) -> dict[str, ImageInfo]:
        return engine.inspect(self.environ, refs)

    def lookup(self, refs: Sequence[str], *, wait_s: float = 0.0) -> dict[str, RemoteImage]:
        return lookup_all(refs, self.environ, wait_s=wait_s)

    def layers(self, digest: str, *, registry_ref: str | None = None) -> Layers:
        if registry_ref is not None:
            return remote_layers(registry_ref, self.environ)
        return local_layers(digest, self.environ)

    def copy(
        self, source: str, tags: Sequence[str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        # Registry side: the same index under more names (blobs mounted, none pulled).
        argv = ["docker", "buildx", "imagetools", "create", "--progress", "plain", source]
        argv += [a for tag in tags for a in ("--tag", tag)]
        return self._each([(f"tag {', '.join(tags)}", argv)], on_line, cancel)

    def merge(
        self, sources: Sequence[str], tag: str, on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        argv = ["docker", "buildx", "imagetools", "create", "--progress", "plain"]
        argv += ["--tag", tag, *sources]
        return self._each([(f"merge into {tag}", argv)], on_line, cancel)
