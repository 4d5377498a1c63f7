"""The engine's image store as `stackbake archive` uses it (the engine DOCKER_HOST or
the docker context names): python-on-whales to inspect and remove images, and
`docker image save` run directly, because python-on-whales's save stream splits the
tar at newline bytes, gives the process 0.1 s to exit, and leaves it running when the
reader stops (Ctrl-C)."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, BinaryIO

from orchestrator.backend.process import terminate
from orchestrator.distribution.layout import hash_stream
from orchestrator.errors import EngineError

if TYPE_CHECKING:
    from python_on_whales.exceptions import DockerException


def _said(doing: str, exc: DockerException) -> EngineError:
    """docker's last line, and the fix when the engine does not answer."""
    lines = (exc.stderr or "").strip().splitlines()
    last = lines[-1] if lines else f"exit {exc.return_code}"
    if "Cannot connect to the Docker daemon" in last or "connection refused" in last:
        return EngineError(
            f"{doing}: cannot reach the Docker engine ({last}); start it or set DOCKER_HOST"
        )
    return EngineError(f"{doing}: {last}")


class EngineStore:
    """The real store: every call a docker CLI process (start-up does not matter here)."""

    def digests(self, refs: Sequence[str]) -> Mapping[str, str | None]:
        """Each reference's image ID, which on the containerd store is its index digest:
        one inspect for all, and one a name when some are absent."""
        from python_on_whales import DockerClient
        from python_on_whales.exceptions import DockerException, NoSuchImage

        client, unique = DockerClient(), list(dict.fromkeys(refs))
        if not unique:
            return {}
        try:
            images = client.image.inspect(unique)
            return {ref: image.id for ref, image in zip(unique, images, strict=True)}
        except NoSuchImage:
            pass
        except DockerException as exc:
            raise _said("docker image inspect", exc) from None
        found: dict[str, str | None] = {}
        for ref in unique:
            try:
                found[ref] = client.image.inspect(ref).id
            except NoSuchImage:
                found[ref] = None
            except DockerException as exc:
                raise _said("docker image inspect", exc) from None
        return found

    def save(self, refs: Sequence[str], out: BinaryIO) -> str:
        """`docker image save REFS` into `out`, hashed on the way; stopped on Ctrl-C."""
        doing = f"docker image save {' '.join(refs)}"
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    ["docker", "image", "save", *refs],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    start_new_session=True,  # stopped by us, not by the terminal's Ctrl-C
                )
            except OSError as exc:
                raise EngineError(f"{doing}: {exc.strerror or exc}") from None
            assert proc.stdout is not None
            try:
                digest, _ = hash_stream(proc.stdout, out)
                code = proc.wait()
            except BaseException:
                terminate(proc)
                raise
            finally:
                proc.stdout.close()
            if code != 0:
                err.seek(0)
                lines = err.read().decode("utf-8", "replace").strip().splitlines()
                raise EngineError(f"{doing}: {lines[-1] if lines else f'exit {code}'}")
        return digest.removeprefix("sha256:")

    def remove(self, refs: Sequence[str]) -> None:
        """`docker image rm REFS` (never forced: an image a container uses stays)."""
        from python_on_whales import DockerClient
        from python_on_whales.exceptions import DockerException

        try:
            DockerClient().image.remove(list(refs))
        except DockerException as exc:
            raise _said("docker image rm", exc) from None
