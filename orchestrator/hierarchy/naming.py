"""The names stackbake gives a target's images, in one place; each is handed out here
and never parsed back.

    release names   the target's tags, or `localhost/stackbake/NAME:latest` without tags
    key tag         `REPO:key-<key>`: a pushed build, found by its build key
    staging tag     `REPO:stackbake-build-<token>`: a build waiting for its test stage
    pin tag         `REPO:stackbake-<hex of digest>-<run>`: exactly one local image, for
                    the children built in one run (another run has its own)
    registry pin    `REPO@<digest>`: exactly one pushed image, for children

REPO is the repository of the target's first release name.
"""

from __future__ import annotations

from orchestrator.refs import parse_ref
from orchestrator.spec.model import Target

LOCAL_REPOSITORY = "localhost/stackbake"


def image_names(target: Target) -> tuple[str, ...]:
    """The names a built image gets: its tags, or a local name so children can pin it."""
    return target.tags or (f"{LOCAL_REPOSITORY}/{target.name}:latest",)


def repository(target: Target) -> str:
    return parse_ref(image_names(target)[0]).repository


def key_tag(target: Target, key: str) -> str:
    """Where a pushed build is found by its key. A tag (not a label) because a registry
    answers for a tag without a pull."""
    return f"{repository(target)}:key-{key}"


def staging_tag(target: Target, token: str) -> str:
    """Where a build lands before its test stage passed: never a release tag."""
    return f"{repository(target)}:stackbake-build-{token}"


def pin_tag(target: Target, digest: str, run: str) -> str:
    """A local name that only ever means this image of the target, for one run: `run`
    removes it when it ends, and a run elsewhere on the same engine pinned to the same
    image has its own. The engine resolves `REPO@DIGEST` only in a registry, never in
    its own store, so a child built on a local parent is pinned to this tag (which the
    docker driver resolves locally)."""
    return f"{repository(target)}:stackbake-{digest.split(':', 1)[1]}-{run}"


def registry_pin(target: Target, digest: str) -> str:
    """The pushed image by its digest, resolved in the registry."""
    return f"{repository(target)}@{digest}"
