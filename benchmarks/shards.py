#!/usr/bin/env python3
"""CI shards, measured two ways.

    python benchmarks/shards.py [--seeds K] [--engines] [--work-seconds S]

model     the partition of `stackbake matrix` on synthetic 200-target hierarchies
          (1 base, 5 runtimes, 20 business bases, 174 apps; durations 2-120 s): the
          makespan of N runners, each building one target at a time, against one
          runner, and against the lower bound max(critical path, total work / N).
engines   the benchmark tree (benchmarks/generate.py) split over this host's engine
          and the second one (scripts/second-engine.sh), both shards at once and
          pushing to the shared registry, next to one `docker buildx bake` of the same
          tree on one engine, all cold (a base file no earlier run had, so nothing is
          pruned): RUN steps executed (not cached) and targets built twice (must be
          0), then a shard run again (nothing to build: its wall time).

Results: a table on stdout, benchmarks/results/shards-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

from orchestrator.execution.partition import partition  # noqa: E402
from orchestrator.execution.schedule import remaining_paths  # noqa: E402
from tests.execution.test_schedule import hierarchy as synthetic  # noqa: E402  (one generator)

ENGINE_B = "unix:///var/run/docker-b.sock"


def model(seeds: int) -> list[dict[str, Any]]:
    rows = []
    for runners in (1, 2, 3, 4, 8):
        ratios, speedups = [], []
        for seed in range(seeds):
            dag, weights = synthetic(seed)
            shards = partition(dag, list(dag), weights, runners)
            makespan = max(s.estimate_s or 0.0 for s in shards)
            one = max(s.estimate_s or 0.0 for s in partition(dag, list(dag), weights, 1))
            critical = max(remaining_paths(dag, weights).values())
            bound = max(critical, sum(weights.values()) / runners)
            ratios.append(makespan / bound)
            speedups.append(one / makespan)
        rows.append(
            {
                "runners": runners,
                "speedup_median": sorted(speedups)[len(speedups) // 2],
                "makespan_over_bound_max": max(ratios),
                "makespan_over_bound_median": sorted(ratios)[len(ratios) // 2],
            }
        )
    return rows


STEP = re.compile(r"^(?:\[[^\]]+\] )?#(\d+) \[([^\]]*)\] (.*)$")
END = re.compile(r"^(?:\[[^\]]+\] )?#(\d+) (DONE|CACHED)")
PLATFORM = re.compile(r"\b(linux/[a-z0-9]+(?:/v\d)?)\b")


def executed_runs(logs: list[list[str]]) -> int:
    """RUN steps that ran (DONE, not CACHED) in BuildKit's plain progress, each counted
    once however many logs show it: known by its platform and its command (bake shows a
    parent's steps in its children's logs too)."""
    ran: set[tuple[str, str]] = set()
    for lines in logs:
        names: dict[str, tuple[str, str]] = {}
        for line in lines:
            if (m := STEP.match(line)) and m[3].startswith("RUN "):
                platform = PLATFORM.search(m[2])
                names.setdefault(m[1], (platform[1] if platform else "", m[3]))
            elif (m := END.match(line)) and m[2] == "DONE" and m[1] in names:
                ran.add(names[m[1]])
    return len(ran)


def stackbake(folder: Path, *args: str, host: str | None = None) -> tuple[int, float, str]:
    env = {**os.environ, **({"DOCKER_HOST": host} if host else {})}
    start = time.monotonic()
    done = subprocess.run(
        [str(REPO / ".venv/bin/stackbake"), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, time.monotonic() - start, done.stdout + done.stderr


def engines(work_seconds: float) -> dict[str, Any]:
    registry = os.environ.get("STACKBAKE_REGISTRY", "localhost:5000")
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shards-bench-") as tmp:
        root, cold = Path(tmp), uuid.uuid4().hex
        for name in ("a", "b", "bake"):
            cfg = generate.Config(
                work_seconds=work_seconds,
                registry=f"{registry}/bench-{uuid.uuid4().hex[:8]}",
            )
            if name == "b":  # the second runner's checkout: the same tree as a
                cfg = json.loads((root / "a/tree.json").read_text())["config"]
                cfg = generate.Config(**{**cfg, "platforms": tuple(cfg["platforms"])})
            tree = generate.generate(root / name, cfg)
            # Cold, without pruning the engine's cache: a base file no earlier run had
            # (the same in both checkouts of the shards), so no step below it is cached.
            marker = cold if name != "bake" else uuid.uuid4().hex
            with (root / name / tree["base_file"]).open("a", encoding="utf-8") as f:
                f.write(f"cold {marker}\n")
        shard = ["build", "--push", "--progress", "plain", "--wait", "900"]

        def run(k: int) -> tuple[int, float, str]:
            folder, host = (root / "a", None) if k == 1 else (root / "b", ENGINE_B)
            return stackbake(folder, *shard, "--shard", f"{k}/2", "--report", "r.json", host=host)

        start = time.monotonic()
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(run, (1, 2)))
        out["shards_wall_s"] = round(time.monotonic() - start, 1)
        built: list[str] = []
        for k, (code, seconds, _) in zip((1, 2), results, strict=True):
            folder = root / ("a" if k == 1 else "b")
            report = json.loads((folder / "r.json").read_text())
            mine = [t["name"] for t in report["targets"] if t["status"] == "built"]
            built += mine
            logs = [
                log.read_text().splitlines() for log in (folder / ".stackbake/logs").glob("*.log")
            ]
            out[f"shard_{k}"] = {
                "exit": code,
                "seconds": round(seconds, 1),
                "built": len(mine),
                "runs_executed": executed_runs(logs),
            }
        out["targets_built_twice"] = len(built) - len(set(built))
        out["targets_built"] = len(set(built))
        code, seconds, _ = stackbake(root / "a", *shard, "--shard", "1/2")
        out["shard_noop"] = {"exit": code, "seconds": round(seconds, 2)}
        start = time.monotonic()
        bake = subprocess.run(
            ["docker", "buildx", "bake", "-f", "docker-bake.hcl", "--progress", "plain"],
            cwd=root / "bake",
            capture_output=True,
            text=True,
            check=False,
        )
        out["bake"] = {
            "exit": bake.returncode,
            "seconds": round(time.monotonic() - start, 1),
            "runs_executed": executed_runs([bake.stderr.splitlines()]),
        }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--engines", action="store_true", help="also the two-engine measurement")
    p.add_argument("--work-seconds", type=float, default=1.0)
    args = p.parse_args()
    results: dict[str, Any] = {"model": model(args.seeds)}
    print("runners  speed-up (median)  makespan/bound (median, max)")
    for row in results["model"]:
        print(
            f"{row['runners']:>7}  {row['speedup_median']:>17.2f}  "
            f"{row['makespan_over_bound_median']:.3f}, {row['makespan_over_bound_max']:.3f}"
        )
    if args.engines:
        results["engines"] = engines(args.work_seconds)
        print(json.dumps(results["engines"], indent=2))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = HERE / "results" / f"shards-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
