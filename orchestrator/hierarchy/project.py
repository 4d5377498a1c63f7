"""From a spec file to a validated hierarchy: the pipeline every command starts with."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ProblemCollector
from orchestrator.hierarchy.graph import Hierarchy, build_hierarchy
from orchestrator.spec.assemble import assemble
from orchestrator.spec.checks import check_spec
from orchestrator.spec.loader import find_spec, load_documents
from orchestrator.spec.model import Spec


@dataclass(frozen=True)
class Project:
    spec: Spec
    hierarchy: Hierarchy


def load_project(
    file: str | None,
    *,
    cwd: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    allow_outside_context: bool = False,
    sets: Sequence[str] = (),
    remember: bool = False,
) -> Project:
    """Load, validate and graph a spec; raises SpecError with every problem found.
    `remember`: a build, which may skip re-validating files it found valid before."""
    root = find_spec(file, cwd or Path.cwd())
    docs = load_documents(root, remember=remember)
    spec = assemble(docs, overrides or {}, os.environ if environ is None else environ, sets)
    out = ProblemCollector()
    check_spec(spec, out, allow_outside_context=allow_outside_context)
    hierarchy = build_hierarchy(spec, out)
    out.raise_if_any()
    return Project(spec, hierarchy)
