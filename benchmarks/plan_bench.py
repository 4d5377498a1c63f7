#!/usr/bin/env python3
"""How long stackbake takes to plan and validate a big spec, and where the time goes.

    python benchmarks/plan_bench.py [--targets 2000] [--runs 3] [--top 15]

Generates a synthetic spec of --targets targets with benchmarks/generate.py (1 base,
10 runtimes, 100 business bases, the rest two-stage apps; nothing is built), gives the
contexts realistic content (a few files each; one app in four moved into one of 40
shared monorepo-style contexts with its own Dockerfile; `.dockerignore` files, some
with `!` exceptions, and Dockerfile-specific ignore files), then, in a fresh process
each time and --runs times:

    stackbake --version                                  (interpreter + import cost)
    stackbake plan -f builds.yaml --format json > /dev/null
    stackbake validate -f builds.yaml
    python keys_driver.py     (keys cold: .stackbake/hashes.json removed before each run)
    python keys_driver.py     (keys warm: the stat cache filled by a previous run)

measuring the wall time and the peak resident memory of that process (ru_maxrss from
os.wait4, i.e. of the child itself). keys_driver.py (written next to builds.yaml) is
what `plan --explain` does minus its one `docker image inspect`: load_project (load,
validate, graph), select every target, compute_keys with the stat cache in
`.stackbake/hashes.json`, and every target's key; it prints a digest of all keys
(recorded in the results: equal digests across versions mean equal keys). Then it
runs `plan`, `validate` and the warm keys run once more under cProfile and prints the
top --top functions by cumulative time. Results go to stdout and to
benchmarks/results/plan-<date>.json and .md (with the .prof files' top lists).

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


def measure(argv: list[str], cwd: Path, out: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of one fresh process; stdout discarded,
    or written to `out`."""
    with open(out or os.devnull, "wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=sink, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        print(f"  {' '.join(argv)}: exit {proc.returncode}\n{err}", file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, proc.returncode


# What `stackbake plan --explain` computes, without its `docker image inspect`: the spec
# loaded, validated and graphed, every target selected, keys over the stat cache.
KEYS_DRIVER = """\
import hashlib
from orchestrator.state import StateDir
from orchestrator.freshness.keys import HashCache, compute_keys
from orchestrator.hierarchy.project import load_project
from orchestrator.hierarchy.selection import select

h = load_project("builds.yaml").hierarchy
order = select(h, [])
inputs = compute_keys(h, order, HashCache.of(StateDir(h.spec.folder)))
keys = "\\n".join(f"{name} {inputs[name].key}" for name in order)
files = sum(len(i.files) for i in inputs.values())
digest = hashlib.sha256(keys.encode()).hexdigest()
print(len(order), "targets,", files, "context entries, keys", digest)
"""
KEYS_DRIVER_FILE = "keys_driver.py"
HASH_CACHE = Path(".stackbake/hashes.json")

SHARED_CONTEXTS = 40  # monorepo-style contexts, each holding several apps
SHARED_EVERY = 4  # one app in SHARED_EVERY moves into a shared context
APP_IGNORE = "# build output and scratch\nbuild\n**/*.tmp\n!build/keep.txt\nREADME.md\n"
SHARED_IGNORE = "node_modules\n**/__pycache__\n*.log\ndocs/**\n!docs/api.md\n"
SPECIFIC_IGNORE = "# only this app's sources and the libraries\nsrc\n!src/{name}\ndocs\n"


def _files(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def realistic_contexts(folder: Path, targets: list[dict[str, Any]]) -> dict[str, int]:
    """Give the generated contexts the shape of real ones: a few files each in
    subfolders, a `.dockerignore` in one app context in three (with a `!` exception
    under an excluded folder), and one app in SHARED_EVERY moved into one of
    SHARED_CONTEXTS shared contexts (own Dockerfile `docker/<app>.Dockerfile`, shared
    `lib/`, a `.dockerignore` in every other one, and a Dockerfile-specific ignore file
    for one app in three). builds.yaml is rewritten to match; nothing else changes."""
    spec = folder / "builds.yaml"
    text = spec.read_text(encoding="utf-8")
    filler = "x" * 200 + "\n"
    apps = [t for t in targets if t["level"] == 3]
    for t in targets:
        ctx = folder / t["context"]
        common = {"README.md": f"# {t['name']}\n", "conf/extra.conf": filler}
        if t["level"] == 0:
            common |= {"scripts/setup.sh": filler, "etc/a.conf": filler, "etc/b.conf": filler}
        if t["level"] == 3:
            common |= {
                "src/lib/util.txt": filler,
                "src/lib/helpers.txt": filler,
                "tests/test_main.txt": filler,
                "build/out.tmp": filler,
                "build/keep.txt": filler,
            }
        _files(ctx, common)
    for i, t in enumerate(apps):
        if i % SHARED_EVERY == SHARED_EVERY - 1:
            continue
        if i % 3 == 0:
            _files(folder / t["context"], {".dockerignore": APP_IGNORE})
    shared = 0
    for i, t in enumerate(apps):
        if i % SHARED_EVERY != SHARED_EVERY - 1:
            continue
        n = (i // SHARED_EVERY) % SHARED_CONTEXTS
        ctx_rel = f"apps/shared-{n + 1:02d}"
        ctx = folder / ctx_rel
        if not ctx.exists():
            _files(
                ctx,
                {
                    **{f"lib/common/mod{j}.txt": filler for j in range(8)},
                    "lib/__pycache__/mod0.pyc": filler,
                    "docs/guide.md": filler,
                    "docs/api.md": filler,
                    "README.md": filler,
                    **({".dockerignore": SHARED_IGNORE} if n % 2 == 0 else {}),
                },
            )
        name, old = t["name"], folder / t["context"]
        dockerfile = f"docker/{name}.Dockerfile"
        written = {
            dockerfile: (old / "Dockerfile").read_text(encoding="utf-8"),
            f"src/{name}/main.txt": filler,
            f"src/{name}/app.log": filler,
        }
        if i % 3 == 0:
            written[f"{dockerfile}.dockerignore"] = SPECIFIC_IGNORE.format(name=name)
        _files(ctx, written)
        shutil.rmtree(old)
        entry = f"  {name}:\n    context: {t['context']}\n"
        assert entry in text, entry
        text = text.replace(
            entry, f"  {name}:\n    context: {ctx_rel}\n    dockerfile: {dockerfile}\n"
        )
        shared += 1
    spec.write_text(text, encoding="utf-8")
    (folder / KEYS_DRIVER_FILE).write_text(KEYS_DRIVER, encoding="utf-8")
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    return {"apps_in_shared_contexts": shared, "files": files}


# Frames every profile starts with and that say nothing: the interpreter running the
# module. Left out of the lists (they are in the .prof file).
WRAPPERS = ("<built-in method builtins.exec>", "<module>", "run_module", "_run_code")
# The command-line entry frames; the third list shows stackbake's own code below them.
ENTRY_FILES = (
    "orchestrator/cli/main.py",
    "orchestrator/cli/error_handler.py",
    "orchestrator/__main__.py",
)
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
    """Run `python -m cProfile ARGS` (`-m orchestrator ...` or a script; stdout
    discarded); its top lists (see LISTS) and the total profiled seconds."""
    subprocess.run(
        [python, "-m", "cProfile", "-o", str(out), *args],
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


# What is measured, as shown: `stackbake ...` runs the stackbake command, `python ...`
# the interpreter stackbake runs on.
COMMANDS = {
    "startup": ["stackbake", "--version"],
    "validate": ["stackbake", "validate", "-f", "builds.yaml"],
    "plan": ["stackbake", "plan", "-f", "builds.yaml", "--format", "json"],
    "keys-cold": ["python", KEYS_DRIVER_FILE],
    "keys-warm": ["python", KEYS_DRIVER_FILE],
}
PROFILED = ("plan", "validate", "keys-warm")


def _argv(cmd: list[str], stackbake: list[str], python: str) -> list[str]:
    return [*stackbake, *cmd[1:]] if cmd[0] == "stackbake" else [python, *cmd[1:]]


def measure_all(
    commands: dict[str, list[str]],
    folder: Path,
    *,
    scratch: Path,
    size: int,
    runs_each: int,
    shell: tuple[list[str], str],
) -> dict[str, Any]:
    """Every command `runs_each` times in `folder`; their figures by name."""
    stackbake, python = shell
    per: dict[str, Any] = {}
    for name, cmd in commands.items():
        argv = _argv(cmd, stackbake, python)
        runs, outputs = [], set[str]()
        for _ in range(runs_each):
            if name == "keys-cold":
                (folder / HASH_CACHE).unlink(missing_ok=True)
            elif name == "keys-warm" and not (folder / HASH_CACHE).exists():
                measure(argv, folder)  # fills the stat cache, not measured
            runs.append(measure(argv, folder, scratch / "stdout.txt"))
            if name.startswith("keys"):
                outputs.add((scratch / "stdout.txt").read_text().strip())
        per[name] = {
            "command": " ".join(cmd) + (" > /dev/null" if name == "plan" else ""),
            "seconds": [round(r[0], 3) for r in runs],
            "peak_mib": [round(r[1], 1) for r in runs],
            "median_s": round(statistics.median(r[0] for r in runs), 3),
            "median_peak_mib": round(statistics.median(r[1] for r in runs), 1),
            "max_peak_mib": round(max(r[1] for r in runs), 1),
            "ok": all(r[2] == 0 for r in runs),
            **({"output": sorted(outputs)} if outputs else {}),
        }
        print(
            f"{size:>6} targets  {name:<9} median {per[name]['median_s']:6.2f} s  "
            f"runs {per[name]['seconds']}  peak {per[name]['max_peak_mib']:.0f} MiB"
            + ("" if per[name]["ok"] else "  FAILED")
            + "".join(f"\n{' ' * 17}{o}" for o in sorted(outputs)),
            flush=True,
        )
    keyed = {o for n, r in per.items() if n.startswith("keys") for o in r["output"]}
    if len(keyed) > 1:
        print(f"  keys differ between runs: {sorted(keyed)}", file=sys.stderr)
        for r in per.values():
            r["ok"] = r["ok"] and "output" not in r
    return per


def write_report(results: dict[str, Any], runs: int, top: int, folder: Path) -> None:
    """The results as JSON and Markdown in `folder`, and the profiles on stdout."""
    biggest = max(int(size) for size in results["sizes"])
    md = [
        f"# stackbake planning benchmark — {results['date']}",
        "",
        f"Command: `{results['command']}`; {runs} fresh processes per command; "
        "peak = ru_maxrss of the process. Contexts: "
        + "; ".join(
            f"{size} targets: {c['files']} files, {c['apps_in_shared_contexts']} apps in "
            f"{SHARED_CONTEXTS} shared contexts"
            for size, c in results["contexts"].items()
        )
        + ".",
        "",
        "| targets | measure | command | median s | runs s | peak MiB median | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, per in results["sizes"].items():
        for name, r in per.items():
            md.append(
                f"| {size} | {name} | `{r['command']}` | {r['median_s']:.2f} | "
                f"{', '.join(f'{s:.2f}' for s in r['seconds'])} | "
                f"{r['median_peak_mib']:.0f} | {r['max_peak_mib']:.0f} |"
            )
        keyed = sorted({o for r in per.values() for o in r.get("output", [])})
        md += ["", *(f"keys_driver.py, {size} targets: `{o}`" for o in keyed), ""]
    for name, prof in results["profiles"].items():
        for key, _, what in LISTS:
            md += [
                "",
                f"## cProfile: `{' '.join(COMMANDS[name])}` ({name}), {biggest} "
                f"targets ({prof['total_s']:.2f} s under the profiler), top {top} by "
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
    folder.mkdir(parents=True, exist_ok=True)
    stem = "plan-" + results["date"].replace(":", "")
    (folder / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (folder / f"{stem}.md").write_text("\n".join(md) + "\n")
    print()
    for name, prof in results["profiles"].items():
        for key, _, what in LISTS:
            print(
                f"cProfile, {' '.join(COMMANDS[name])} ({name}, {biggest} targets, "
                f"{prof['total_s']:.2f} s under the profiler), top {top} by {what}:"
            )
            for r in prof[key]:
                print(
                    f"  {r['cumtime_s']:8.3f} s cum  {r['tottime_s']:8.3f} s own  "
                    f"{r['ncalls']:>8} calls  {r['function']}"
                )
            print()
    print(f"written: {folder / (stem + '.json')}, {folder / (stem + '.md')}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--targets", default="2000", help="size(s) of the spec, comma-separated (default 2000)"
    )
    p.add_argument("--runs", type=int, default=3, help="runs per command (default 3)")
    p.add_argument("--top", type=int, default=15, help="functions in the profile lists")
    p.add_argument(
        "--commands",
        default=",".join(COMMANDS),
        help=f"what to measure, comma-separated (default {','.join(COMMANDS)})",
    )
    p.add_argument(
        "--profile",
        default=",".join(PROFILED),
        help=f"what to profile, comma-separated, '' for nothing (default {','.join(PROFILED)})",
    )
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
    wanted = [c for c in args.commands.split(",") if c]
    profiled = [c for c in args.profile.split(",") if c]
    for name in (*wanted, *profiled):
        if name not in COMMANDS:
            p.error(f"unknown command {name!r}; choose from {', '.join(COMMANDS)}")
    commands = {name: COMMANDS[name] for name in wanted}
    results: dict[str, Any] = {"sizes": {}, "contexts": {}}
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
            tree = generate.generate(folder, cfg)
            results["contexts"][str(size)] = realistic_contexts(folder, tree["targets"])
            results["sizes"][str(size)] = measure_all(
                commands,
                folder,
                scratch=root,
                size=size,
                runs_each=args.runs,
                shell=(stackbake, python),
            )

        biggest = root / f"t{max(sizes)}"
        profiles = {}
        for name in profiled:
            if name == "keys-warm" and not (biggest / HASH_CACHE).exists():
                measure(_argv(COMMANDS[name], stackbake, python), biggest)
            elif name == "keys-cold":
                (biggest / HASH_CACHE).unlink(missing_ok=True)
            cmd = COMMANDS[name]
            tail = ["-m", "orchestrator", *cmd[1:]] if cmd[0] == "stackbake" else cmd[1:]
            text, lists, total = profile(python, tail, biggest, root / f"{name}.prof", args.top)
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
            "pythonpath": os.environ.get("PYTHONPATH", ""),
            "stackbake": subprocess.run(
                [*stackbake, "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
        },
    }
    write_report(results, args.runs, args.top, args.results)
    ok = all(r["ok"] for per in results["sizes"].values() for r in per.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
