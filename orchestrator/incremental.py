"""Which targets are up to date: an image carrying the target's key under its tags.

Keys are computed before anything builds (a child's key includes its parents' keys, so
a change anywhere below a target is seen without building it). One `docker image
inspect` finds every tag's image and labels; an image whose `stackbake.key` label is
the target's key makes the target `up-to-date`: it is not sent to BuildKit, only
re-tagged where a release tag is missing or elsewhere. After a build, the key's
inputs are recorded in `.stackbake/inputs/` so `plan --explain` can say what changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.backend.base import Backend, ImageInfo
from orchestrator.graph import Hierarchy
from orchestrator.history import write_atomic
from orchestrator.keys import HashCache, KeyInputs, compute_keys, explain
from orchestrator.labels import KEY_LABEL
from orchestrator.request import image_names


@dataclass(frozen=True)
class Freshness:
    inputs: Mapping[str, KeyInputs]
    images: Mapping[str, ImageInfo]  # local tag -> image
    forced: Mapping[str, str]  # target -> why it builds regardless
    state: Path
    current: Mapping[str, str] = field(default_factory=dict)  # target -> digest with its key

    def key(self, name: str) -> str:
        return self.inputs[name].key

    def recorded(self, name: str) -> KeyInputs | None:
        try:
            data = json.loads((self.state / "inputs" / f"{name}.json").read_text("utf-8"))
            return KeyInputs.from_json(data)
        except (OSError, ValueError, KeyError):
            return None

    def record(self, name: str) -> None:
        path = self.state / "inputs" / f"{name}.json"
        write_atomic(path, json.dumps(self.inputs[name].to_json(), indent=1, sort_keys=True))

    def reasons(self, name: str) -> list[str]:
        """Why `name` builds (empty: it is up to date)."""
        if name in self.forced:
            return [self.forced[name]]
        if name in self.current:
            return []
        why = explain(self.inputs[name], self.recorded(name))
        return why or ["no image with its key under its tags (removed, or built elsewhere)"]

    def missing_tags(self, name: str, tags: Iterable[str]) -> list[str]:
        digest = self.current[name]
        return [t for t in tags if (info := self.images.get(t)) is None or info.digest != digest]


def assess(
    h: Hierarchy,
    names: list[str],
    backend: Backend,
    state: Path,
    *,
    forced: Mapping[str, str],
    look: bool = True,
) -> Freshness:
    """Keys of `names` (and their parents), and which of them already have an image.
    `look=False` skips the engine (a push run checks its registry instead)."""
    inputs = compute_keys(h, names, HashCache.load(state / "hashes.json"))
    tags = {n: image_names(h.spec.targets[n]) for n in names}
    images = backend.inspect([t for n in names for t in tags[n]]) if look else {}
    current = {}
    for name in names:
        for tag in tags[name]:
            info = images.get(tag)
            if info and info.labels.get(KEY_LABEL) == inputs[name].key and name not in forced:
                current[name] = info.digest
                break
    return Freshness(inputs, images, dict(forced), state, current)
