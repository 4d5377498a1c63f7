"""What the quality gates cost on the example hierarchy (builds.yaml.example: 9
targets, both platforms, every gate but structure tests): the same forced build (its
steps all cached, so the gates are most of what is left) with every gate and with every
gate skipped, alternately, N times; then `stackbake check` of each target alone, which
times each target's gates on both platforms without a build around them.

    python benchmarks/gates.py [--runs 3] [--spec builds.yaml.example]

Needs the engine and the example built once (scripts/run-example.sh). Prints a
Markdown table; medians of the runs."""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import time

GATES = ("bases", "max_size", "max_layers", "labels", "user", "healthcheck", "scan", "sbom")
TIMED = re.compile(r"^(\S+): (?:passed|\d+ gate\(s\) failed) on (\d+) platform\(s\) in ([\d.]+) s$")


def timed(argv: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, text=True)
    return time.monotonic() - start


def per_target(spec: str) -> dict[str, float]:
    """Each target's gate time from `stackbake check` (both platforms at once)."""
    out = subprocess.run(
        ["stackbake", "check", "-f", spec], check=False, capture_output=True, text=True
    ).stdout
    return {m[1]: float(m[3]) for m in map(TIMED.match, out.splitlines()) if m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spec", default="builds.yaml.example")
    args = parser.parse_args()
    build = ["stackbake", "build", "-f", args.spec, "--force", "*", "--progress", "quiet"]
    skipped = [*build, *(f for g in GATES for f in ("--skip-gate", g))]
    gated_s, bare_s, targets = [], [], []
    for _ in range(args.runs):
        gated_s.append(timed(build))
        bare_s.append(timed(skipped))
        targets.append(per_target(args.spec))
    gated, bare = statistics.median(gated_s), statistics.median(bare_s)
    print(f"| forced build of {args.spec} | median of {args.runs} |")
    print("|---|---|")
    print(f"| every gate | {gated:.1f} s |")
    print(f"| every gate skipped | {bare:.1f} s |")
    print(f"| the gates' share | {gated - bare:.1f} s ({gated / bare:.2f}x) |")
    print()
    print("| target | its gates alone, both platforms (`stackbake check`) |")
    print("|---|---|")
    for name in targets[0]:
        print(f"| {name} | {statistics.median(t[name] for t in targets):.1f} s |")


if __name__ == "__main__":
    main()
