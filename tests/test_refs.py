from __future__ import annotations

import pytest

from orchestrator.refs import BadReference, normalize, parse_ref, platform_problem

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("alpine", "docker.io/library/alpine:latest"),
        ("alpine:3.20", "docker.io/library/alpine:3.20"),
        ("library/alpine:3.20", "docker.io/library/alpine:3.20"),
        ("docker.io/alpine", "docker.io/library/alpine:latest"),
        ("index.docker.io/library/alpine:3.20", "docker.io/library/alpine:3.20"),
        ("acme/base", "docker.io/acme/base:latest"),
        ("localhost/base:1", "localhost/base:1"),
        ("localhost:5000/acme/base:1.4.2", "localhost:5000/acme/base:1.4.2"),
        ("registry.example.com/acme/base:1.4.2", "registry.example.com/acme/base:1.4.2"),
        (f"alpine@{DIGEST}", f"docker.io/library/alpine@{DIGEST}"),
        (f"alpine:3.20@{DIGEST}", f"docker.io/library/alpine:3.20@{DIGEST}"),
        ("Registry.Example.com/acme/base:v1", "Registry.Example.com/acme/base:v1"),
    ],
)
def test_normalisation(written: str, normalized: str) -> None:
    assert normalize(written) == normalized


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("", "is empty"),
        ("Acme/Base:1", "has upper-case letters; repository names must be lower-case"),
        (
            "alpine:",
            "is not a valid image reference; write [registry/]name[:tag]"
            "[@sha256:digest] with a lower-case name",
        ),
        (
            "acme//base",
            "is not a valid image reference; write [registry/]name[:tag]"
            "[@sha256:digest] with a lower-case name",
        ),
        (
            "alpine@sha256:abc",
            "is not a valid image reference; write [registry/]name[:tag]"
            "[@sha256:digest] with a lower-case name",
        ),
    ],
)
def test_bad_references(written: str, reason: str) -> None:
    with pytest.raises(BadReference) as info:
        parse_ref(written)
    assert str(info.value) == reason


def test_digest_only_reference_keeps_no_tag() -> None:
    ref = parse_ref(f"acme/base@{DIGEST}")
    assert (ref.tag, ref.digest, ref.repository) == (None, DIGEST, "docker.io/acme/base")


@pytest.mark.parametrize(
    ("platform", "problem"),
    [
        ("linux/amd64", None),
        ("linux/arm/v7", None),
        ("linux/arm64/v8", None),
        ("windows/amd64", None),
        ("linx/amd64", "unknown operating system 'linx' in 'linux/amd64'; did you mean 'linux'?"),
        ("linux/arm/v9", "unknown variant 'v9' in 'linux/arm/v9'; arm variants: v5, v6, v7, v8"),
        ("linux/386/v1", "unknown variant 'v1' in 'linux/386/v1'; 386 has no variants"),
    ],
)
def test_platforms(platform: str, problem: str | None) -> None:
    assert platform_problem(platform) == (
        problem.replace("'linux/amd64'", f"'{platform}'") if problem else None
    )


def test_loopback_registries_with_and_without_ports():
    from orchestrator.refs import is_loopback

    assert [
        is_loopback(d) for d in ("localhost:5000", "127.0.0.2:5000", "[::1]:5000", "[::1]")
    ] == [True, True, True, True]
    assert [
        is_loopback(d) for d in ("registry.internal:5000", "172.17.0.1:5443", "[2001:db8::1]:5000")
    ] == [False, False, False]
