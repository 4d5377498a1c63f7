"""Run the `run:` steps of examples/ci/github-workflow.yml on this machine, as GitHub
would on a push: the plan job, then every shard of its matrix at once, each in a
checkout of its own and alternately on this host's engine and on the second one
(scripts/second-engine.sh; they share only the registry), then the publish job. The
workflow's `uses:` steps (checkout, buildx, login) and its "Install stackbake" step are
what this machine already has (the project's .venv); its registry is the local one, under
a repository prefix of this run. Exit 0 when every step passed and, afterwards, the
matrix has nothing left to build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples/ci/github-workflow.yml"
SKIPPED = ("Install stackbake",)  # the project's .venv instead
ENGINES = ("unix:///var/run/docker.sock", "unix:///var/run/docker-b.sock")


def checkout(into: Path) -> Path:
    """A copy of the working tree, as actions/checkout gives each job its own."""
    ignore = shutil.ignore_patterns(".git", ".venv", ".stackbake", "__pycache__", "*.egg-info")
    shutil.copytree(ROOT, into, ignore=ignore)
    return into


SECRET = re.compile(r"\$\{\{ secrets\.([A-Z_]+) \}\}")


def with_secrets(value: str, env: dict[str, str]) -> str:
    """`${{ secrets.NAME }}` as GitHub fills it in: from this run's own secrets."""
    return SECRET.sub(lambda m: env[f"SECRET_{m[1]}"], value)


def signing_secrets(folder: Path) -> dict[str, str]:
    """A throwaway cosign key pair, as the repository's secrets would hold one."""
    password = uuid.uuid4().hex
    folder.mkdir(parents=True)
    subprocess.run(
        ["cosign", "generate-key-pair"],
        cwd=folder,
        env={**os.environ, "COSIGN_PASSWORD": password},
        check=True,
        capture_output=True,
    )
    return {
        "SECRET_COSIGN_PASSWORD": password,
        "SECRET_COSIGN_KEY": (folder / "cosign.key").read_text(encoding="utf-8"),
        "SECRET_COSIGN_PUBLIC_KEY": (folder / "cosign.pub").read_text(encoding="utf-8"),
    }


def run_job(
    name: str, job: dict[str, Any], env: dict[str, str], folder: Path, matrix: dict[str, Any]
) -> tuple[int, dict[str, str]]:
    """The job's `run:` steps in `folder`, in order; (exit code, its outputs)."""
    outputs_file = folder / ".github_output"
    outputs_file.write_text("")
    env = {**env, "GITHUB_OUTPUT": str(outputs_file)}
    for step in job["steps"]:
        if "run" not in step or step.get("name") in SKIPPED:
            continue
        script = step["run"]
        for key, value in matrix.items():
            script = script.replace(f"${{{{ matrix.{key} }}}}", str(value))
        print(f"== {name}: {step.get('name', script.splitlines()[0])}", flush=True)
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", script],
            cwd=folder,
            env={**env, **{k: with_secrets(str(v), env) for k, v in step.get("env", {}).items()}},
            capture_output=True,
            text=True,
            check=False,
        )
        tail = (done.stdout + done.stderr).strip().splitlines()[-25:]
        print("\n".join(f"   {line}" for line in tail), flush=True)
        if done.returncode != 0:
            print(f"== {name}: failed (exit {done.returncode})", flush=True)
            return done.returncode, {}
    pairs = [line.partition("=") for line in outputs_file.read_text().splitlines()]
    return 0, {k: v for k, _, v in pairs if k}


def main(argv: list[str]) -> int:
    """argv: [PREFIX], the repository prefix to publish under (default: a new one)."""
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    registry = os.environ.get("STACKBAKE_REGISTRY", "127.0.0.1:5000")
    env = {**os.environ, **{k: str(v) for k, v in workflow["env"].items()}}
    prefix = argv[0] if argv else f"{registry}/ci-local-{uuid.uuid4().hex[:10]}"
    env["REGISTRY"] = f"{prefix}/acme"
    env["PATH"] = f"{ROOT / '.venv/bin'}{os.pathsep}{env['PATH']}"
    env.pop("GITHUB_STEP_SUMMARY", None)
    jobs = workflow["jobs"]
    with tempfile.TemporaryDirectory(prefix="ci-local-") as tmp:
        work = Path(tmp)
        env.update(signing_secrets(work / "secrets"))
        env = {k: with_secrets(v, env) for k, v in env.items()}
        code, outputs = run_job("plan", jobs["plan"], env, checkout(work / "plan"), {})
        if code:
            return code
        matrix = json.loads(outputs["matrix"])
        print(f"== matrix: {json.dumps(matrix)}", flush=True)

        def shard(index: int, entry: dict[str, Any]) -> int:
            on = {**env, "DOCKER_HOST": ENGINES[index % len(ENGINES)]}
            folder = checkout(work / f"shard-{index + 1}")
            return run_job(f"shard {entry['shard']}", jobs["shard"], on, folder, entry)[0]

        with ThreadPoolExecutor(max(1, len(matrix["include"]))) as pool:
            codes = list(pool.map(lambda pair: shard(*pair), enumerate(matrix["include"])))
        # publish runs after the shards whatever they did (`if: always()`): it refuses
        # on its own when one failed.
        code, _ = run_job("publish", jobs["publish"], env, checkout(work / "publish"), {})
        if any(codes) or code:
            return 1
        spec = ["-f", env["SPEC"], "--var", f"REGISTRY={env['REGISTRY']}"]
        after = subprocess.run(
            ["stackbake", "matrix", *spec, "--shards", env["SHARDS"], "--format", "github"],
            cwd=work / "publish",
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        left = json.loads(after.stdout or "{}").get("include")
        print(f"== matrix after publish: {left}", flush=True)
        return 0 if after.returncode == 0 and left == [] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
