"""The names a run gives images for its own use, and takes away when it ends: staging
tags (a build waiting for its test stage) and pin tags (a parent its children are
pinned to). Handed out and recorded here, made once each, removed together in one call
after the run."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping

from orchestrator.backend.base import Backend
from orchestrator.build.requests import RequestFactory
from orchestrator.hierarchy.naming import staging_tag
from orchestrator.spec.model import Target


class RunTags:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Lock()  # the records, held briefly
        self._making = threading.Lock()  # pins being made: one at a time
        self._staging: dict[str, str] = {}  # target -> its staging tag
        self._pins: set[str] = set()
        self._made: dict[str, None] = {}  # every name to remove, in the order made

    def staging(self, target: Target) -> str:
        """The target's staging tag in this run (the same for every attempt)."""
        with self._lock:
            if target.name not in self._staging:
                tag = staging_tag(target, uuid.uuid4().hex[:12])
                self._staging[target.name] = tag
                self._made[tag] = None
            return self._staging[target.name]

    def own(self, tag: str) -> str:
        """A local name this run gives an image only to push it (a shard's key tag):
        removed with the others after the run."""
        with self._lock:
            self._made[tag] = None
        return tag

    def pin(self, pins: Mapping[str, str]) -> None:
        """Make these pin tags (tag -> digest) unless this run made them already. Made one
        call at a time, so a build that asked for one never starts before it exists."""
        with self._making:
            with self._lock:
                todo: dict[str, list[str]] = {}
                for tag, digest in pins.items():
                    if tag not in self._pins:
                        todo.setdefault(digest, []).append(tag)
            for digest, tags in todo.items():
                self.backend.tag(digest, tags)
                with self._lock:
                    self._pins.update(tags)
                    self._made.update(dict.fromkeys(tags))

    def made(self) -> list[str]:
        with self._lock:
            return list(self._made)

    def remove(self) -> None:
        """After the run: every name it made, in one call."""
        with self._lock:
            made, self._made = list(self._made), {}
            self._pins.clear()
            self._staging.clear()
        if made:
            self.backend.untag(sorted(made))


def build_names(
    name: str, factory: RequestFactory, tags: RunTags, named_by_build: frozenset[str]
) -> list[str]:
    """The names a main build of `name` gives its image: its release names when its build
    may name it (see plan.named_by_build), else its staging tag."""
    if name in named_by_build:
        return factory.release_names(name)
    return [tags.staging(factory.target(name))]
