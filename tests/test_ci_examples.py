"""examples/ci: the GitHub workflow and the GitLab pipelines valid against their
published schemas (vendored by check-jsonschema: offline), and every stackbake command
in them, the Jenkinsfile's too, accepted by stackbake's own parser."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.build.shards import MatrixRequest, shards_of
from orchestrator.cli.main import build_parser
from orchestrator.hierarchy.project import load_project
from orchestrator.render.matrix import render_matrix
from tests.conftest import ROOT

CI = ROOT / "examples/ci"
ENV = {
    "SPEC": "builds.yaml.example",
    "REGISTRY": "r.example/acme",
    "SHARDS": "2",
    "DURATIONS": "examples/ci/durations.json",
    "${{ matrix.shard }}": "1/2",
}


def schema_check(schema: str, *files: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def scripts(name: str) -> list[str]:
    """The shell lines of a CI file: `run` and `script` of the YAML ones, `sh '...'` of
    the Jenkinsfile."""
    text = (CI / name).read_text(encoding="utf-8")
    if name == "Jenkinsfile":
        return re.findall(r"sh '([^']*)'", text)
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("run", "script", "before_script"):
                    out.extend([value] if isinstance(value, str) else value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(text))
    return out


def commands(name: str) -> list[list[str]]:
    """Each `stackbake ...` command of a CI file (arguments), variables filled in as CI
    would, up to a pipe, a redirection or the end of a `$(...)`."""
    out = []
    for script in scripts(name):
        joined = script.replace("\\\n", " ")
        for found in re.finditer(r"\bstackbake ([^\n|>)]*)", joined):
            command = found.group(1)
            for key, value in ENV.items():
                command = command.replace(f"${key}", value).replace(key, value)
            out.append(shlex.split(command))
    return out


def test_the_github_workflow_is_valid() -> None:
    schema_check("vendor.github-workflows", CI / "github-workflow.yml")


def test_the_gitlab_pipeline_and_its_child_pipeline_are_valid(tmp_path: Path) -> None:
    project = load_project(str(ROOT / "builds.yaml.example"), environ={})
    request = MatrixRequest(shards=2, durations=(CI / "durations.json",), everything=True)
    shards = shards_of(project, list(project.spec.targets), request)
    child = tmp_path / "shards.yml"
    defaults = (CI / "gitlab-shard-defaults.yml").read_text(encoding="utf-8")
    child.write_text(defaults + render_matrix(shards, "gitlab", ["-f", "builds.yaml.example"]))
    schema_check("vendor.gitlab-ci", CI / "gitlab-ci.yml", child)
    jobs = yaml.safe_load(child.read_text(encoding="utf-8"))
    assert [k for k in jobs if k.startswith("shard ")] == ["shard 1/2", "shard 2/2"]
    # all at once, each waiting for its parents in the registry
    assert [jobs[k]["needs"] for k in ("shard 1/2", "shard 2/2")] == [[], []]
    assert jobs["shard 2/2"]["script"] == [
        "stackbake build -f builds.yaml.example --shard 2/2 --wait 3600"
    ]


@pytest.mark.parametrize("name", ["github-workflow.yml", "gitlab-ci.yml", "Jenkinsfile"])
def test_every_stackbake_command_in_the_ci_files_parses(name: str) -> None:
    found = commands(name)
    assert found, f"no stackbake command in {name}"
    parser = build_parser()
    for argv in found:
        parser.parse_args(argv)  # exits (SystemExit 2) on a flag stackbake lacks


def test_jenkins_has_a_stage_per_shard_the_matrix_fills() -> None:
    project = load_project(str(ROOT / "builds.yaml.example"), environ={})
    request = MatrixRequest(shards=2, durations=(CI / "durations.json",), everything=True)
    shards = shards_of(project, list(project.spec.targets), request)
    text = (CI / "Jenkinsfile").read_text(encoding="utf-8")
    assert re.findall(r"stage\('shard (\d/\d)'\)", text) == [s.label for s in shards]
    assert all(s.targets for s in shards)
