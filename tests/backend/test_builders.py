"""Pre-flight of builders: what `docker buildx inspect` says, read into one problem."""

from __future__ import annotations

from orchestrator.backend.base import BuilderUse
from orchestrator.backend.builders import _platforms_problem, in_context

INSPECT = """\
Name:          native
Driver:        remote

Nodes:
Name:             native0
Endpoint:         tcp://arm-node:1234
Status:           running
Platforms:        linux/arm64*, linux/arm/v7
"""


def test_a_builder_must_list_every_platform_it_is_given() -> None:
    ok = BuilderUse("native", None, ("linux/arm64/v8", "linux/arm/v7"), "builders.linux/arm64")
    assert _platforms_problem(ok, INSPECT) is None
    wrong = BuilderUse("native", None, ("linux/arm64", "linux/s390x"), "builders.linux/s390x")
    assert _platforms_problem(wrong, INSPECT) == (
        "buildx builder 'native' cannot build linux/s390x (it builds linux/arm64, "
        "linux/arm/v7); give linux/s390x a builder that does, or install QEMU emulation "
        "on its node"
    )


def test_an_inactive_builder_lists_no_platforms_yet_and_is_not_judged_by_them() -> None:
    inactive = INSPECT.replace("Status:           running", "Status:           inactive")
    inactive = inactive.replace("Platforms:        linux/arm64*, linux/arm/v7\n", "")
    use = BuilderUse("native", None, ("linux/s390x",), "builders.linux/s390x")
    assert _platforms_problem(use, inactive) is None


def test_a_context_replaces_docker_host_and_any_chosen_context() -> None:
    environ = {"DOCKER_HOST": "unix:///a.sock", "DOCKER_CONTEXT": "old", "PATH": "/bin"}
    assert in_context(environ, "arm") == {"DOCKER_CONTEXT": "arm", "PATH": "/bin"}
    assert in_context(environ, None) == {"DOCKER_HOST": "unix:///a.sock", "PATH": "/bin"}
