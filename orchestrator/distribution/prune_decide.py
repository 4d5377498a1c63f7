"""What `stackbake prune` keeps and why, decided from what was read and nothing else.

Per tag stream, images newest first: `--keep N` keeps the newest N, `--older-than DAYS`
keeps those not older than that; with both, an image goes only when it is beyond the
newest N and older. Whatever a rule would delete, an image is kept when:

- a release tag names it (the tag a stream's template renders now);
- builds.lock names it, or one of its manifests;
- a kept image builds on it: its `org.opencontainers.image.base.digest` label names it
  (its index, a platform manifest or its config), or, where that label is blank (a child
  built in one session with its parent), its layers on every platform begin with its
  layers (the longest such parent in the repository `base.name` names);
- a kept image lists it (a manifest of its own that a kept index holds);
- a tag of no stream names it (deleting it by digest would take that tag too);
- it is in a stream of a target not selected.

Images named only by stackbake's own tags (key, staging, pin) are leftovers: they go,
unless made within the hour (a run elsewhere may still need them), `--older-than` keeps
them, or their platforms are those of a kept image (the key tag of a per-platform build
that a merged index holds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.distribution.prune_model import Image
from orchestrator.distribution.prune_streams import Stream, cosign_subject, own_kind
from orchestrator.refs import BadReference, parse_ref

BUILDS_ON = " builds on it"
NOT_SELECTED = "not selected"
# A leftover this young may be a running build's (in another folder, on the same
# engine or registry): its staging tag, or a shard's key-only push before `publish`.
LEFTOVER_GRACE_DAYS = 1 / 24
Why = dict[tuple[str, str], list[str]]


@dataclass(frozen=True)
class Rules:
    keep: int | None  # newest N kept per stream
    older_than: int | None  # days: only images older than this go
    now: float  # seconds since the epoch


@dataclass(frozen=True)
class Verdict:
    image: Image
    kept: bool
    reasons: tuple[str, ...]  # why it is kept, or why it goes
    stream: Stream | None  # the selected stream it is shown under; None: a leftover
    shown: bool  # in a selected stream, or a leftover in a selected stream's repository


def decide(
    images: Sequence[Image], streams: Sequence[Stream], rules: Rules, locked: frozenset[str]
) -> list[Verdict]:
    """A verdict for every image, in the order given."""
    member = {i.id: [s for s in streams if _in(s, i)] for i in images}
    why: Why = {i.id: [] for i in images}
    for stream in streams:
        ranked = sorted((i for i in images if stream in member[i.id]), key=_newest_first)
        for rank, image in enumerate(ranked):
            _add(why, image, _rule(rank, image, stream, rules))
    selected = {s.repository for s in streams if s.selected}
    for image in images:
        if not member[image.id]:
            _add(why, image, _leftover_rule(image, rules, selected))
        for reason in _protections(image, member[image.id], streams, locked):
            _add(why, image, reason)
    _spread(images, why)
    if _platforms_kept(images, member, why):
        _spread(images, why)
    return [_verdict(i, member[i.id], why[i.id], rules, selected) for i in images]


def _in(stream: Stream, image: Image) -> bool:
    return stream.repository == image.repository and any(stream.holds(t) for t in image.tags)


def _newest_first(image: Image) -> tuple[bool, float, tuple[str, ...], str]:
    """Newest first; those of no known time last (kept whatever their rank)."""
    known = image.created is not None
    return (not known, -(image.created or 0.0), image.tags, image.digest)


def _add(why: Why, image: Image, reason: str | None) -> bool:
    """Add a reason to keep `image`; whether it was not kept before."""
    if reason is None:
        return False
    reasons = why[image.id]
    before = bool(reasons)
    if reason not in reasons:
        reasons.append(reason)
    return not before


def _rule(rank: int, image: Image, stream: Stream, rules: Rules) -> str | None:
    if not stream.selected:
        return NOT_SELECTED
    age = image.age_days(rules.now)
    if age is None:
        return "creation time unknown"
    if rules.keep is not None and rank < rules.keep:
        return f"newest {rules.keep}"
    if rules.older_than is not None and age <= rules.older_than:
        return f"not older than {rules.older_than} days"
    return None


def _leftover_rule(image: Image, rules: Rules, selected: set[str]) -> str | None:
    if image.repository not in selected:
        return NOT_SELECTED
    age = image.age_days(rules.now)
    if age is None:
        return "creation time unknown"
    if age < LEFTOVER_GRACE_DAYS:
        return "made within the hour: a run may still need it"
    if rules.older_than is not None and age <= rules.older_than:
        return f"not older than {rules.older_than} days"
    return None


def _protections(
    image: Image, member: list[Stream], streams: Sequence[Stream], locked: frozenset[str]
) -> Iterable[str]:
    here = [s for s in streams if s.repository == image.repository]
    if any(s.release in image.tags for s in member):
        yield "release tag"
    if image.names() & locked:
        yield "in builds.lock"
    for tag in image.tags:
        if not (own_kind(tag) or cosign_subject(tag) or any(s.holds(tag) for s in here)):
            yield f"also tagged {tag}, of no stream"
    for name in image.elsewhere:
        yield f"also named {name}"


def _spread(images: Sequence[Image], why: Why) -> None:
    """Every image a kept image builds on or lists is kept, and so on up the tree."""
    by_name: dict[str, list[Image]] = {}
    by_repository: dict[str, list[Image]] = {}
    for image in images:
        by_repository.setdefault(image.repository, []).append(image)
        for name in image.names():
            by_name.setdefault(name, []).append(image)
    todo = [i for i in images if why[i.id]]
    while todo:
        child = todo.pop()
        label = child.short_name(_label_tag(child))
        for parent in _built_on(child, by_name, by_repository):
            if _add(why, parent, f"{label}{BUILDS_ON}"):
                todo.append(parent)
        for digest in child.children:
            listed = by_name.get(digest, [])
            for image in (i for i in listed if i.id == (child.repository, digest)):
                if _add(why, image, f"listed by {label}"):
                    todo.append(image)


def _label_tag(image: Image) -> str | None:
    return next((t for t in image.tags if not own_kind(t)), None)


def _built_on(
    child: Image, by_name: Mapping[str, list[Image]], by_repository: Mapping[str, list[Image]]
) -> list[Image]:
    if child.base_digest:
        return [i for i in by_name.get(child.base_digest, []) if i.id != child.id]
    if not (child.base_name and child.layers):
        return []
    try:
        repository = parse_ref(child.base_name).repository
    except BadReference:
        return []
    return _by_layers(child, [i for i in by_repository.get(repository, []) if i.id != child.id])


def _by_layers(child: Image, candidates: Iterable[Image]) -> list[Image]:
    """The images whose layers begin the child's on every platform both have: those
    with the most layers (the closest parent)."""
    best, found = 0, list[Image]()
    for parent in candidates:
        common = [p for p in child.layers if parent.layers.get(p)]
        if not common or any(
            child.layers[p][: len(parent.layers[p])] != parent.layers[p] for p in common
        ):
            continue
        score = sum(len(parent.layers[p]) for p in common)
        if score < best:
            continue
        if score > best:
            best, found = score, []
        found.append(parent)
    return found


def _platforms_kept(
    images: Sequence[Image], member: Mapping[tuple[str, str], list[Stream]], why: Why
) -> bool:
    """Leftovers whose every platform manifest a kept image of their repository holds
    (a per-platform build's key tag, merged into a kept index) are kept; whether any was."""
    holder = {(i.repository, d): i for i in images if why[i.id] for d in i.platforms.values()}
    added = False
    for image in images:
        if member[image.id] or why[image.id] or not image.platforms:
            continue
        held = [holder.get((image.repository, d)) for d in image.platforms.values()]
        if all(held):
            names = sorted({h.short_name(_label_tag(h)) for h in held if h})
            added |= _add(why, image, f"its platforms are in {', '.join(names)}")
    return added


def _verdict(
    image: Image, member: list[Stream], reasons: list[str], rules: Rules, selected: set[str]
) -> Verdict:
    shown_in = next((s for s in member if s.selected), None)
    leftover = not member and all(own_kind(t) for t in image.tags)
    shown = shown_in is not None or (leftover and image.repository in selected)
    if reasons:
        first = [r for r in reasons if not r.endswith(BUILDS_ON)]
        ordered = (*first, *sorted(r for r in reasons if r.endswith(BUILDS_ON)))
        return Verdict(image, True, ordered, shown_in, shown)
    return Verdict(image, False, _why_it_goes(image, member, rules), shown_in, shown)


def _why_it_goes(image: Image, member: list[Stream], rules: Rules) -> tuple[str, ...]:
    if not member:
        kinds = sorted({k for t in image.tags if (k := own_kind(t))})
        return (f"leftover {'/'.join(kinds)} tag",)
    out = [f"beyond the newest {rules.keep}"] if rules.keep is not None else []
    if rules.older_than is not None:
        out.append(f"older than {rules.older_than} days")
    return tuple(out)
