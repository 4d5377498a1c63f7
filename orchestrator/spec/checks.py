"""Semantic checks of an assembled spec that need no Dockerfile: names, groups,
platforms, tags, caches, labels, secrets (the files and folders: spec/paths.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase

from orchestrator.errors import ProblemCollector
from orchestrator.hints import did_you_mean
from orchestrator.refs import (
    BadReference,
    normalize,
    normalize_platform,
    parse_ref,
    platform_problem,
)
from orchestrator.spec.mirrors import check_mirrors
from orchestrator.spec.model import Spec, Target
from orchestrator.spec.paths import PathFacts, check_paths, check_secret_files
from orchestrator.spec.registries import check_registries

GLOB_CHARS = "*?["


def is_glob(text: str) -> bool:
    return any(c in text for c in GLOB_CHARS)


def check_spec(spec: Spec, out: ProblemCollector, *, allow_outside_context: bool) -> None:
    facts = PathFacts()
    for target in spec.targets.values():  # each check only where it has something to see
        if target.depends_on:
            _check_depends_on(spec, target, out)
        if target.platforms:
            _check_platforms(target, out)
        if target.tags:
            _check_tags(target, out)
        check_paths(spec, target, out, facts, allow_outside_context=allow_outside_context)
        if target.secrets or target.ssh:
            check_secret_files(target, out)
        if target.cache_from or target.cache_to:
            _check_caches(target, out)
        if target.labels:
            _check_labels(target, out)
    _check_tag_owners(spec, out)
    _check_groups(spec, out)
    _check_builders(spec, out)
    check_mirrors(spec.mirrors, out)
    check_registries(spec.registries, out)


def _check_depends_on(spec: Spec, target: Target, out: ProblemCollector) -> None:
    for i, dep in enumerate(target.depends_on):
        where = target.at(f"depends_on[{i}]")
        if dep == target.name:
            out.add(where.problem("a target cannot depend on itself; remove it"))
        elif dep in spec.groups:
            out.add(
                where.problem(f"{dep!r} is a group; depends_on lists targets (write its members)")
            )
        elif dep not in spec.targets:
            hint = did_you_mean(dep, spec.targets) or "; it must name a target of this spec"
            out.add(where.problem(f"unknown target {dep!r}{hint}"))


def _check_builders(spec: Spec, out: ProblemCollector) -> None:
    """`builders:` keys are platforms, each once (linux/arm64 is linux/arm64/v8)."""
    seen: dict[str, str] = {}
    for platform, ref in spec.builders.items():
        assert ref.where is not None
        problem = platform_problem(platform)
        if problem:
            out.add(ref.where.problem(problem))
            continue
        same = seen.setdefault(normalize_platform(platform), platform)
        if same != platform:
            out.add(ref.where.problem(f"{platform} is {same} again; keep one of them"))


def _check_platforms(target: Target, out: ProblemCollector) -> None:
    seen: dict[str, int] = {}
    for i, platform in enumerate(target.platforms):
        problem = platform_problem(platform)
        if problem:
            out.add(target.at(f"platforms[{i}]").problem(problem))
            continue
        same = seen.setdefault(normalize_platform(platform), i)
        if same != i:
            out.add(
                target.at(f"platforms[{i}]").problem(
                    f"{platform} is {target.platforms[same]} again (platforms[{same}]); remove one"
                )
            )


def _check_tags(target: Target, out: ProblemCollector) -> None:
    for i, tag in enumerate(target.tags):
        try:
            ref = parse_ref(tag)
        except BadReference as exc:
            template = dict(enumerate(target.tag_templates)).get(i, tag)
            origin = f" (from template {template!r})" if template != tag else ""
            out.add(target.at(f"tags[{i}]").problem(f"tag {tag!r}{origin} {exc}"))
            continue
        if ref.digest:
            out.add(
                target.at(f"tags[{i}]").problem(
                    f"tag {tag!r} has a digest; a tag names what will be built, "
                    f"remove '@{ref.digest}'"
                )
            )


CACHE_TYPES = ("registry", "local", "inline", "gha", "s3", "azblob")
LABEL_KEY = re.compile(r"[^\s=\x00-\x1f\x7f]+")


def _check_caches(target: Target, out: ProblemCollector) -> None:
    """Cache entries as buildx takes them (a string form is checked like an object)."""
    for key in ("cache_from", "cache_to"):
        for i, entry in enumerate(getattr(target, key)):
            attrs = dict(entry.attrs)
            if entry.type not in CACHE_TYPES:
                hint = (
                    did_you_mean(entry.type, CACHE_TYPES) or f" (one of {', '.join(CACHE_TYPES)})"
                )
                out.add(
                    target.at(f"{key}[{i}]").problem(f"unknown cache type {entry.type!r}{hint}")
                )
            elif attrs.get("mode", "max") not in ("min", "max"):
                out.add(
                    target.at(f"{key}[{i}]").problem(
                        f"cache mode {attrs['mode']!r}: write mode=min or mode=max"
                    )
                )


def _check_labels(target: Target, out: ProblemCollector) -> None:
    for name in target.labels:
        if not LABEL_KEY.fullmatch(name):
            out.add(
                target.at(f"labels.{name}").problem(
                    f"label key {name!r} holds '=' or spaces, which --label cannot pass; rename it"
                )
            )


def _check_tag_owners(spec: Spec, out: ProblemCollector) -> None:
    owners: dict[str, tuple[Target, int]] = {}
    for target in spec.targets.values():
        for i, tag in enumerate(target.tags):
            try:
                key = normalize(tag)
            except BadReference:
                continue
            if key in owners and owners[key][0].name != target.name:
                other, j = owners[key]
                first = other.at(f"tags[{j}]")
                out.add(
                    target.at(f"tags[{i}]").problem(
                        f"tag {tag!r} is also produced by target {other.name!r} "
                        f"({first.spot()}); each tag must belong to one "
                        "target"
                    )
                )
            else:
                owners.setdefault(key, (target, i))


def group_members(spec: Spec, name: str) -> list[str]:
    """Target names a group selects, in spec order, expanding nested groups (however
    deep: a stack of our own, no recursion) and globs; a group met again is skipped."""
    out: list[str] = []
    path, on_path = [name], {name}
    members = [iter(spec.groups[name].members)]
    while members:
        member = next(members[-1], None)
        if member is None:
            members.pop()
            on_path.discard(path.pop())
        elif member in spec.groups:
            if member not in on_path:
                path.append(member)
                on_path.add(member)
                members.append(iter(spec.groups[member].members))
        elif member in spec.targets:
            out.append(member)
        elif is_glob(member):
            out += [t for t in spec.targets if fnmatchcase(t, member)]
    return list(dict.fromkeys(out))


def _check_groups(spec: Spec, out: ProblemCollector) -> None:
    looped = _groups_in_loops(spec)
    for group in spec.groups.values():
        for member, where in zip(group.members, group.member_where, strict=True):
            if member == group.name:
                out.add(where.problem("a group cannot contain itself; remove it"))
            elif member in spec.groups:
                loop = looped.get(group.name)
                if loop is not None and loop == looped.get(member):
                    out.add(
                        where.problem(
                            f"groups {group.name!r} and {member!r} contain each other; remove one"
                        )
                    )
            elif is_glob(member):
                if not any(fnmatchcase(t, member) for t in spec.targets):
                    names = ", ".join(sorted(spec.targets))
                    out.add(where.problem(f"{member!r} matches no target; targets: {names}"))
            elif member not in spec.targets:
                hint = did_you_mean(member, [*spec.targets, *spec.groups]) or (
                    "; it must name a target, a group or a glob"
                )
                out.add(where.problem(f"unknown target or group {member!r}{hint}"))


def _groups_in_loops(spec: Spec) -> dict[str, int]:
    """Groups that contain each other (through any others), by loop: the strongly
    connected parts of the group graph, found in linear time."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(spec.groups)
    graph.add_edges_from(
        (g.name, m) for g in spec.groups.values() for m in g.members if m in spec.groups
    )
    parts = [p for p in nx.strongly_connected_components(graph) if len(p) > 1]
    return {name: i for i, part in enumerate(parts) for name in part}


def check_secrets(spec: Spec, names: list[str], environ: Mapping[str, str]) -> None:
    """Before a build: every secret of the selected targets has a value to give."""
    out = ProblemCollector()
    for name in names:
        target = spec.targets[name]
        for i, secret in enumerate(target.secrets):
            if secret.env and secret.env not in environ:
                out.add(
                    target.at(f"secrets[{i}]").problem(
                        f"secret {secret.id!r}: environment variable {secret.env} is not set; "
                        "export it before building"
                    )
                )
        check_secret_files(target, out)
    out.raise_if_any()
