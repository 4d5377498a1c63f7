"""From a target and the digests of its parents to build requests: the main build and
its test stage, pinned to exactly those parents and to the locked external bases."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.backend.base import BuildRequest
from orchestrator.build.labels import PREFIX, Provenance, automatic_labels
from orchestrator.build.options import OutputMode, output_kind
from orchestrator.execution.status import Phase
from orchestrator.freshness.keys import KEY_LABEL, source_date_epoch
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hierarchy.naming import image_names, key_tag, pin_tag, registry_pin
from orchestrator.refs import BadReference, context_key, parse_ref
from orchestrator.spec.mirrors import mirrored
from orchestrator.spec.model import CacheEntry, Target
from orchestrator.state import StateDir


@dataclass
class RequestFactory:
    hierarchy: Hierarchy
    mode: OutputMode
    provenance: Provenance
    state: StateDir  # where each target's log goes
    keys: Mapping[str, str] = field(default_factory=dict)  # target -> build key (a label)
    locked: Mapping[str, str] = field(default_factory=dict)  # external base -> locked digest
    # The platforms a run is cut to (--platform, per-platform shards): its registry
    # caches get refs of their own, else runners of other platforms overwrite them.
    scoped: tuple[str, ...] = ()
    shared_dests: set[str] = field(default_factory=set)
    shared_refs: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        counts: Counter[str] = Counter()  # local folder -> targets using it
        refs: Counter[str] = Counter()  # registry cache ref -> targets using it
        for t in self.hierarchy.spec.targets.values():
            entries = [dict(e.attrs) | {"": e.type} for e in (*t.cache_from, *t.cache_to)]
            counts.update(
                {a.get("dest") or a.get("src") or "" for a in entries if a[""] == "local"}
            )
            refs.update({a.get("ref", "") for a in entries if a[""] == "registry"})
        self.shared_dests = {d for d, n in counts.items() if n > 1 and d}
        self.shared_refs = {r for r, n in refs.items() if n > 1 and r}

    def target(self, name: str) -> Target:
        return self.hierarchy.spec.targets[name]

    def _cache(self, target: Target, entry: CacheEntry) -> str:
        """Local cache folders and registry cache refs are per target when targets share
        one (parallel builds never share one), and registry refs per platform in a run
        cut to some (shards of other platforms would overwrite them); gha caches get a
        per-target scope (else every target overwrites the same one)."""
        attrs = dict(entry.attrs)
        if entry.type == "local":
            for key in ("dest", "src"):
                if attrs.get(key) in self.shared_dests:
                    attrs[key] = f"{attrs[key].rstrip('/')}/{target.name}"
        if entry.type == "gha":
            attrs.setdefault("scope", target.name)
        if entry.type == "registry" and attrs.get("ref"):
            scope = [target.name] if attrs["ref"] in self.shared_refs else []
            scope += sorted(p.replace("/", "-") for p in self.scoped)
            if scope:
                attrs["ref"] = scoped_ref(attrs["ref"], scope)
        return ",".join(f"{k}={v}" for k, v in attrs.items())

    def local_pins(self, name: str, digests: Mapping[str, str]) -> dict[str, str]:
        """The pin tags (tag -> digest) a build of `name` on these parents refers to:
        they must exist before it starts. None when pushing (pinned in the registry)."""
        if self.mode.pushes:
            return {}
        parents = [p for p in self.hierarchy.parents(name) if p in digests]
        run = self.state.run_id
        return {pin_tag(self.target(p), digests[p], run): digests[p] for p in parents}

    def _parents(
        self, name: str, digests: Mapping[str, str], linked: Collection[str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """(contexts, links): each Dockerfile reference to a parent built in this run,
        pinned to its digest (`docker-image://` a pin tag, or the registry's digest when
        pushing) or, `linked`, to its build in the same session; external bases pinned
        to the digests in the lock (resolved in their registries, or at their mirrors:
        a mirrored base not in the lock is taken from its mirror as named)."""
        h = self.hierarchy
        contexts: dict[str, str] = {}
        links: dict[str, str] = {}
        for external in h.externals.get(name, []):
            digest = self.locked.get(external.normalized)
            at = mirrored(external.normalized, h.spec.mirrors)
            if digest and parse_ref(external.ref).digest is None:
                repository = parse_ref(at or external.normalized).repository
                contexts[context_key(external.ref)] = f"docker-image://{repository}@{digest}"
            elif at:
                contexts[context_key(external.ref)] = f"docker-image://{at}"
        for parent in h.parents(name):
            origins = [o.ref for o in h.origins(parent, name) if o.ref]
            if parent in linked:
                links |= {context_key(ref): parent for ref in origins}
            elif parent in digests:
                image, digest = self.target(parent), digests[parent]
                if self.mode.pushes:
                    pinned = registry_pin(image, digest)
                else:
                    pinned = pin_tag(image, digest, self.state.run_id)
                contexts |= {context_key(ref): f"docker-image://{pinned}" for ref in origins}
        return contexts, links

    def base(self, name: str, digests: Mapping[str, str]) -> tuple[str | None, str | None]:
        """The image the built stage starts FROM: a parent target, else an external base."""
        h = self.hierarchy
        for parent in h.parents(name):
            if h.edge_kind(parent, name) == "from":
                return image_names(self.target(parent))[0], digests.get(parent)
        for external in h.externals.get(name, []):
            if external.origin.base:
                ref = parse_ref(external.ref)
                return external.ref, ref.digest or self.locked.get(external.normalized)
        return None, None

    def key_tag(self, name: str) -> str | None:
        """Pushing: the tag that says "this key is published", made in the registry once
        the release tags are pushed (never a local name another run could remove)."""
        key = self.keys.get(name)
        return key_tag(self.target(name), key) if key and self.mode.pushes else None

    def release_names(self, name: str) -> list[str]:
        """What a built image is published as: its tags (or its local name)."""
        return list(image_names(self.target(name)))

    def build(
        self,
        name: str,
        digests: Mapping[str, str],
        tags: Sequence[str],
        linked: Collection[str] = (),
    ) -> BuildRequest:
        """The main build, named `tags`. `linked`: parents built in the same session,
        whose digest nobody knows yet (no base.digest label)."""
        target = self.target(name)
        base_name, base_digest = self.base(name, digests)
        epoch = source_date_epoch(target)
        provenance = self.provenance if epoch is None else self.provenance.at(epoch)
        labels = automatic_labels(name, target.tags, provenance, base_name, base_digest)
        if any(self.hierarchy.edge_kind(p, name) == "from" for p in linked):
            # Built in the same session: no digest yet. Blank, not the one inherited
            # from the parent's own labels (its base's).
            labels[f"{PREFIX}base.digest"] = ""
        labels |= target.labels
        if name in self.keys:
            labels[KEY_LABEL] = self.keys[name]
        contexts, links = self._parents(name, digests, linked)
        return self._request(
            target,
            Phase.BUILD,
            stage=target.stage,
            tags=tuple(tags),
            labels=labels,
            contexts=contexts,
            links=links,
            outputs=_clamped(self.mode.local_outputs(), epoch),
            load=self.mode.load,
            reproducible=epoch is not None and _stored(self.mode.local_outputs()),
            cache_to=tuple(self._cache(target, c) for c in target.cache_to),
        )

    def test(self, name: str, digests: Mapping[str, str]) -> BuildRequest:
        """The test stage: built for the target's platforms, exported nowhere."""
        target = self.target(name)
        contexts, _ = self._parents(name, digests, ())
        return self._request(
            target,
            Phase.TEST,
            stage=target.test,
            tags=(),
            labels={},
            contexts=contexts,
            links={},
            outputs=("type=cacheonly",),
            load=False,
            cache_to=(),
        )

    def _args(self, target: Target) -> dict[str, str]:
        epoch = source_date_epoch(target)
        return dict(target.args) | ({} if epoch is None else {"SOURCE_DATE_EPOCH": str(epoch)})

    def _request(
        self,
        target: Target,
        phase: Phase,
        *,
        stage: str | None,
        tags: tuple[str, ...],
        labels: Mapping[str, str],
        contexts: Mapping[str, str],
        links: Mapping[str, str],
        outputs: tuple[str, ...],
        load: bool,
        cache_to: tuple[str, ...],
        reproducible: bool = False,
    ) -> BuildRequest:
        return BuildRequest(
            target=target.name,
            phase=phase,
            context=target.context,
            dockerfile=target.dockerfile,
            stage=stage,
            args=self._args(target),
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
            contexts=dict(contexts),
            links=dict(links),
            outputs=outputs,
            load=load,
            log_file=self.state.log(target.name),
            reproducible=reproducible,
        )


def _stored(outputs: tuple[str, ...]) -> bool:
    """Whether the build lands in the engine's image store (no output, or type=image)."""
    return all(output_kind(o) in ("image", "docker") for o in outputs)


def _clamped(outputs: tuple[str, ...], epoch: int | None) -> tuple[str, ...]:
    """Outputs to files (oci, docker) with file times clamped to SOURCE_DATE_EPOCH; one
    into the image store goes another way (BuildRequest.reproducible)."""
    if epoch is None or _stored(outputs):
        return outputs
    return tuple(
        f"{o},rewrite-timestamp=true" if output_kind(o) in ("oci", "docker") else o for o in outputs
    )


def scoped_ref(ref: str, scope: Sequence[str]) -> str:
    """A registry cache ref of its own: `REPO/cache` for target app on linux/arm64
    becomes `REPO/cache:app-linux-arm64`, `...:main` `...:main-app-linux-arm64`."""
    try:
        parsed = parse_ref(ref)
    except BadReference:
        return ref  # reported by the spec checks
    slug = "-".join(scope)
    tag = f"{parsed.tag}-{slug}" if parsed.tag else slug
    return f"{parsed.repository}:{tag}"
