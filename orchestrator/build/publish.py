"""The push phase of a target: its release tags pushed one by one, then its key tag
made in the registry ("this key is published": it comes last; for a signed target, it
comes first, and the signature before every release tag). What was published is
kept across the phase's attempts, so a retry pushes only what is missing, and a push
that fails half-way says which tags it did publish."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.backend.base import TAIL, Backend, BuildResult, OnLine
from orchestrator.execution.cancel import CancelToken


@dataclass
class Publication:
    backend: Backend
    target: str
    tags: list[str]  # the release tags, pushed in this order
    key_tag: str | None = None  # made registry side from `source` once the tags are pushed
    source: str | None = None  # REPO@DIGEST of the pushed image
    published: list[str] = field(default_factory=list)

    def push_first(self, on_line: OnLine, cancel: CancelToken) -> BuildResult:
        """A signed target's image goes to its registry under its key tag (or, without
        one, its first tag) alone, to be signed there before any other tag names it.
        The key tag must be a local name of the image too."""
        first = self.key_tag or self.tags[0]
        if first in self.published:
            return BuildResult(True)
        pushed = self.backend.push(self.target, [first], on_line, cancel)
        if pushed.ok:
            self.published.append(first)
        return pushed

    def attempt(self, on_line: OnLine, cancel: CancelToken) -> BuildResult:
        tail: list[str] = []
        for tag in self.tags:
            if tag in self.published:
                continue
            pushed = self.backend.push(self.target, [tag], on_line, cancel)
            tail += pushed.log_tail
            if not pushed.ok:
                return _with_tail(pushed, tail)
            self.published.append(tag)
        if self.key_tag and self.source and self.key_tag not in self.published:
            keyed = self.backend.copy(self.source, [self.key_tag], on_line, cancel)
            tail += keyed.log_tail
            if not keyed.ok:
                return _with_tail(keyed, tail)
            self.published.append(self.key_tag)
        return BuildResult(True, log_tail=tuple(tail[-TAIL:]))


def _with_tail(result: BuildResult, tail: list[str]) -> BuildResult:
    return BuildResult(
        result.ok,
        result.digest,
        result.reason,
        result.transient,
        result.cancelled,
        tuple(tail[-TAIL:]),
    )
