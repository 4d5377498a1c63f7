#!/usr/bin/env python3
"""stackbake and `docker buildx bake` side by side on the same generated tree.

    python benchmarks/run.py [--apps N] [--work-seconds S] [--repeat K] [--jobs J[,J2]]

One run generates the tree of benchmarks/generate.py (builds.yaml and docker-bake.hcl,
same Dockerfiles, same tags) and, for each repetition, builds it with every tool in
turn (the order alternates between repetitions), each tool through four measured
scenarios in a row:

    cold      the tree's images removed and BuildKit's cache pruned
              (`docker buildx prune -af`: the WHOLE engine's build cache) first
    noop      the same build again, nothing changed
    app       one line appended to one leaf app's source file, rebuild everything
    base      one line appended to a file of the base's context, rebuild everything

Every build must exit 0 and leave exactly the tree's tags (no stray pin or staging
tag); after every build the leaf app image is run to check that it holds the change
just made and its whole lineage. Wall times are medians over --repeat runs. Results:
a table on stdout, benchmarks/results/<date>.json and .md.

Stdlib only; needs `stackbake` (PATH, or the repo's .venv) and docker with buildx.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

from orchestrator.build.options import default_jobs  # noqa: E402

SCENARIOS = ("cold", "noop", "app", "base")
TITLES = {
    "cold": "cold",
    "noop": "no-op rebuild",
    "app": "one app file changed",
    "base": "base file changed",
}
# Variables both build files could pick up from the environment.
DONE = re.compile(r"^Done: .* in ([0-9.]+)s")
SCRUB_ENV = ("REGISTRY", "VERSION", "BASE_IMAGE", "BUILDX_BAKE_FILE", "BUILDX_BUILDER")


@dataclass(frozen=True)
class Tool:
    kind: str  # "stackbake" or "bake"
    jobs: int | None = None
    per_target: bool = False  # stackbake --per-target: no shared session

    @property
    def label(self) -> str:
        if self.kind == "bake":
            return "bake"
        return f"stackbake{' --per-target' if self.per_target else ''} -j{self.jobs}"


@dataclass
class Measure:
    rep: int
    tool: str
    scenario: str
    seconds: float
    exit_code: int
    ok: bool
    tags_ok: bool
    content_ok: bool
    problems: list[str] = field(default_factory=list)
    loadavg_before: list[float] = field(default_factory=list)
    foreign_builds_before: int = 0
    output_tail: list[str] = field(default_factory=list)
    log: str = ""
    self_reported_s: float | None = None  # stackbake's own "Done: ... in Xs"
    settled_s: float = 0.0  # waited for the engine to finish the previous build's work


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------
def sh(argv: list[str], *, check: bool = True, cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def timed(
    argv: list[str], *, cwd: Path, env: dict[str, str], log: Path, timeout: float
) -> tuple[int, float]:
    """Run a build in its own process group, output to `log`; (exit code, seconds)."""
    with log.open("w", encoding="utf-8") as out:
        out.write("$ " + " ".join(argv) + "\n")
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            stop(proc)
            raise
        return code, time.perf_counter() - start


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGINT the build's process group (both tools then cancel their solves)."""
    for sig, grace in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
            return


def foreign_builds() -> int:
    """buildx builds running on this machine right now (ours never are at that point)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"docker-buildx") for a in argv[:1]) and (
            b"build" in argv or b"bake" in argv
        ):
            count += 1
    return count


ENGINE = ("dockerd", "containerd")
IDLE = 0.05  # the engine is settled below 5% of one core...
WINDOW_S = 0.5  # ...over half a second


def engine_cpu_s() -> float:
    """CPU time so far of the engine's processes (dockerd, containerd), in seconds."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if name in ENGINE:
            parts = fields.split()
            ticks += int(parts[11]) + int(parts[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(limit_s: float = 20.0) -> float:
    """Wait until the engine is idle: after a build, dockerd and containerd go on for
    a few seconds (measured: ~2 s at 1.5 cores after a 30-target build, with either
    tool), and a build measured meanwhile pays for the one before. Returns the wait."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        before = engine_cpu_s()
        time.sleep(WINDOW_S)
        if (engine_cpu_s() - before) / WINDOW_S < IDLE:
            break
    return round(time.monotonic() - start, 2)


def stackbake_command() -> list[str]:
    found = shutil.which("stackbake")
    if found:
        return [found]
    venv = REPO / ".venv/bin/stackbake"
    if venv.exists():
        return [str(venv)]
    raise SystemExit(
        "stackbake not found: export PATH=/work/main/.venv/bin:$PATH (or pip install -e .)"
    )


# ---------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------
def machine(stackbake: list[str]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with contextlib.suppress(OSError, ValueError):
        meminfo = Path("/proc/meminfo").read_text().split("\n")[0]
        info["memory_gb"] = round(int(meminfo.split()[1]) / 1024 / 1024, 1)
    with contextlib.suppress(RuntimeError, json.JSONDecodeError):
        v = json.loads(sh(["docker", "version", "--format", "{{json .}}"]))
        info["docker_client"] = v.get("Client", {}).get("Version")
        info["docker_server"] = v.get("Server", {}).get("Version")
    with contextlib.suppress(RuntimeError):
        info["buildx"] = sh(["docker", "buildx", "version"]).strip()
    with contextlib.suppress(RuntimeError):
        d = json.loads(sh(["docker", "info", "--format", "{{json .}}"]))
        info["storage_driver"] = d.get("Driver")
        info["driver_type"] = dict(d.get("DriverStatus") or []).get("driver-type")
        info["engine_cpus"] = d.get("NCPU")
    with contextlib.suppress(RuntimeError):
        lines = sh(["docker", "buildx", "inspect"]).splitlines()
        fields = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in lines) if v}
        info["builder"] = fields.get("Name")
        info["builder_driver"] = fields.get("Driver")
        info["buildkit"] = fields.get("BuildKit version") or fields.get("Buildkit")
    with contextlib.suppress(RuntimeError):
        info["stackbake"] = sh([*stackbake, "--version"]).strip()
    with contextlib.suppress(RuntimeError):
        rev = sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]).strip()
        dirty = sh(["git", "-C", str(REPO), "status", "--porcelain", "--", "orchestrator"])
        info["stackbake_git"] = rev + ("+uncommitted changes in orchestrator/" if dirty else "")
    return info


def our_tags(registry: str) -> set[str]:
    out = sh(
        [
            "docker",
            "image",
            "ls",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            f"reference={registry}/*",
        ]
    )
    return {line for line in out.split() if line and not line.endswith(":<none>")}


def remove_images(registry: str, label: str) -> None:
    """Only this run's images: its tags, then its dangling images (by its unique label)."""
    tags = sorted(our_tags(registry))
    if tags:
        sh(["docker", "image", "rm", "--force", *tags], check=False)
    sh(["docker", "image", "prune", "--force", "--filter", f"label={label}"], check=False)


def prune_cache() -> None:
    sh(["docker", "buildx", "prune", "--all", "--force"])


def check_leaf(tree: dict[str, Any], root: Path) -> list[str]:
    """Run the leaf app on every platform: its files must match the sources on disk."""
    leaf_tag = next(t["tags"][0] for t in tree["targets"] if t["name"] == tree["leaf"])
    want = "\n".join(
        [
            (root / tree["base_file"]).read_text(),
            (root / tree["app_file"]).read_text(),
            "\n".join(tree["leaf_lineage"]) + "\n",
        ]
    )
    problems = []
    for plat in tree["config"]["platforms"]:
        proc = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--pull=never",
                "--platform",
                plat,
                leaf_tag,
                "sh",
                "-c",
                "cat /etc/bench/base.conf; echo; cat /app/main.txt; echo; cat /app/lineage",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or proc.stdout != want:
            problems.append(
                f"{leaf_tag} on {plat}: exit {proc.returncode}, got {proc.stdout!r}"
                f"{' ' + proc.stderr.strip() if proc.stderr.strip() else ''}, want {want!r}"
            )
    return problems


# ---------------------------------------------------------------------------
# one tool through the four scenarios
# ---------------------------------------------------------------------------
def tool_argv(tool: Tool, stackbake: list[str]) -> list[str]:
    if tool.kind == "stackbake":
        return [
            *stackbake,
            "build",
            "-f",
            "builds.yaml",
            "--progress",
            "quiet",
            "-j",
            str(tool.jobs),
            *(["--per-target"] if tool.per_target else []),
        ]
    return ["docker", "buildx", "bake", "-f", "docker-bake.hcl", "--progress", "quiet"]


def run_tool(
    tool: Tool,
    rep: int,
    *,
    cfg: generate.Config,
    work: Path,
    stackbake: list[str],
    env: dict[str, str],
    timeout: float,
    scenarios: tuple[str, ...],
) -> list[Measure]:
    root = work / "tree"
    tree = generate.generate(root, cfg)  # pristine sources, no .stackbake/ state
    expected = set(tree["tags"])
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    label = str(tree["label"])
    results = []
    for scenario in scenarios:
        if scenario == "cold":
            remove_images(cfg.registry, label)
            prune_cache()
        elif scenario in ("app", "base"):
            path = root / str(tree[f"{scenario}_file"])
            with path.open("a", encoding="utf-8") as f:
                f.write(f"changed for the '{scenario}' scenario, rep {rep}, {tool.label}\n")
        settled = settle()
        load = [round(x, 2) for x in os.getloadavg()]
        others = foreign_builds()
        log = logs / f"r{rep}-{tool.label.replace(' ', '')}-{scenario}.log"
        code, seconds = timed(
            tool_argv(tool, stackbake), cwd=root, env=env, log=log, timeout=timeout
        )
        problems = []
        if code != 0:
            problems.append(f"exit code {code}")
        tags = our_tags(cfg.registry)
        tags_ok = tags == expected
        if not tags_ok:
            missing, extra = sorted(expected - tags), sorted(tags - expected)
            problems.append(
                f"tags: missing {missing[:5]} ({len(missing)}), extra {extra[:5]} ({len(extra)})"
            )
        content = check_leaf(tree, root) if code == 0 else ["not checked: build failed"]
        problems += content
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-12:]
        done = [DONE.search(line) for line in tail]
        own = next((float(d[1]) for d in done if d), None)
        m = Measure(
            rep,
            tool.label,
            scenario,
            round(seconds, 2),
            code,
            not problems,
            tags_ok,
            not content,
            problems,
            load,
            others,
            tail,
            str(log),
            own,
            settled,
        )
        results.append(m)
        flag = "ok" if m.ok else "PROBLEM: " + "; ".join(problems)[:300]
        print(
            f"  rep {rep}  {tool.label:<26} {TITLES[scenario]:<22} {seconds:7.2f} s  "
            f"(settled {settled:.1f} s, load {load[0]:.2f}, other builds {others})  {flag}",
            flush=True,
        )
    return results


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
def summarise(
    measures: list[Measure], tools: list[Tool], scenarios: tuple[str, ...]
) -> list[dict[str, Any]]:
    rows = []
    bake = next(t.label for t in tools if t.kind == "bake")
    for scenario in scenarios:
        row: dict[str, Any] = {"scenario": scenario, "title": TITLES[scenario], "tools": {}}
        for tool in tools:
            runs = [m for m in measures if m.tool == tool.label and m.scenario == scenario]
            secs = [m.seconds for m in runs]
            row["tools"][tool.label] = {
                "median_s": round(statistics.median(secs), 2) if secs else None,
                "runs_s": secs,
                "all_ok": all(m.ok for m in runs),
            }
        base = row["tools"][bake]["median_s"]
        row["ratios"] = {
            t.label: (round(row["tools"][t.label]["median_s"] / base, 2) if base else None)
            for t in tools
            if t.kind == "stackbake"
        }
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], tools: list[Tool]) -> str:
    sb = [t.label for t in tools if t.kind == "stackbake"]
    head = [
        "scenario",
        *[f"{s} s" for s in sb],
        "bake s",
        *[f"ratio ({s})/bake" if len(sb) > 1 else "ratio stackbake/bake" for s in sb],
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(r: dict[str, Any], label: str) -> str:
        t = r["tools"][label]
        return f"{t['median_s']:.2f}" + ("" if t["all_ok"] else " (FAILED)")

    for r in rows:
        cells = [
            r["title"],
            *[cell(r, s) for s in sb],
            cell(r, "bake"),
            *[f"{r['ratios'][s]:.2f}" if r["ratios"][s] else "-" for s in sb],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(doc: dict[str, Any], tbl: str) -> str:
    m, t = doc["machine"], doc["tree"]
    out = [
        f"# stackbake vs docker buildx bake — {doc['date']}",
        "",
        f"Command: `{doc['command']}`",
        "",
        f"Tree: {t['targets']} targets (1 base, {t['runtimes']} runtimes, {t['business']} "
        f"business bases, {t['apps']} two-stage apps), {t['work_seconds']:g} s of `sleep` "
        f"per target, platforms {', '.join(t['platforms'])}, base image `{t['base_image']}`.",
        f"Medians over {doc['repeat']} repetition(s); wall seconds of the whole build command.",
        "",
        tbl,
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in m.items()),
        "",
        "Notes:",
        *[f"- {n}" for n in doc["notes"]],
    ]
    bad = [r for r in doc["runs"] if not r["ok"]]
    if bad:
        out += ["", "Problems:"]
        out += [
            f"- rep {r['rep']} {r['tool']} {r['scenario']}: {'; '.join(r['problems'])}" for r in bad
        ]
    return "\n".join(out) + "\n"


def notes_for(measures: list[Measure], cfg: generate.Config, jobs: list[int]) -> list[str]:
    builds_ok = all(m.exit_code == 0 and m.tags_ok for m in measures)
    overhead = [m.seconds - m.self_reported_s for m in measures if m.self_reported_s is not None]
    notes = [
        f"Every build exited 0 and left exactly the tree's {len(generate.plan_tree(cfg))} tags "
        "(the same set for both tools, no stray pin or staging tag): "
        + ("yes" if builds_ok else "NO (see problems)")
        + ".",
        "After every build the leaf app image was run on every platform: it held the "
        "changed files and its whole lineage: "
        + ("yes" if all(m.content_ok for m in measures) else "NO (see problems)")
        + ".",
        "Before every cold run: this run's images removed and `docker buildx prune -af` "
        "(the whole engine's build cache, other users' included); each tool's no-op, app and "
        "base runs follow its own cold run with nothing in between but the checks.",
        "Before every measured build, for both tools, the engine is let settle: until "
        f"dockerd and containerd use less than {IDLE:.0%} of a core over {WINDOW_S} s (at "
        "most 20 s; waits are in the JSON as settled_s). After a 30-target build they go on "
        "for ~2 s at ~1.5 cores whichever tool built; a build started meanwhile pays for "
        "the one before.",
        "Parallelism: bake solves the whole tree in one BuildKit session (no limit of its "
        "own). stackbake sends the targets that must build to one session too (a generated "
        "bake file, parents linked with target: contexts) when two or more build, and one "
        "`docker buildx build` per target otherwise (or with --per-target: at most -j at "
        f"once; -j {', '.join(str(j) for j in jobs)} here, {os.cpu_count()} cores).",
        "stackbake skips targets whose build key (context files after .dockerignore, "
        "Dockerfile, args, parents' keys, locked base digests) already names an image under "
        "their tags: those never reach BuildKit; bake sends every target to BuildKit and "
        "relies on its cache.",
        "Both tools: docker driver, default output (the engine's image store), "
        "`--progress quiet`, default provenance attestations.",
        "The engine is shared: the load average and the number of other buildx builds at "
        "each start are recorded per run in the JSON.",
    ]
    if overhead:
        notes.append(
            "stackbake's wall time minus the time its own summary reports ('Done: ... in Xs'): "
            f"median {statistics.median(overhead):.2f} s (start-up, spec loading, engine "
            "pre-flight, summary)."
        )
    return notes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Build the generated tree with stackbake and with docker buildx bake, "
        "alternately, and compare wall times (cold, no-op, one app changed, base changed)."
    )
    generate.add_tree_arguments(p)
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="K",
        help="repetitions; the table shows medians (default 1; use 3-5 for numbers worth quoting)",
    )
    p.add_argument(
        "--jobs",
        default=str(default_jobs()),
        metavar="J[,J2]",
        help="stackbake -j; several values measure stackbake once per value "
        "(default: stackbake's own default here, %(default)s)",
    )
    p.add_argument(
        "--per-target",
        action="store_true",
        help="also measure stackbake --per-target (one buildx build per target, no session)",
    )
    p.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"subset of {','.join(SCENARIOS)} (cold always comes first)",
    )
    p.add_argument("--workdir", type=Path, help="where the tree and logs go (default: a temp dir)")
    p.add_argument(
        "--results",
        type=Path,
        default=HERE / "results",
        help="folder for <date>.json and <date>.md (default benchmarks/results)",
    )
    p.add_argument("--timeout", type=float, default=1800, help="per build, seconds")
    p.add_argument(
        "--keep", action="store_true", help="keep the images and the work folder afterwards"
    )
    args = p.parse_args(argv)
    args.scenarios = tuple(s for s in SCENARIOS if s in args.scenarios.split(","))
    if not args.scenarios or args.scenarios[0] != "cold":
        p.error("--scenarios must include cold")
    return args


def write_results(doc: dict[str, Any], tbl: str, folder: Path, stem: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (folder / f"{stem}.md").write_text(markdown(doc, tbl))
    print()
    print(tbl)
    print()
    for n in doc["notes"]:
        print(f"- {n}")
    print(f"\nwritten: {folder / (stem + '.json')}, {folder / (stem + '.md')}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = args.scenarios
    jobs = [int(j) for j in args.jobs.split(",")]
    tools = [Tool("stackbake", j) for j in jobs]
    tools += [Tool("stackbake", j, per_target=True) for j in jobs if args.per_target]
    tools += [Tool("bake")]
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    host = os.environ.get("STACKBAKE_REGISTRY") or "localhost:5000"
    cfg = generate.config_from(args, registry=f"{host}/{run_id}")
    stackbake = stackbake_command()
    work = args.workdir or Path(tempfile.mkdtemp(prefix=f"stackbake-{run_id}-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in SCRUB_ENV}

    info = machine(stackbake)
    if info.get("builder_driver") not in (None, "docker"):
        print(
            f"warning: the current builder uses the {info['builder_driver']} driver; "
            "these numbers are meant for the docker driver",
            file=sys.stderr,
        )
    started = dt.datetime.now(dt.UTC)
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    n_targets = 1 + cfg.runtimes + cfg.business + cfg.apps
    print(
        f"{n_targets} targets, {cfg.work_seconds:g} s work each, {','.join(cfg.platforms)}; "
        f"images {cfg.registry}/*; work folder {work}"
    )
    print(
        f"tools: {', '.join(t.label for t in tools)}; {args.repeat} repetition(s); "
        f"cold runs prune the WHOLE engine's build cache (docker buildx prune -af)",
        flush=True,
    )

    measures: list[Measure] = []
    try:
        for rep in range(args.repeat):
            k = rep % len(tools)
            for tool in tools[k:] + tools[:k]:  # who goes first rotates
                measures += run_tool(
                    tool,
                    rep,
                    cfg=cfg,
                    work=work,
                    stackbake=stackbake,
                    env=env,
                    timeout=args.timeout,
                    scenarios=scenarios,
                )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if not args.keep:
            remove_images(cfg.registry, f"{generate.LABEL}={cfg.run_id}")
            if measures and all(m.ok for m in measures):
                shutil.rmtree(work, ignore_errors=True)
            else:
                print(f"logs kept in {work / 'logs'}", file=sys.stderr)

    rows = summarise(measures, tools, scenarios)
    tbl = table(rows, tools)
    notes = notes_for(measures, cfg, jobs)
    doc = {
        "date": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "command": command,
        "repeat": args.repeat,
        "machine": info,
        "tree": {
            "targets": n_targets,
            "runtimes": cfg.runtimes,
            "business": cfg.business,
            "apps": cfg.apps,
            "work_seconds": cfg.work_seconds,
            "file_kb": cfg.file_kb,
            "platforms": list(cfg.platforms),
            "base_image": cfg.base_image,
        },
        "tools": [
            asdict(t) | {"label": t.label, "command": " ".join(tool_argv(t, ["stackbake"]))}
            for t in tools
        ],
        "summary": rows,
        "runs": [asdict(m) for m in measures],
        "notes": notes,
    }
    write_results(doc, tbl, args.results, started.strftime("%Y-%m-%dT%H%M%SZ"))
    return 0 if all(m.ok for m in measures) else 1


if __name__ == "__main__":
    sys.exit(main())
