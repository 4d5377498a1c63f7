#!/usr/bin/env python3
"""Write a synthetic image hierarchy twice: as a stackbake spec and as a bake file.

    base  ->  rt-1..rt-R  ->  biz-01..biz-B  ->  app-001..app-N (two stages each)

By default 1 base, 3 runtimes, 6 business bases and 20 apps (30 targets), on the
offline seed image. Every target does `--work-seconds` of CPU-light work (`sleep`)
and writes a file of `--file-kb` KiB, so a build that misses the cache costs about
that many seconds per target, and a cached one costs next to nothing.

Output folder layout:

    builds.yaml            stackbake spec (variables, defaults, one entry per target)
    docker-bake.hcl        the same tree for `docker buildx bake` (contexts = target:)
    tree.json              what was generated: targets, parents, tags, files to edit
    base/                  Dockerfile, base.conf
    runtimes/rt-N/         Dockerfile, runtime.conf
    business/biz-NN/       Dockerfile, business.conf
    apps/app-NNN/          Dockerfile (stages `build` and the final one), src/main.txt

Both files build exactly the same Dockerfiles with the same build args, tags,
platforms, labels and output (the engine's image store: what both tools do by
default with the docker driver). Children's Dockerfiles say

    ARG REGISTRY=...
    ARG VERSION=...
    FROM ${REGISTRY}/<parent>:${VERSION}

stackbake infers the parent from that line (after ARG expansion); the bake file wires
it by hand with `contexts = { "<parent ref> = "target:<parent>" }`, whose key must be
the reference BuildKit looks up for that FROM: the familiar form of the expanded
reference without `:latest` (buildx 0.13 does not normalise the key; a key that does
not match is silently ignored and the FROM then resolves from the image store or the
registry instead). The bake file is written with literal values for that reason: no
HCL `variable` (an environment variable of the same name would change the tags but
not the keys).

Stdlib only:  python benchmarks/generate.py OUT [--apps N] [--work-seconds S] ...
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SEED_IMAGE = "localhost:5000/seed/busybox:1.35"
DEFAULT_PLATFORMS = ("linux/amd64",)
TWO_PLATFORMS = ("linux/amd64", "linux/arm64")
LABEL = "io.stackbake.bench.run"  # on every image: lets the runner find its own images


@dataclass
class Node:
    name: str
    level: int
    parent: str | None
    context: str  # relative to the output folder
    source: str  # the file of the context a change scenario edits, relative to the output
    tags: list[str] = field(default_factory=list)


@dataclass
class Config:
    runtimes: int = 3
    business: int = 6
    apps: int = 20
    work_seconds: float = 2.0
    file_kb: int = 64
    base_image: str = SEED_IMAGE
    registry: str = ""  # repository prefix, e.g. localhost:5000/bench-1a2b3c
    version: str = "1"
    platforms: tuple[str, ...] = DEFAULT_PLATFORMS
    run_id: str = ""

    def __post_init__(self) -> None:
        if not self.registry:
            host = os.environ.get("STACKBAKE_REGISTRY") or "localhost:5000"
            self.registry = f"{host}/bench-{uuid.uuid4().hex[:8]}"
        if not self.run_id:
            self.run_id = self.registry.rsplit("/", 1)[-1]
        for what, n in (("runtimes", self.runtimes), ("business", self.business)):
            if n < 1:
                raise ValueError(f"--{what} must be at least 1")
        if self.apps < 0:
            raise ValueError("--apps must be 0 or more")


# ---------------------------------------------------------------------------
# references: what BuildKit calls a named context for a FROM
# ---------------------------------------------------------------------------
_DOMAIN = re.compile(r"^[^/]*[.:][^/]*$|^localhost$")


def familiar(ref: str) -> str:
    """BuildKit's named-context key for an image reference: the familiar form
    (no docker.io/, no library/ for official images) without `:latest`."""
    name, digest = [*ref.split("@", 1), ""][:2]
    last = name.rsplit("/", 1)[-1]
    tag = ""
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and _DOMAIN.match(first) and first not in ("docker.io", "index.docker.io"):
        out = name
    else:
        path = rest if first in ("docker.io", "index.docker.io") and rest else name
        out = path.removeprefix("library/") if path.count("/") == 1 else path
    if tag and tag != "latest":
        out += f":{tag}"
    if digest:
        out += f"@{digest}"
    return out


# ---------------------------------------------------------------------------
# the tree
# ---------------------------------------------------------------------------
def _width(n: int) -> int:
    return max(2, len(str(n)))


def plan_tree(cfg: Config) -> list[Node]:
    nodes = [Node("base", 0, None, "base", "base/base.conf")]
    rts = [f"rt-{i + 1}" for i in range(cfg.runtimes)]
    bw, aw = _width(cfg.business), max(3, len(str(cfg.apps)))
    biz = [f"biz-{i + 1:0{bw}d}" for i in range(cfg.business)]
    for name in rts:
        nodes.append(Node(name, 1, "base", f"runtimes/{name}", f"runtimes/{name}/runtime.conf"))
    for i, name in enumerate(biz):
        nodes.append(
            Node(name, 2, rts[i % len(rts)], f"business/{name}", f"business/{name}/business.conf")
        )
    for i in range(cfg.apps):
        name = f"app-{i + 1:0{aw}d}"
        nodes.append(Node(name, 3, biz[i % len(biz)], f"apps/{name}", f"apps/{name}/src/main.txt"))
    for node in nodes:
        node.tags = [tag_of(cfg, node.name)]
    return nodes


def tag_of(cfg: Config, name: str) -> str:
    return f"{cfg.registry}/{name}:{cfg.version}"


def _seconds(value: float) -> str:
    return f"{value:g}"


def _work(cfg: Config, name: str, folder: str) -> str:
    """The RUN body: sleep (the "work"), write a file, append to the lineage."""
    return (
        f"sleep {_seconds(cfg.work_seconds)} \\\n"
        f" && mkdir -p {folder} \\\n"
        f" && head -c {cfg.file_kb * 1024} /dev/urandom > {folder}/{name}.bin \\\n"
        f" && echo {name} >> {folder}/lineage"
    )


def dockerfile(cfg: Config, node: Node) -> str:
    head = f"# generated by benchmarks/generate.py: {node.name} (level {node.level})\n"
    if node.parent is None:
        return (
            head + f"ARG BASE_IMAGE={cfg.base_image}\n"
            "FROM ${BASE_IMAGE}\n"
            "COPY base.conf /etc/bench/base.conf\n"
            f"RUN {_work(cfg, node.name, '/opt/bench')}\n"
        )
    args = f"ARG REGISTRY={cfg.registry}\nARG VERSION={cfg.version}\n"
    parent = f"${{REGISTRY}}/{node.parent}:${{VERSION}}"
    if node.level < 3:
        conf = Path(node.source).name
        return (
            head + args + f"FROM {parent}\n"
            f"COPY {conf} /etc/bench/{node.name}.conf\n"
            f"RUN {_work(cfg, node.name, '/opt/bench')}\n"
        )
    return (
        head + args + f"\nFROM {parent} AS build\n"
        "COPY src/ /src/\n"
        "RUN mkdir -p /out && cp /opt/bench/lineage /src/main.txt /out/ \\\n"
        f" && {_work(cfg, node.name, '/out')}\n"
        f"\nFROM {parent}\n"
        "COPY --from=build /out/ /app/\n"
    )


def _source_text(node: Node) -> str:
    return f"{node.name}: generated source; the change scenarios append lines here\n"


# ---------------------------------------------------------------------------
# the two build files
# ---------------------------------------------------------------------------
def _q(text: str) -> str:
    return json.dumps(text)  # a double-quoted string, valid in YAML and in HCL


def builds_yaml(cfg: Config, nodes: list[Node]) -> str:
    plats = ", ".join(cfg.platforms)
    out = [
        "# generated by benchmarks/generate.py; the same tree as docker-bake.hcl",
        f"# {len(nodes)} targets: 1 base, {cfg.runtimes} runtimes, {cfg.business} business "
        f"bases, {cfg.apps} apps",
        "version: 1",
        "variables:",
        f"  REGISTRY: {_q(cfg.registry)}",
        f"  VERSION: {_q(cfg.version)}",
        f"  BASE_IMAGE: {_q(cfg.base_image)}",
        "defaults:",
        f"  platforms: [{plats}]",
        '  tags: ["${REGISTRY}/${target}:${VERSION}"]',
        "  args:",
        '    REGISTRY: "${REGISTRY}"',
        '    VERSION: "${VERSION}"',
        "  labels:",
        f"    {LABEL}: {_q(cfg.run_id)}",
        "targets:",
    ]
    for node in nodes:
        out.append(f"  {node.name}:")
        out.append(f"    context: {node.context}")
        if node.parent is None:
            out.append('    args: {BASE_IMAGE: "${BASE_IMAGE}"}')
    out.append("groups:")
    out.append("  default: [" + ", ".join(n.name for n in nodes) + "]")
    return "\n".join(out) + "\n"


def bake_hcl(cfg: Config, nodes: list[Node]) -> str:
    plats = ", ".join(_q(p) for p in cfg.platforms)
    out = [
        "# generated by benchmarks/generate.py; the same tree as builds.yaml.",
        "# Literal values on purpose (no `variable` blocks): a context key must be exactly",
        "# the reference BuildKit looks up for the FROM line (familiar form, no :latest).",
        "",
        'group "default" {',
        "  targets = [" + ", ".join(_q(n.name) for n in nodes) + "]",
        "}",
    ]
    for node in nodes:
        args = {"REGISTRY": cfg.registry, "VERSION": cfg.version}
        if node.parent is None:
            args["BASE_IMAGE"] = cfg.base_image
        out += [
            "",
            f"target {_q(node.name)} {{",
            f"  context = {_q(node.context)}",
            '  dockerfile = "Dockerfile"',
            f"  platforms = [{plats}]",
            "  args = { " + ", ".join(f"{k} = {_q(v)}" for k, v in args.items()) + " }",
            f"  labels = {{ {_q(LABEL)} = {_q(cfg.run_id)} }}",
            "  tags = [" + ", ".join(_q(t) for t in node.tags) + "]",
        ]
        if node.parent is not None:
            key = familiar(tag_of(cfg, node.parent))
            out.append(f"  contexts = {{ {_q(key)} = {_q('target:' + node.parent)} }}")
        out.append("}")
    return "\n".join(out) + "\n"


def generate(out: Path, cfg: Config, *, clean: bool = True) -> dict[str, Any]:
    """Write the tree into `out` (emptied first when `clean`); return tree.json's data."""
    if clean and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    nodes = plan_tree(cfg)
    for node in nodes:
        ctx = out / node.context
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / "Dockerfile").write_text(dockerfile(cfg, node), encoding="utf-8")
        src = out / node.source
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(_source_text(node), encoding="utf-8")
    (out / "builds.yaml").write_text(builds_yaml(cfg, nodes), encoding="utf-8")
    (out / "docker-bake.hcl").write_text(bake_hcl(cfg, nodes), encoding="utf-8")
    apps = [n for n in nodes if n.level == 3]
    leaf = apps[0] if apps else nodes[-1]
    tree: dict[str, Any] = {
        "config": {**asdict(cfg), "platforms": list(cfg.platforms)},
        "targets": [asdict(n) for n in nodes],
        "tags": sorted(t for n in nodes for t in n.tags),
        "label": f"{LABEL}={cfg.run_id}",
        "leaf": leaf.name,
        "leaf_lineage": lineage(nodes, leaf.name),
        "app_file": leaf.source,
        "base_file": nodes[0].source,
    }
    (out / "tree.json").write_text(json.dumps(tree, indent=2) + "\n", encoding="utf-8")
    return tree


def lineage(nodes: list[Node], name: str) -> list[str]:
    """What /app/lineage (or /opt/bench/lineage) of `name` holds: root first."""
    by = {n.name: n for n in nodes}
    chain = []
    cur: str | None = name
    while cur is not None:
        chain.append(cur)
        cur = by[cur].parent
    return chain[::-1]


def sizes_for_total(total: int, runtimes: int = 10, business: int = 100) -> tuple[int, int, int]:
    """(runtimes, business, apps) giving `total` targets in all."""
    runtimes = max(1, min(runtimes, total - 3))
    business = max(1, min(business, total - 2 - runtimes))
    return runtimes, business, max(0, total - 1 - runtimes - business)


def add_tree_arguments(p: argparse.ArgumentParser) -> None:
    """The shape flags, shared with run.py and plan_bench.py."""
    p.add_argument("--runtimes", type=int, default=3, help="level-1 targets (default 3)")
    p.add_argument("--business", type=int, default=6, help="level-2 targets (default 6)")
    p.add_argument("--apps", type=int, default=20, help="level-3 two-stage apps (default 20)")
    p.add_argument(
        "--work-seconds",
        type=float,
        default=2.0,
        metavar="S",
        help="sleep in every target's RUN (default 2)",
    )
    p.add_argument(
        "--file-kb", type=int, default=64, help="size of the file each target writes (default 64)"
    )
    p.add_argument("--base-image", default=SEED_IMAGE, help=f"root image (default {SEED_IMAGE})")
    plat = p.add_mutually_exclusive_group()
    plat.add_argument(
        "--platforms",
        default=",".join(DEFAULT_PLATFORMS),
        help="comma-separated platforms (default linux/amd64)",
    )
    plat.add_argument(
        "--two-platforms",
        action="store_true",
        help="linux/amd64,linux/arm64 (arm64 runs under QEMU here)",
    )


def config_from(args: argparse.Namespace, registry: str = "") -> Config:
    platforms = TWO_PLATFORMS if args.two_platforms else tuple(args.platforms.split(","))
    return Config(
        runtimes=args.runtimes,
        business=args.business,
        apps=args.apps,
        work_seconds=args.work_seconds,
        file_kb=args.file_kb,
        base_image=args.base_image,
        registry=registry or getattr(args, "registry", "") or "",
        version=getattr(args, "version", "1"),
        platforms=platforms,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="output folder (emptied first)")
    add_tree_arguments(p)
    p.add_argument(
        "--total",
        type=int,
        metavar="N",
        help="N targets in all (10 runtimes, 100 business bases, the rest apps); "
        "overrides --runtimes/--business/--apps",
    )
    p.add_argument(
        "--registry",
        default="",
        help="repository prefix of every tag (default $STACKBAKE_REGISTRY/bench-<random>)",
    )
    p.add_argument("--version", default="1", help="tag of every image (default 1)")
    args = p.parse_args(argv)
    if args.total:
        args.runtimes, args.business, args.apps = sizes_for_total(args.total)
    try:
        cfg = config_from(args)
    except ValueError as exc:
        p.error(str(exc))
    tree = generate(args.out, cfg)
    print(
        f"wrote {len(tree['targets'])} targets to {args.out} "
        f"(builds.yaml, docker-bake.hcl, tree.json); tags {cfg.registry}/*:{cfg.version}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
