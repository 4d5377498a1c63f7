"""The gates checked before anything builds, by `validate` and by a build before its
first step: hadolint on the Dockerfiles (gates/hadolint.py), the graph's external
bases against `gates.bases`, and the files the other gates will read (structure test
configs, a scan's ignore file). A target without these gates costs nothing."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from fnmatch import fnmatchcase
from pathlib import Path

from orchestrator.errors import Problem, ProblemCollector, display_path
from orchestrator.gates.hadolint import lint
from orchestrator.hierarchy.graph import Hierarchy
from orchestrator.hierarchy.project import Project
from orchestrator.spec.model import Target, Where
from orchestrator.spec.textfile import kind


def check_gates(
    project: Project, names: Iterable[str] | None = None, skip: Collection[str] = ()
) -> None:
    """Raises SpecError with every problem the gates of targets `names` (default: all)
    find before a build; static checks and hadolint's findings together. `skip`: gates
    bypassed (--skip-gate hadolint, bases)."""
    chosen = list(project.spec.targets if names is None else names)
    linted = [] if "hadolint" in skip else lint(project, chosen)
    out = ProblemCollector()
    for problem in [*static_problems(project, chosen, skip), *linted]:
        out.add(problem)
    out.raise_if_any()


def static_problems(
    project: Project, names: Iterable[str], skip: Collection[str] = ()
) -> list[Problem]:
    """Disallowed external bases and missing gate files of targets `names`."""
    out: list[Problem] = []
    for name in names:
        target = project.spec.targets[name]
        gates = target.gates
        if gates.bases and "bases" not in skip:
            out += disallowed_bases(project.hierarchy, target)
        for path in gates.structure_tests:
            out += _missing(target.at("gates.structure_tests"), "structure test", path)
        if gates.scan is not None and gates.scan.ignore_file is not None:
            out += _missing(target.at("gates.scan"), "scan ignore_file", gates.scan.ignore_file)
    return out


def disallowed_bases(h: Hierarchy, target: Target) -> list[Problem]:
    """Each external base (ARGs expanded) matching none of `gates.bases`, at its line.
    A glob matches the reference as the Dockerfile names it or normalised
    (`alpine:3.20` is `docker.io/library/alpine:3.20`)."""
    globs = target.gates.bases
    allowed = ", ".join(globs)
    out: list[Problem] = []
    for base in h.externals.get(target.name, ()):
        if any(fnmatchcase(base.ref, g) or fnmatchcase(base.normalized, g) for g in globs):
            continue
        message = f"base {base.normalized} is not allowed (gates.bases: {allowed})"
        out.append(Problem(base.origin.file, base.origin.line, 1, "", message))
    return out


def _missing(where: Where, what: str, path: Path) -> list[Problem]:
    if path.is_file():
        return []
    found = kind(path)
    said = f"is {found}, not a file" if found else "does not exist"
    message = f"{what} {display_path(path)} {said}; fix the path (relative to the target's context)"
    return [where.problem(message)]
