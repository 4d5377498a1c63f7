"""Targets built on their own: one `docker buildx build` each, pinned by digest to the
parents this run built or found up to date.

What such a build needs besides its request is made here: the pin tags of its parents
(locally; pushing, parents are pinned to their registry digests), its staging tag when
its release tags wait for a test stage, and with --pull the external bases fetched
first (BuildKit's own --pull would look for the local pins in a registry too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from orchestrator.backend.base import Backend, BuildRequest, BuildResult, OnLine
from orchestrator.build.requests import RequestFactory
from orchestrator.build.tags import RunTags, build_names
from orchestrator.execution.cancel import CancelToken
from orchestrator.spec.mirrors import mirrored


@dataclass
class AloneBuilder:
    backend: Backend
    factory: RequestFactory
    tags: RunTags
    named_by_build: frozenset[str]  # named with their release tags by the build itself
    fetched: set[str] = field(default_factory=set)  # targets whose bases --pull fetched

    def __enter__(self) -> AloneBuilder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def build(
        self,
        name: str,
        digests: Mapping[str, str],
        on_line: OnLine,
        cancel: CancelToken,
        *,
        clean: bool = False,
    ) -> BuildResult:
        """The main build of `name` on the parents in `digests`; `clean`: without the
        cache of its own steps (its parents are images: they are not built again)."""
        self.tags.pin(self.factory.local_pins(name, digests))
        names = build_names(name, self.factory, self.tags, self.named_by_build)
        request = self.factory.build(name, digests, names)
        if clean:
            request = dataclasses.replace(request, no_cache=True)
        if request.pull and request.contexts and not self.factory.mode.pushes:
            if name not in self.fetched:
                fetched = self._fetch_bases(request, on_line, cancel)
                if not fetched.ok:
                    return fetched
                self.fetched.add(name)
            request = dataclasses.replace(request, pull=False)
        return self.backend.build(request, on_line, cancel)

    def test(
        self, name: str, digests: Mapping[str, str], on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        """The test stage of `name`, pinned to the same parents as its build."""
        self.tags.pin(self.factory.local_pins(name, digests))
        return self.backend.build(self.factory.test(name, digests), on_line, cancel)

    def _fetch_bases(
        self, request: BuildRequest, on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        """--pull with parents pinned locally: the external bases fetched here, the build
        then runs without --pull. Locked bases are pinned by digest: nothing newer to
        fetch for them. A mirrored base is fetched from its mirror, where the build takes it."""
        h = self.factory.hierarchy
        externals = h.externals.get(request.target, [])
        bases = sorted(
            {
                mirrored(e.normalized, h.spec.mirrors) or e.ref
                for e in externals
                if e.normalized not in self.factory.locked
            }
        )
        if not bases:
            return BuildResult(True)
        on_line(f"pulling {', '.join(bases)} (--pull, with parents built in this run)")
        return self.backend.pull(bases, request.platforms, on_line, cancel)
