"""The registry side of the recording fake backend (backend/fake.py): lookups, copies
and index merges on its `registry` mapping, and hosts that do not answer."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

from orchestrator.backend.base import BuildResult, OnLine, RemoteImage
from orchestrator.backend.registry import RegistryUnreachable, registry_host
from orchestrator.execution.cancel import CancelToken


def fake_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class FakeRegistry:
    """Mixed into FakeBackend, whose fields these are."""

    calls: list[tuple[str, str, int]]
    registry: dict[str, str]  # ref -> digest
    platforms: dict[str, dict[str, str]]  # digest -> per platform
    down: set[str]  # registry hosts that do not answer
    _lock: threading.Lock

    def lookup(self, refs: Sequence[str], *, wait_s: float = 0.0) -> dict[str, RemoteImage]:
        with self._lock:
            self.calls.append(("lookup", ",".join(refs), 1))
            down = {r: "connection refused" for r in refs if registry_host(r) in self.down}
            found = {
                r: RemoteImage(self.registry[r], self.platforms.get(self.registry[r], {}))
                for r in refs
                if r in self.registry and r not in down
            }
            if down:
                raise RegistryUnreachable(down, wait_s, found)
            return found

    def copy(
        self, source: str, tags: Sequence[str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        with self._lock:
            self.calls.append(("copy", f"{source} -> {','.join(tags)}", 1))
            repository, _, digest = source.partition("@")
            if digest:  # REPO@DIGEST: the pushed image, under any tag of its repository
                pushed = [t for t, d in self.registry.items() if d == digest]
                found = digest if any(t.startswith(f"{repository}:") for t in pushed) else None
            else:
                found = self.registry.get(source)
            if found is None:
                return BuildResult(False, reason=f"{source}: not found")
            for tag in tags:
                self.registry[tag] = found
        return BuildResult(True)

    def merge(
        self, sources: Sequence[str], tag: str, on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        with self._lock:
            self.calls.append(("merge", f"{' + '.join(sources)} -> {tag}", 1))
            digests = [s.partition("@")[2] for s in sources]
            if not all(d in self.registry.values() for d in digests):
                return BuildResult(False, reason=f"{tag}: a source is not in the registry")
            merged = fake_digest(" + ".join(digests))
            self.platforms[merged] = {
                p: d for digest in digests for p, d in self.platforms.get(digest, {}).items()
            }
            self.registry[tag] = merged
        return BuildResult(True)
