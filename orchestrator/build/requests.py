"""From a target and the digests of its freshly built parents to build requests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.backend.bake import LINK
from orchestrator.backend.base import BuildRequest
from orchestrator.build.labels import KEY_LABEL, PREFIX, RunFacts, automatic_labels
from orchestrator.execution.status import Phase
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.refs import context_key, parse_ref
from orchestrator.spec.model import CacheEntry, Target

LOCAL_REPOSITORY = "localhost/stackbake"


@dataclass(frozen=True)
class OutputMode:
    push: bool = False
    load: bool = False
    outputs: tuple[str, ...] = ()
    no_cache: bool = False
    pull: bool = False
    builder: str | None = None

    @property
    def pushes(self) -> bool:
        """--push, or an --output that publishes (type=registry, push=true)."""
        return self.push or any(_publishes(o) for o in self.outputs)

    def local_outputs(self) -> tuple[str, ...]:
        """The outputs with publishing taken out: stackbake pushes itself, after tests."""
        out = []
        for output in self.outputs:
            attrs = [list(p.partition("=")[::2]) for p in output.split(",")]
            for pair in attrs:
                if pair == ["type", "registry"]:
                    pair[1] = "image"
                elif pair[0] == "push":
                    pair[1] = "false"
            out.append(",".join(f"{k}={v}" for k, v in attrs))
        return tuple(out)


def output_kind(output: str) -> str:
    """The exporter a buildx `--output` spec names (`type=local,dest=out` -> `local`)."""
    return output_attrs(output).get("type", "")


def output_attrs(output: str) -> dict[str, str]:
    return dict(p.partition("=")[::2] for p in output.split(","))


def _publishes(output: str) -> bool:
    attrs = output_attrs(output)
    return attrs.get("type") == "registry" or attrs.get("push", "").lower() == "true"


def image_names(target: Target) -> tuple[str, ...]:
    """The names a built image gets: its tags, or a local name so children can pin it."""
    return target.tags or (f"{LOCAL_REPOSITORY}/{target.name}:latest",)


def staging_tag(target: Target, token: str) -> str:
    """Where a build lands before its test stage passed: never a release tag."""
    return f"{parse_ref(image_names(target)[0]).repository}:stackbake-build-{token}"


def pin_tag(target: Target, digest: str) -> str:
    """A local name that only ever means this build of the target: `REPO:stackbake-<hex>`."""
    repository = parse_ref(image_names(target)[0]).repository
    return f"{repository}:stackbake-{digest.split(':', 1)[1]}"


def key_tag(target: Target, key: str) -> str:
    """Where a pushed build is found by its key: `REPO:key-<key>`, next to its first tag.
    A tag (not a label) because a registry answers for a tag without a pull."""
    return f"{parse_ref(image_names(target)[0]).repository}:key-{key}"


def pin(target: Target, digest: str, *, pushed: bool) -> str:
    """The build context that makes a child build on exactly this parent image.

    Pushed: `docker-image://REPO@DIGEST`, resolved in the registry. Local: the
    engine resolves `REPO@DIGEST` only from a registry, never from its own image
    store, so the parent gets a tag that names its digest (`pin_tag`), which the
    docker driver resolves locally; no other build ever moves that tag.
    """
    if pushed:
        return f"docker-image://{parse_ref(image_names(target)[0]).repository}@{digest}"
    return f"docker-image://{pin_tag(target, digest)}"


@dataclass
class RequestFactory:
    hierarchy: Hierarchy
    mode: OutputMode
    facts: RunFacts
    logs: Path
    keys: Mapping[str, str] = field(default_factory=dict)  # target -> build key (a label)
    locked: Mapping[str, str] = field(default_factory=dict)  # external base -> locked digest
    shared_dests: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        counts: Counter[str] = Counter()
        for t in self.hierarchy.spec.targets.values():
            for entry in (*t.cache_from, *t.cache_to):
                attrs = dict(entry.attrs)
                if entry.type == "local":
                    counts.update({attrs.get("dest") or attrs.get("src") or ""})
        self.shared_dests = {d for d, n in counts.items() if n > 1 and d}

    def _cache(self, target: Target, entry: CacheEntry) -> str:
        """Local cache folders are per target (parallel builds never share one); gha
        caches get a per-target scope (else every target overwrites the same one)."""
        attrs = dict(entry.attrs)
        if entry.type == "local":
            for key in ("dest", "src"):
                if attrs.get(key) in self.shared_dests:
                    attrs[key] = f"{attrs[key].rstrip('/')}/{target.name}"
        if entry.type == "gha":
            attrs.setdefault("scope", target.name)
        return ",".join(f"{k}={v}" for k, v in attrs.items())

    def contexts(
        self, target: Target, digests: Mapping[str, str], linked: Collection[str] = ()
    ) -> dict[str, str]:
        """Named contexts that pin: parents built in this run to their digests (or,
        `linked`, to their build in the same session), external bases to the digests in
        the lock (resolved in their registries)."""
        h = self.hierarchy
        contexts = {}
        for external in h.externals.get(target.name, []):
            digest = self.locked.get(external.normalized)
            if digest and parse_ref(external.ref).digest is None:
                repository = parse_ref(external.normalized).repository
                contexts[context_key(external.ref)] = f"docker-image://{repository}@{digest}"
        for parent in h.parents(target.name):
            if parent in linked:
                source = LINK + parent
            elif parent in digests:
                source = pin(h.spec.targets[parent], digests[parent], pushed=self.mode.pushes)
            else:
                continue  # not in this run's selection: built from its tag as usual
            for origin in h.origins(parent, target.name):
                if origin.ref:
                    contexts[context_key(origin.ref)] = source
        return contexts

    def base(self, target: Target, digests: Mapping[str, str]) -> tuple[str | None, str | None]:
        """The image the built stage starts FROM: a parent target, else an external base."""
        h = self.hierarchy
        for parent in h.parents(target.name):
            if h.edge_kind(parent, target.name) == "from":
                return image_names(h.spec.targets[parent])[0], digests.get(parent)
        for external in h.externals.get(target.name, []):
            if external.origin.base:
                ref = parse_ref(external.ref)
                return external.ref, ref.digest or self.locked.get(external.normalized)
        return None, None

    def release_names(self, name: str, key: str | None) -> list[str]:
        """What a built image is published as: its tags and, pushing, its key tag (last:
        it says "this key is published")."""
        target = self.hierarchy.spec.targets[name]
        keyed = [key_tag(target, key)] if key and self.mode.pushes else []
        return [*image_names(target), *keyed]

    def names_images(self) -> bool:
        """Whether builds land as images in the store, where `--tag` names them."""
        return all(output_kind(o) in ("image", "docker") for o in self.mode.local_outputs())

    def build(
        self,
        name: str,
        digests: Mapping[str, str],
        token: str | None,
        release: Sequence[str] = (),
        linked: Collection[str] = (),
    ) -> BuildRequest:
        """The main build: named by a staging tag (`token`), and by `release` (its tags,
        when it has no test stage to pass first). `linked`: parents built in the same
        session, whose digest nobody knows yet (no base.digest label)."""
        target = self.hierarchy.spec.targets[name]
        tags = (*([staging_tag(target, token)] if token else []), *release)
        base_name, base_digest = self.base(target, digests)
        labels = automatic_labels(name, target.tags, self.facts, base_name, base_digest)
        if any(self.hierarchy.edge_kind(p, name) == "from" for p in linked):
            # Built in the same session: no digest yet. Blank, not the one inherited
            # from the parent's own labels (its base's).
            labels[f"{PREFIX}base.digest"] = ""
        labels |= target.labels
        if name in self.keys:
            labels[KEY_LABEL] = self.keys[name]
        return self._request(
            target,
            Phase.BUILD,
            digests,
            linked=linked,
            stage=target.stage,
            tags=tags,
            labels=labels,
            outputs=self.mode.local_outputs(),
            load=self.mode.load,
            cache_to=tuple(self._cache(target, c) for c in target.cache_to),
        )

    def test(self, name: str, digests: Mapping[str, str]) -> BuildRequest:
        """The test stage: built for the target's platforms, exported nowhere."""
        target = self.hierarchy.spec.targets[name]
        return self._request(
            target,
            Phase.TEST,
            digests,
            stage=target.test,
            tags=(),
            labels={},
            outputs=("type=cacheonly",),
            load=False,
            cache_to=(),
        )

    def _request(
        self,
        target: Target,
        phase: Phase,
        digests: Mapping[str, str],
        *,
        linked: Collection[str] = (),
        stage: str | None,
        tags: tuple[str, ...],
        labels: Mapping[str, str],
        outputs: tuple[str, ...],
        load: bool,
        cache_to: tuple[str, ...],
    ) -> BuildRequest:
        return BuildRequest(
            target=target.name,
            phase=phase,
            context=target.context,
            dockerfile=target.dockerfile,
            stage=stage,
            args=dict(target.args),
            labels=dict(labels),
            tags=tags,
            platforms=target.platforms,
            cache_from=tuple(self._cache(target, c) for c in target.cache_from),
            cache_to=cache_to,
            secrets=target.secrets,
            ssh=target.ssh,
            network=target.network,
            no_cache=target.no_cache or self.mode.no_cache,
            pull=target.pull or self.mode.pull,
            builder=target.builder or self.mode.builder,
            contexts=self.contexts(target, digests, linked),
            outputs=outputs,
            load=load,
            log_file=self.logs / f"{target.name}.log",
        )
