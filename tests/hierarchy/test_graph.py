from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import SpecError, UsageError
from orchestrator.hierarchy.project import Project, load_project
from orchestrator.hierarchy.selection import select
from tests.helpers import write_tree

DIGEST = "sha256:" + "cd" * 32

SPEC = """\
version: 1
variables:
  REG: registry.example.com/acme
defaults:
  tags: ["${REG}/${target}:1"]
  args: {REG: "${REG}"}
targets:
  base: {context: base}
  python: {context: python}
  node: {context: node}
  data: {context: data}
  web: {context: web, depends_on: [python]}
  app: {context: app, target: runtime}
  tool: {context: tool, tags: [acme/tool]}
groups:
  runtimes: [python, node]
  leaves: ["app", "tool"]
"""

FILES = {
    "base/Dockerfile": "FROM alpine:3.20\n",
    # a tag of another target, through an ARG the spec sets
    "python/Dockerfile": "ARG REG=nowhere\nFROM ${REG}/base:1\n",
    # the target's name
    "node/Dockerfile": "FROM base\n",
    # tag plus digest: still the parent; stackbake pins it itself
    "data/Dockerfile": f"FROM registry.example.com/acme/python:1@{DIGEST}\n",
    "web/Dockerfile": "FROM registry.example.com/acme/node:1\n",
    # COPY --from a target by a normalised tag (docker.io/acme/tool:latest)
    "app/Dockerfile": (
        "FROM registry.example.com/acme/web:1 AS runtime\n"
        "COPY --from=docker.io/acme/tool:latest /bin/t /bin/t\n"
        f"COPY --from=acme/pinned@{DIGEST} / /\n"
    ),
    "tool/Dockerfile": "FROM scratch\nRUN --mount=from=alpine:3.20,target=/a true\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_tree(tmp_path, {**FILES, "builds.yaml": SPEC})
    return load_project(None, cwd=tmp_path, environ={})


def edges(project: Project) -> set[tuple[str, str, str]]:
    h = project.hierarchy
    return {
        (p, c, o.describe(project.spec.folder)) for p, c in h.dag.edges for o in h.origins(p, c)
    }


def test_inferred_and_declared_edges(project: Project) -> None:
    assert edges(project) == {
        ("base", "python", "python/Dockerfile:2 FROM ${REG}/base:1"),
        ("base", "node", "node/Dockerfile:1 FROM base"),
        ("python", "data", f"data/Dockerfile:1 FROM registry.example.com/acme/python:1@{DIGEST}"),
        ("node", "web", "web/Dockerfile:1 FROM registry.example.com/acme/node:1"),
        ("python", "web", "declared (builds.yaml:12)"),
        ("web", "app", "app/Dockerfile:1 FROM registry.example.com/acme/web:1"),
        ("tool", "app", "app/Dockerfile:2 COPY --from docker.io/acme/tool:latest"),
    }


def test_external_bases(project: Project) -> None:
    ext = {n: [(e.ref, e.normalized) for e in es] for n, es in project.hierarchy.externals.items()}
    assert ext == {
        "base": [("alpine:3.20", "docker.io/library/alpine:3.20")],
        "python": [],
        "node": [],
        "data": [],
        "web": [],
        "app": [(f"acme/pinned@{DIGEST}", f"docker.io/acme/pinned@{DIGEST}")],
        "tool": [("alpine:3.20", "docker.io/library/alpine:3.20")],
    }


def test_var_override_moves_the_edge(tmp_path: Path) -> None:
    write_tree(tmp_path, {**FILES, "builds.yaml": SPEC})
    project = load_project(None, cwd=tmp_path, environ={}, overrides={"REG": "other.example/x"})
    assert project.hierarchy.parents("python") == ["base"]
    assert project.spec.targets["python"].tags == ("other.example/x/python:1",)


def test_levels_and_order(project: Project) -> None:
    h = project.hierarchy
    assert h.levels() == {
        "base": 0,
        "tool": 0,
        "python": 1,
        "node": 1,
        "data": 2,
        "web": 2,
        "app": 3,
    }
    assert h.order() == ["base", "tool", "node", "python", "data", "web", "app"]


@pytest.mark.parametrize(
    ("names", "with_dependents", "expected"),
    [
        ([], False, ["base", "tool", "node", "python", "data", "web", "app"]),
        (["web"], False, ["base", "node", "python", "web"]),
        (["runtimes"], False, ["base", "node", "python"]),
        (["python"], True, ["base", "tool", "node", "python", "data", "web", "app"]),
        (["d*"], False, ["base", "python", "data"]),
        (["leaves"], False, ["base", "tool", "node", "python", "web", "app"]),
        (["node", "tool"], True, ["base", "tool", "node", "python", "web", "app"]),
    ],
)
def test_selection(
    project: Project, names: list[str], with_dependents: bool, expected: list[str]
) -> None:
    assert select(project.hierarchy, names, with_dependents=with_dependents) == expected


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["pyhton"], "unknown target or group 'pyhton'; did you mean 'python'?"),
        (["zz*"], "'zz*' matches no target; run 'stackbake ls' to see them"),
        (
            ["nothing"],
            "unknown target or group 'nothing'; run 'stackbake ls' to see targets and groups",
        ),
    ],
)
def test_bad_selection(project: Project, names: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        select(project.hierarchy, names)
    assert str(info.value) == message


def test_default_group_is_the_default_selection(tmp_path: Path) -> None:
    write_tree(tmp_path, {**FILES, "builds.yaml": SPEC + "  default: [node]\n"})
    project = load_project(None, cwd=tmp_path, environ={})
    assert select(project.hierarchy, []) == ["base", "node"]


def test_cycle_through_dockerfile_and_depends_on(tmp_path: Path) -> None:
    files = {
        **FILES,
        "base/Dockerfile": "FROM registry.example.com/acme/web:1\n",
        "builds.yaml": SPEC,
    }
    write_tree(tmp_path, files)
    with pytest.raises(SpecError) as info:
        load_project(None, cwd=tmp_path, environ={})
    assert info.value.render() == (
        f"{tmp_path}/base/Dockerfile:1: dependency cycle: base -> web -> python -> base\n"
        "  base builds on web: base/Dockerfile:1 FROM registry.example.com/acme/web:1\n"
        "  web builds on python: declared (builds.yaml:12)\n"
        "  python builds on base: python/Dockerfile:2 FROM ${REG}/base:1\n"
        "  break the cycle by removing one of these edges"
    )


def test_self_cycle(tmp_path: Path) -> None:
    files = {**FILES, "tool/Dockerfile": "FROM acme/tool\n", "builds.yaml": SPEC}
    write_tree(tmp_path, files)
    with pytest.raises(SpecError) as info:
        load_project(None, cwd=tmp_path, environ={})
    assert info.value.render() == (
        f"{tmp_path}/tool/Dockerfile:1: dependency cycle: tool -> tool\n"
        "  tool builds on tool: tool/Dockerfile:1 FROM acme/tool\n"
        "  break the cycle by removing one of these edges"
    )


SHARED = """\
version: 1
targets:
  a: {context: app}
  b: {context: app}
  c: {context: app, args: {V: "2"}}
"""


def test_targets_that_read_a_dockerfile_alike_share_one_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.hierarchy import graph

    calls: list[dict[str, str]] = []
    real = graph.analyze

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(dict(kwargs["build_args"]))  # type: ignore[call-overload]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(graph, "analyze", counting)
    write_tree(tmp_path, {"builds.yaml": SHARED, "app/Dockerfile": "ARG V=1\nFROM alpine:3.${V}\n"})
    project = load_project(None, cwd=tmp_path, environ={})
    assert calls == [{}, {"V": "2"}]  # a and b: one reading; c has its own args
    bases = {t: [b.ref for b in project.hierarchy.externals[t]] for t in "abc"}
    assert bases == {"a": ["alpine:3.1"], "b": ["alpine:3.1"], "c": ["alpine:3.2"]}


def test_a_broken_dockerfile_is_reported_for_every_target_that_reads_it(tmp_path: Path) -> None:
    write_tree(tmp_path, {"builds.yaml": SHARED, "app/Dockerfile": "FROM\n"})
    with pytest.raises(SpecError) as info:
        load_project(None, cwd=tmp_path, environ={})
    messages = [p.message for p in info.value.problems]
    assert messages == [
        f"FROM names no image; write FROM IMAGE [AS NAME] (target {name!r})" for name in "abc"
    ]


def test_cut_to_the_host_platform_a_target_without_platforms_is_kept_as_it_is(
    tmp_path: Path,
) -> None:
    from orchestrator.hierarchy.restrict import restrict_platforms
    from orchestrator.refs import host_platform

    spec = "version: 1\ntargets:\n  a: {context: a}\n  b: {context: b, platforms: [linux/s390x]}\n"
    write_tree(
        tmp_path,
        {"builds.yaml": spec, "a/Dockerfile": "FROM alpine\n", "b/Dockerfile": "FROM alpine\n"},
    )
    project = load_project(None, cwd=tmp_path, environ={})
    cut = restrict_platforms(project, [host_platform()])
    assert list(cut.spec.targets) == ["a"]
    assert cut.spec.targets["a"] is project.spec.targets["a"]  # same key: same target


def test_validating_stays_linear_each_reference_parsed_once_positions_read_when_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks and the graph each ask about every tag, and every target about its
    base: each text is parsed once all the same. A valid spec's positions under
    `targets` are never looked for; a spec with a problem in each target reads them
    once (the file read twice in all), not once a problem."""
    from orchestrator import refs
    from orchestrator.spec import yamlpos

    parsed: list[str] = []
    parse = refs._parse

    def counting_parse(text: str) -> refs.ImageRef:
        parsed.append(text)
        return parse(text)

    builders: list[object] = []

    class CountingBuilder(yamlpos.Builder):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            builders.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(refs, "_parse", counting_parse)
    monkeypatch.setattr(yamlpos, "Builder", CountingBuilder)
    refs._parsed.cache_clear()
    n = 200
    spec = "version: 1\ntargets:\n" + "".join(
        f"  t{i}:\n    context: c\n    tags: [registry.example.com/x/t{i}:1]\n" for i in range(n)
    )
    write_tree(tmp_path, {"builds.yaml": spec, "c/Dockerfile": "FROM alpine:3.20\n"})
    project = load_project(None, cwd=tmp_path, environ={})
    assert len(project.spec.targets) == n
    assert len(parsed) == len(set(parsed)) == n + 1  # each tag, and the base, once
    assert len(builders) == 1
    write_tree(tmp_path, {"builds.yaml": spec.replace("context: c", "context: gone")})
    with pytest.raises(SpecError) as info:
        load_project(None, cwd=tmp_path, environ={})
    assert [(p.line, p.col, p.path) for p in info.value.problems] == [
        (4 + 3 * i, 14, f"targets.t{i}.context") for i in range(n)
    ]
    assert len(builders) == 3
