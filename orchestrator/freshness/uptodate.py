"""Which targets are up to date: an image for the target's key already where the run
publishes.

Keys are computed before anything builds (a child's key includes its parents' keys, so
a change anywhere below a target is seen without building it). Locally, one `docker
image inspect` finds every tag's image and labels; an image whose `stackbake.key`
label is the target's key makes the target `up-to-date`. A pushing run asks the
registry instead (a fresh CI runner has an empty store): a pushed build also carries
the tag `REPO:key-<key>`, and parallel manifest lookups of those tags and of the
release tags decide. An up-to-date target is not sent to BuildKit, only re-tagged
where a release tag is missing or names another image. After a build, the key's
inputs are recorded (see state.py) so `plan --explain` can say what changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.backend.base import Backend, ImageInfo, RemoteImage
from orchestrator.freshness.keys import KEY_LABEL, HashCache, KeyInputs, compute_keys, explain
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hierarchy.naming import image_names, key_tag
from orchestrator.state import StateDir


@dataclass(frozen=True)
class Freshness:
    inputs: Mapping[str, KeyInputs]
    images: Mapping[str, ImageInfo]  # local tag -> image
    forced: Mapping[str, str]  # target -> why it builds regardless
    state_folder: Path  # stackbake's own folder (.stackbake/): never a build input
    up_to_date: Mapping[str, str] = field(default_factory=dict)  # target -> image with its key
    remote: bool = False  # images and up_to_date are the registry's, not the local store's
    recorded: Mapping[str, KeyInputs | None] = field(default_factory=dict)  # last builds'
    # Has an image with its key, but a parent builds: built again on the parent's new image.
    held: Mapping[str, str] = field(default_factory=dict)  # target -> the parent that builds

    def key(self, name: str) -> str:
        return self.inputs[name].key

    def with_up_to_date(self, more: Mapping[str, str]) -> Freshness:
        """These targets up to date too (target -> image), e.g. what other shards published."""
        if not more:
            return self
        return dataclasses.replace(self, up_to_date={**self.up_to_date, **more})

    def state_sent(self, h: Hierarchy) -> list[str]:
        """Targets whose context would send stackbake's own state folder to BuildKit."""
        out = []
        for name, inputs in self.inputs.items():
            context = h.spec.targets[name].context
            if self.state_folder.is_relative_to(context):
                inside = self.state_folder.relative_to(context).as_posix() + "/"
                if any(path.startswith(inside) for path in inputs.files):
                    out.append(name)
        return out

    def warnings(self, h: Hierarchy) -> list[str]:
        sent = self.state_sent(h)
        if not sent:
            return []
        folder = self.state_folder.name
        return [
            f"warning: the context of {', '.join(sent)} holds {folder}/ (stackbake's logs and "
            f"state, new every run): add '{folder}' to its .dockerignore, else "
            f"{'it is' if len(sent) == 1 else 'they are'} never up to date and the image "
            "carries the logs"
        ]

    def reasons(self, name: str) -> list[str]:
        """Why `name` builds (empty: it is up to date)."""
        if name in self.forced:
            return [self.forced[name]]
        if name in self.up_to_date:
            return []
        if name in self.held:
            return [f"parent {self.held[name]} builds: built again on its new image"]
        why = explain(self.inputs[name], self.recorded.get(name))
        if why:
            return why
        if self.remote:
            return ["not in the registry under its key (never pushed from here, or removed)"]
        return ["no image with its key under its tags (removed, or built elsewhere)"]

    def published(self, h: Hierarchy, name: str) -> bool:
        """In the registry (a remote assessment) under its key, and every release tag
        names that image: nothing for `publish` to do."""
        digest = self.up_to_date.get(name)
        tags = image_names(h.spec.targets[name])
        return digest is not None and all(
            (info := self.images.get(t)) is not None and info.digest == digest for t in tags
        )

    def missing_tags(self, name: str, tags: Iterable[str]) -> list[str]:
        digest = self.up_to_date[name]
        return [t for t in tags if (info := self.images.get(t)) is None or info.digest != digest]


def recorded(state: StateDir, name: str) -> KeyInputs | None:
    """The inputs of `name`'s last build from here, if recorded."""
    data = state.inputs(name)
    try:
        return KeyInputs.from_json(data) if data is not None else None
    except (KeyError, TypeError):
        return None


def record(state: StateDir, name: str, inputs: KeyInputs) -> None:
    """`name` was built from these inputs: what the next run's `explain` compares."""
    state.save_inputs(name, inputs.to_json())


def assess(
    h: Hierarchy,
    names: list[str],
    backend: Backend,
    state: StateDir,
    *,
    forced: Mapping[str, str],
    remote: bool = False,
    locked: Mapping[str, str] | None = None,
    likely: Callable[[], None] | None = None,
    wait_s: float = 0.0,
    release: bool = True,
    known: dict[str, RemoteImage | None] | None = None,
) -> Freshness:
    """Keys of `names` (and their parents), and which of them already have an image:
    in the local store, or with `remote` in the registry the run pushes to. `locked`:
    the digests external bases are pinned to (key inputs). `likely` is called before the
    images are looked up when a target will probably build (forced, or its key is not
    the one of its last build here). `wait_s`: how long a registry that does not answer
    is asked again before the run gives up (RegistryUnreachable): it must not count as
    "nothing there", which would rebuild everything only to fail every push.
    `release`: look up the release tags too (a run that moves them, or `publish`).
    `known`: what the registry said moments ago in this run (ref -> image, None when
    absent), asked only for the rest and kept up to date."""
    inputs = compute_keys(h, names, HashCache.of(state), locked)
    last = {n: recorded(state, n) for n in names}
    if likely is not None and (
        forced or any((r := last[n]) is None or r.key != inputs[n].key for n in names)
    ):
        likely()
    tags = {n: image_names(h.spec.targets[n]) for n in names}
    fresh = Freshness(inputs, {}, dict(forced), state.root, remote=remote, recorded=last)
    if remote:
        keyed = {n: key_tag(h.spec.targets[n], inputs[n].key) for n in names if n not in forced}
        wanted = [*keyed.values(), *(t for n in keyed for t in tags[n] if release)]
        found = _lookup(backend, wanted, wait_s, {} if known is None else known)
        digests = {ref: image.digest for ref, image in found.items()}
        images = {t: ImageInfo(d) for t, d in digests.items()}
        current = {n: digests[ref] for n, ref in keyed.items() if ref in digests}
        return _hold(h, dataclasses.replace(fresh, images=images, up_to_date=current))
    images = backend.inspect([t for n in names for t in tags[n]])
    current = {}
    for name in names:
        for tag in tags[name]:
            info = images.get(tag)
            if info and info.labels.get(KEY_LABEL) == inputs[name].key and name not in forced:
                current[name] = info.digest
                break
    return _hold(h, dataclasses.replace(fresh, images=images, up_to_date=current))


def _lookup(
    backend: Backend, refs: list[str], wait_s: float, known: dict[str, RemoteImage | None]
) -> dict[str, RemoteImage]:
    asked = [r for r in dict.fromkeys(refs) if r not in known]
    found = backend.lookup(asked, wait_s=wait_s) if asked else {}
    known.update({r: found.get(r) for r in asked})
    return {r: image for r in refs if (image := known[r]) is not None}


def _hold(h: Hierarchy, fresh: Freshness) -> Freshness:
    """A target is up to date only when its parents are: a parent that builds (forced, or
    its image gone from its tags, with an unchanged key) gets a new image, and a child
    published in the same run sits on that one."""
    current, held = dict(fresh.up_to_date), {}
    for name in h.order(list(fresh.inputs)):
        building = [p for p in h.parents(name) if p in fresh.inputs and p not in current]
        if name in current and building:
            del current[name]
            held[name] = building[0]
    return dataclasses.replace(fresh, up_to_date=current, held=held)
