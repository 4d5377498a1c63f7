#!/usr/bin/env python3
"""How long stackbake takes to plan and validate a big spec, and where the time goes.

    python benchmarks/plan_bench.py [--targets 2000] [--runs 3] [--top 15]

Generates a synthetic spec of --targets targets with benchmarks/generate.py (1 base,
10 runtimes, 100 business bases, the rest two-stage apps; nothing is built), then, in a
fresh process each time and --runs times:

    stackbake --version                                  (interpreter + import cost)
    stackbake plan -f builds.yaml --format json > /dev/null
    stackbake validate -f builds.yaml

measuring the wall time and the peak resident memory of that process (ru_maxrss from
os.wait4, i.e. of the child itself). Then it runs `plan` and `validate` once more under
cProfile and prints the top --top functions by cumulative time. Results go to stdout
and to benchmarks/results/plan-<date>.json and .md (with the .prof files' top lists).

Several sizes (--targets 500,1000,2000) show how the cost grows; the profile is of the
largest. Stdlib only; needs `stackbake` (PATH, or the repo's .venv).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402


def stackbake_python() -> tuple[list[str], str]:
    """(the stackbake command, the interpreter it runs on)."""
    found = shutil.which("stackbake") or str(REPO / ".venv/bin/stackbake")
    if not Path(found).exists():
        raise SystemExit("stackbake not found: export PATH=/work/main/.venv/bin:$PATH")
    first = Path(found).read_text(errors="replace").split("\n", 1)[0]
    python = first[2:].strip() if first.startswith("#!") else sys.executable
    return [found], python


def measure(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one fresh process, stdout discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        print(f"  {' '.join(argv)}: exit {proc.returncode}\n{err}", file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, proc.returncode


# Frames every profile starts with and that say nothing: the interpreter running the
# module. Left out of the lists (they are in the .prof file).
WRAPPERS = ("<built-in method builtins.exec>", "<module>", "run_module", "_run_code")
# The command-line entry frames; the third list shows stackbake's own code below them.
ENTRY_FILES = ("orchestrator/cli.py", "orchestrator/error_handler.py", "orchestrator/__main__.py")
LISTS = (  # key in the results, pstats sort key, what the list is
    ("top", "cumulative", "cumulative time"),
    ("top_own", "tottime", "own time"),
    ("top_stackbake", "cumulative", "cumulative time, stackbake's functions below the CLI"),
)


def _keep(key: str, file: str, name: str) -> bool:
    if name in WRAPPERS and (
        file in ("~", "<string>") or "runpy" in file or file.endswith("__main__.py")
    ):
        return False
    return key != "top_stackbake" or ("/orchestrator/" in file and not file.endswith(ENTRY_FILES))


def profile(
    python: str, args: list[str], cwd: Path, out: Path, top: int
) -> tuple[str, dict[str, list[Any]], float]:
    """Run `python -m cProfile -m orchestrator ARGS` (stdout discarded); its top lists
    (see LISTS) and the total profiled seconds."""
    subprocess.run(
        [python, "-m", "cProfile", "-o", str(out), "-m", "orchestrator", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    buf = io.StringIO()
    pstats.Stats(str(out), stream=buf).sort_stats("cumulative").print_stats(top + 5)
    lists = {}
    for key, sort, _ in LISTS:
        stats = pstats.Stats(str(out))
        stats.sort_stats(sort)
        rows = []
        for func in stats.fcn_list:  # type: ignore[attr-defined]
            file, line, name = func
            if not _keep(key, file, name):
                continue
            cc, nc, tt, ct, _ = stats.stats[func]  # type: ignore[attr-defined]
            rows.append(
                {
                    "function": f"{_short(file)}:{line}({name})",
                    "ncalls": nc,
                    "primitive_calls": cc,
                    "tottime_s": round(tt, 4),
                    "cumtime_s": round(ct, 4),
                }
            )
            if len(rows) == top:
                break
        lists[key] = rows
    total = pstats.Stats(str(out)).total_tt  # type: ignore[attr-defined]
    return buf.getvalue(), lists, total


def _short(file: str) -> str:
    """Paths relative to the repo, site-packages or the standard library."""
    if "/site-packages/" in file:
        return file.split("/site-packages/", 1)[1]
    stdlib = re.search(r"/lib/python3\.\d+/(.*)$", file)
    if stdlib:
        return stdlib[1]
    return file.replace(str(REPO) + "/", "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--targets", default="2000", help="size(s) of the spec, comma-separated (default 2000)"
    )
    p.add_argument("--runs", type=int, default=3, help="runs per command (default 3)")
    p.add_argument("--top", type=int, default=15, help="functions in the profile lists")
    p.add_argument("--results", type=Path, default=HERE / "results")
    p.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="generate into DIR and keep it (default: a temp dir, removed)",
    )
    args = p.parse_args(argv)

    stackbake, python = stackbake_python()
    sizes = [int(s) for s in args.targets.split(",")]
    root = args.keep or Path(tempfile.mkdtemp(prefix="stackbake-plan-bench-"))
    started = dt.datetime.now(dt.UTC)
    env_note = {k: os.environ[k] for k in ("REGISTRY", "VERSION") if k in os.environ}
    if env_note:
        print(f"note: {env_note} in the environment override the spec's variables")
    commands = {
        "startup": ["--version"],
        "plan": ["plan", "-f", "builds.yaml", "--format", "json"],
        "validate": ["validate", "-f", "builds.yaml"],
    }
    results: dict[str, Any] = {"sizes": {}}
    try:
        for size in sizes:
            folder = root / f"t{size}"
            runtimes, business, apps = generate.sizes_for_total(size)
            cfg = generate.Config(
                runtimes=runtimes,
                business=business,
                apps=apps,
                registry="localhost:5000/plan-bench",
            )
            generate.generate(folder, cfg)
            per: dict[str, Any] = {}
            for name, cmd in commands.items():
                runs = [measure([*stackbake, *cmd], folder) for _ in range(args.runs)]
                per[name] = {
                    "command": "stackbake "
                    + " ".join(cmd)
                    + (" > /dev/null" if name == "plan" else ""),
                    "seconds": [round(r[0], 3) for r in runs],
                    "peak_mib": [round(r[1], 1) for r in runs],
                    "median_s": round(statistics.median(r[0] for r in runs), 3),
                    "max_peak_mib": round(max(r[1] for r in runs), 1),
                    "ok": all(r[2] == 0 for r in runs),
                }
                print(
                    f"{size:>6} targets  {name:<9} median {per[name]['median_s']:6.2f} s  "
                    f"runs {per[name]['seconds']}  peak {per[name]['max_peak_mib']:.0f} MiB"
                    + ("" if per[name]["ok"] else "  FAILED"),
                    flush=True,
                )
            results["sizes"][str(size)] = per

        biggest = root / f"t{max(sizes)}"
        profiles = {}
        for name in ("plan", "validate"):
            text, lists, total = profile(
                python, commands[name], biggest, root / f"{name}.prof", args.top
            )
            profiles[name] = {"total_s": round(total, 3), **lists, "pstats": text}
        results["profiles"] = profiles
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    results |= {
        "date": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "command": "python benchmarks/plan_bench.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "stackbake": subprocess.run(
                [*stackbake, "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
        },
    }
    md = [
        f"# stackbake planning benchmark — {results['date']}",
        "",
        f"Command: `{results['command']}`; {args.runs} fresh processes per command; "
        "peak = ru_maxrss of the process.",
        "",
        "| targets | command | median s | runs s | peak MiB |",
        "|---|---|---|---|---|",
    ]
    for size, per in results["sizes"].items():
        for r in per.values():
            md.append(
                f"| {size} | `{r['command']}` | {r['median_s']:.2f} | "
                f"{', '.join(f'{s:.2f}' for s in r['seconds'])} | {r['max_peak_mib']:.0f} |"
            )
    for name, prof in results["profiles"].items():
        for key, _, what in LISTS:
            md += [
                "",
                f"## cProfile: `stackbake {' '.join(commands[name])}`, {max(sizes)} "
                f"targets ({prof['total_s']:.2f} s under the profiler), top {args.top} by "
                f"{what}",
                "",
                "| cumtime s | tottime s | calls | function |",
                "|---|---|---|---|",
            ]
            md += [
                f"| {r['cumtime_s']:.3f} | {r['tottime_s']:.3f} | {r['ncalls']} | "
                f"`{r['function']}` |"
                for r in prof[key]
            ]
    args.results.mkdir(parents=True, exist_ok=True)
    stem = "plan-" + started.strftime("%Y-%m-%dT%H%M%SZ")
    (args.results / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.results / f"{stem}.md").write_text("\n".join(md) + "\n")
    print()
    for name, prof in results["profiles"].items():
        for key, _, what in LISTS:
            print(
                f"cProfile, stackbake {' '.join(commands[name])} ({max(sizes)} targets, "
                f"{prof['total_s']:.2f} s under the profiler), top {args.top} by {what}:"
            )
            for r in prof[key]:
                print(
                    f"  {r['cumtime_s']:8.3f} s cum  {r['tottime_s']:8.3f} s own  "
                    f"{r['ncalls']:>8} calls  {r['function']}"
                )
            print()
    print(f"written: {args.results / (stem + '.json')}, {args.results / (stem + '.md')}")
    ok = all(r["ok"] for per in results["sizes"].values() for r in per.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
