"""The hadolint gate: the real `hadolint` on the Dockerfile of every target whose
`gates.hadolint` is set, before anything builds. Each Dockerfile is linted once per
ignore list (the threshold is applied to its findings: with `--no-fail`, hadolint's own
threshold only sets its exit code), several at once; findings at or above a target's
threshold are problems at their Dockerfile line. hadolint runs in the spec's folder, so
a `.hadolint.yaml` beside the spec applies wherever stackbake is run from (the spec's
`ignore` replaces that file's `ignored` list, as `--ignore` does)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.backend.tools import need_tool
from orchestrator.errors import Problem
from orchestrator.hierarchy.dockerfiles import DockerfileError, parse
from orchestrator.hierarchy.project import Project
from orchestrator.refs import BadReference, normalize, parse_ref
from orchestrator.spec.gates import THRESHOLDS
from orchestrator.spec.model import Spec, Target

RANK = {level: rank for rank, level in enumerate(THRESHOLDS)}  # error 0 ... style 3
# What hadolint says of a FROM line's image: noise when the image is another target
# (`FROM base`: a parent by name, pinned to its digest by the build).
PARENT_RULES = frozenset(("DL3006", "DL3007", "DL3026"))
AT_ONCE = 8
TIMEOUT_S = 60.0


class Finding(NamedTuple):
    code: str
    level: str
    line: int | None
    col: int | None
    message: str


Key = tuple[Path, tuple[str, ...]]  # a Dockerfile and the rules it is linted without
Linted = tuple[Finding, ...] | Problem  # its findings, or why hadolint gave none


def lint(project: Project, names: Iterable[str]) -> list[Problem]:
    """hadolint's findings for targets `names` (those with the gate) as problems."""
    targets = [t for n in names if (t := project.spec.targets[n]).gates.hadolint is not None]
    if not targets:
        return []  # no gate, no hadolint: not even looked for
    tool = need_tool("hadolint", "the hadolint gate (gates.hadolint)")
    keys = list(dict.fromkeys(map(_key, targets)))
    folder = project.spec.folder
    with ThreadPoolExecutor(min(AT_ONCE, len(keys))) as pool:
        work = pool.map(lambda k: run_hadolint(tool, k, folder), keys)
        results = dict(zip(keys, work, strict=True))
    parents = _ParentLines(project.spec)
    out: list[Problem] = []
    for target in targets:
        linted = results[_key(target)]
        if isinstance(linted, Problem):
            out.append(linted)
            continue
        out += _problems(target, linted, parents.lines(target.dockerfile))
    return list(dict.fromkeys(out))  # targets sharing a Dockerfile: each problem once


def _key(target: Target) -> Key:
    assert target.gates.hadolint is not None
    return target.dockerfile, tuple(sorted(set(target.gates.hadolint.ignore)))


def _problems(target: Target, found: Iterable[Finding], parent_lines: set[int]) -> list[Problem]:
    assert target.gates.hadolint is not None
    threshold = RANK[target.gates.hadolint.threshold]
    ignored = set(target.gates.hadolint.ignore)  # DL1000 too, which --ignore does not silence
    return [
        Problem(target.dockerfile, f.line, f.col, "", f"hadolint {f.code}: {f.message}{_why(f)}")
        for f in found
        if RANK.get(f.level, len(RANK)) <= threshold
        and f.code not in ignored
        and not (f.code in PARENT_RULES and f.line in parent_lines)
    ]


def _why(finding: Finding) -> str:
    if finding.code != "DL1000":
        return ""
    # The hierarchy has parsed the file with BuildKit's parser: the limit is hadolint's.
    return " (hadolint cannot parse the file, BuildKit can; ignore DL1000 to skip it)"


def run_hadolint(tool: str, key: Key, cwd: Path) -> Linted:
    """One hadolint run: `--format json --no-fail`, the rules ignored; the Dockerfile
    given on stdin, as `readable` makes it."""
    dockerfile, ignore = key
    argv = [tool, "--format", "json", "--no-fail"]
    for rule in ignore:
        argv += ["--ignore", rule]
    try:
        text, hosts = readable(dockerfile.read_bytes())
        done = subprocess.run(
            [*argv, "-"],
            cwd=cwd,
            input=text,
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _failed(dockerfile, str(exc))
    out, err = (s.decode("utf-8", "replace") for s in (done.stdout, done.stderr))
    if done.returncode != 0:
        said = err.strip().splitlines()
        return _failed(dockerfile, f"exit {done.returncode}: {said[0] if said else 'no output'}")
    try:
        found = [_finding(item) for item in json.loads(out or "[]")]
    except (ValueError, TypeError, KeyError, AttributeError):
        return _failed(dockerfile, f"output not hadolint's JSON: {out[:200]!r}")
    # hadolint read those registries renamed: it cannot judge them (DL3026).
    return tuple(f for f in found if not (f.code == "DL3026" and f.line in hosts))


# A FROM image on a registry `host:port` whose host has no dot (`localhost:5000/x:1`):
# hadolint's parser reads `host` as the image and `port/...` as its tag, and fails on the
# tag's colon (DL1000, hadolint#355), linting nothing of the file.
_DOTLESS_HOST = re.compile(rb"(?im)^([ \t]*FROM[ \t]+(?:--\S+[ \t]+)*[A-Za-z0-9-]+):([0-9]+/)")


def readable(text: bytes) -> tuple[bytes, frozenset[int]]:
    """The Dockerfile as hadolint can parse it: `host:port/` of such FROM images written
    `host.port/` (the same length: every line and column stays), and the lines changed."""
    lines = frozenset(text.count(b"\n", 0, m.start()) + 1 for m in _DOTLESS_HOST.finditer(text))
    return (_DOTLESS_HOST.sub(rb"\1.\2", text) if lines else text), lines


def _failed(dockerfile: Path, why: str) -> Problem:
    return Problem(dockerfile, None, None, "", f"hadolint could not lint it ({why})")


def _finding(item: dict[str, Any]) -> Finding:
    line, col = item.get("line"), item.get("column")
    message = "; ".join(part.strip() for part in str(item["message"]).splitlines() if part)
    return Finding(
        str(item["code"]),
        str(item["level"]),
        line if isinstance(line, int) and line > 0 else None,
        col if isinstance(col, int) and col > 0 and isinstance(line, int) else None,
        message,
    )


class _ParentLines:
    """The FROM lines of a Dockerfile whose image is another target, by name or by one of
    its tags (normalised), as the hierarchy tells parents from external bases. hadolint
    judges only images written without variables (`FROM ${BASE}` it leaves alone), so
    the image as written is what counts, in every stage, built or not."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.tags: set[str] | None = None
        self.known: dict[Path, set[int]] = {}

    def lines(self, dockerfile: Path) -> set[int]:
        if dockerfile not in self.known:
            try:
                commands = parse(dockerfile)
            except (DockerfileError, OSError):
                commands = ()  # the hierarchy reported it
            self.known[dockerfile] = {
                c.start_line
                for c in commands
                if c.cmd == "FROM" and c.value and self.names_target(c.value[0])
            }
        return self.known[dockerfile]

    def names_target(self, image: str) -> bool:
        if "$" in image:
            return False
        if image in self.spec.targets:
            return True
        try:
            ref = parse_ref(image)
        except BadReference:
            return False
        if ref.tag is None and ref.digest:
            return False  # pinned by digest alone: an external image
        if self.tags is None:
            self.tags = set()
            for target in self.spec.targets.values():
                for tag in target.tags:
                    try:
                        self.tags.add(normalize(tag))
                    except BadReference:
                        continue
        return ref.without_digest().normalized() in self.tags
