#!/usr/bin/env python3
"""Lineage under failure, cold, N times: does every child sit on its parent?

    python benchmarks/lineage.py [--runs 10] [--registry localhost:5000]

The tree of the bug report: `base` (amd64+arm64, FROM the seed) -> `rt-a` (amd64+arm64,
one RUN) -> `biz` (amd64: FROM rt-a, COPY --from `tool`, a RUN), and `broken`, whose RUN
fails at once. Before each run: this tree's images removed and `docker buildx prune
-af` (the WHOLE engine's build cache: run it on a machine of your own). Then `stackbake
build` (one session), and `docker image inspect` of rt-a and biz: biz's layers must begin
with rt-a's. Prints one line per run and a summary; exit 1 if a run broke the lineage.

Stdlib only; needs `stackbake` (PATH, or the repo's .venv) and docker with buildx.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = """\
version: 1
variables: {{REG: {reg}, SEED: {seed}}}
defaults:
  tags: ["${{REG}}/${{target}}:1"]
  args: {{REG: "${{REG}}", SEED: "${{SEED}}"}}
targets:
  base: {{context: base, platforms: [linux/amd64, linux/arm64]}}
  rt-a: {{context: rt-a, platforms: [linux/amd64, linux/arm64]}}
  tool: {{context: tool, platforms: [linux/amd64]}}
  biz: {{context: biz, platforms: [linux/amd64]}}
  broken: {{context: broken, platforms: [linux/amd64]}}
"""
FILES = {
    "base/Dockerfile": "ARG SEED\nFROM ${SEED}\nRUN echo {marker} > /base\n",
    "rt-a/Dockerfile": "ARG REG\nFROM ${REG}/base:1\nRUN mkdir /rt && echo rt > /rt/a\n",
    "tool/Dockerfile": "ARG SEED\nFROM ${SEED}\nRUN echo tool > /tool\n",
    "biz/Dockerfile": (
        "ARG REG\nFROM ${REG}/tool:1 AS tool\nFROM ${REG}/rt-a:1\n"
        "COPY --from=tool /tool /tool\nRUN cat /rt/a /tool > /biz\n"
    ),
    "broken/Dockerfile": "ARG SEED\nFROM ${SEED}\nRUN exit 1\n",
}


def sh(*argv: str, check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def layers(ref: str) -> list[str]:
    return list(
        json.loads(sh("docker", "image", "inspect", "--format", "{{json .RootFS.Layers}}", ref))
    )


def stackbake() -> list[str]:
    found = shutil.which("stackbake") or str(REPO / ".venv/bin/stackbake")
    return [found]


def judge(
    run: int, done: subprocess.CompletedProcess[str], status: dict[str, str], reg: str
) -> bool:
    """Does biz sit on rt-a? One line of what the run did."""
    rt, biz = layers(f"{reg}/rt-a:1"), layers(f"{reg}/biz:1")
    held = biz[: len(rt)] == rt
    mended = "lineage: on " in done.stdout
    alone = sorted(
        {
            line.split("]")[0].lstrip("[")
            for line in done.stdout.splitlines()
            if "building it alone" in line
        }
    )
    notes = [f"built alone after the session stopped: {', '.join(alone)}"] if alone else []
    notes += ["a child built again for its lineage"] if mended else []
    if "lost a cached step's snapshot" in done.stdout:
        notes += ["a build tried again without its cache (the engine lost a snapshot)"]
    print(
        f"run {run:2}: exit {done.returncode}, {status}, biz on rt-a: "
        f"{'yes' if held else 'NO'}{''.join('; ' + n for n in notes)}"
    )
    return held


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--registry", default="localhost:5000")
    args = p.parse_args()
    seed = f"{args.registry}/seed/busybox:1.35"
    broken_runs = unjudged = 0
    for run in range(1, args.runs + 1):
        reg = f"{args.registry}/lineage-{uuid.uuid4().hex[:10]}"
        with tempfile.TemporaryDirectory(prefix="stackbake-lineage-") as tmp:
            root = Path(tmp)
            (root / "builds.yaml").write_text(SPEC.format(reg=reg, seed=seed))
            for name, text in FILES.items():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_text(text.replace("{marker}", uuid.uuid4().hex))
            sh("docker", "buildx", "prune", "-af", check=False)
            done = subprocess.run(
                [*stackbake(), "build", "--progress", "plain", "--report", str(root / "r.json")],
                cwd=root,
                capture_output=True,
                text=True,
                check=False,
            )
            report = json.loads((root / "r.json").read_text())
            status = {t["name"]: t["status"] for t in report["targets"]}
            if status.get("rt-a") == "built" and status.get("biz") == "built":
                broken_runs += not judge(run, done, status, reg)
            else:
                tail = "\n".join(done.stdout.splitlines()[-15:])
                print(f"run {run:2}: exit {done.returncode}, {status}: no lineage to judge\n{tail}")
                unjudged += 1
            images = sh(
                "docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", check=False
            )
            mine = [i for i in images.split() if i.startswith(reg)]
            if mine:
                sh("docker", "image", "rm", *mine, check=False)
    judged = args.runs - unjudged
    print(f"{judged - broken_runs} of {judged} cold runs kept every child on its parent")
    if unjudged:
        print(f"{unjudged} run(s) did not build rt-a and biz: see their lines")
    return 1 if broken_runs or unjudged else 0


if __name__ == "__main__":
    sys.exit(main())
