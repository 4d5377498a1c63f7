"""The gates read from an image's config, written by hand (no tool does them): size,
layers, labels, user, healthcheck, and the base it names. Each returns its findings on
one platform: empty when it passes."""

from __future__ import annotations

from collections.abc import Callable, Collection
from fnmatch import fnmatchcase

from orchestrator.gates.facts import Facts
from orchestrator.refs import BadReference, parse_ref
from orchestrator.spec.gates import Gates, show_size

BASE_LABEL = "org.opencontainers.image.base.name"
ROOT_USERS = ("", "root", "0")

Check = Callable[[Gates, Facts], tuple[str, ...]]


def max_size(gates: Gates, facts: Facts) -> tuple[str, ...]:
    """ "612 MB > 500 MB": the uncompressed size of this platform over the limit."""
    limit = gates.max_size
    if limit is None or facts.size <= limit:
        return ()
    return (f"{show_size(facts.size)} > {show_size(limit)}",)


def max_layers(gates: Gates, facts: Facts) -> tuple[str, ...]:
    limit = gates.max_layers
    if limit is None or facts.layers <= limit:
        return ()
    return (f"{facts.layers} layers > {limit}",)


def labels(gates: Gates, facts: Facts) -> tuple[str, ...]:
    missing = [name for name in gates.labels if not facts.labels.get(name)]
    if not missing:
        return ()
    return (f"missing label{'s' if len(missing) > 1 else ''} {', '.join(missing)}",)


def user(gates: Gates, facts: Facts) -> tuple[str, ...]:
    """non-root: USER unset, root or uid 0 (with any group: 0:0, root:x) fails."""
    if gates.user != "non-root":
        return ()
    name = facts.user.strip().split(":", 1)[0]
    if name not in ROOT_USERS:
        return ()
    if not facts.user.strip():
        return ("no USER: runs as root",)
    return (f"runs as root (USER {facts.user.strip()})",)


def healthcheck(gates: Gates, facts: Facts) -> tuple[str, ...]:
    if not gates.healthcheck:
        return ()
    if facts.healthcheck is None:
        return ("no HEALTHCHECK",)
    if facts.healthcheck[0].upper() == "NONE":
        return ("HEALTHCHECK NONE",)
    return ()


def bases(gates: Gates, facts: Facts, parents: Collection[str] = ()) -> tuple[str, ...]:
    """The image's base label, when it has one, matches a glob of `gates.bases` (as
    written or normalised, as validate matches the graph's bases), or names one of
    `parents` (the repositories of the targets it is built on: not external bases)."""
    base = facts.labels.get(BASE_LABEL, "").strip()
    if not gates.bases or not base:
        return ()
    forms = {base}
    try:
        ref = parse_ref(base)
        forms.add(ref.normalized())
        if ref.repository in {_repository(p) for p in parents}:
            return ()
    except BadReference:
        pass
    if any(fnmatchcase(form, glob) for form in forms for glob in gates.bases):
        return ()
    return (f"base {base} is not allowed (gates.bases: {', '.join(gates.bases)})",)


def _repository(name: str) -> str:
    try:
        return parse_ref(name).repository
    except BadReference:
        return name


CHECKS: dict[str, Check] = {
    "max_size": max_size,
    "max_layers": max_layers,
    "labels": labels,
    "user": user,
    "healthcheck": healthcheck,
}
