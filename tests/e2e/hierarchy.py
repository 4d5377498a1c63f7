"""The fixture hierarchy of the `stackbake build` end-to-end tests, written from Python
into a test's tmp_path, and helpers to run stackbake on it and read what it reports.

    level 0   base (amd64+arm64, FROM ${BASE_IMAGE})          solo (FROM ${BASE_IMAGE})
    level 1   runtime (amd64+arm64)  tools  checked (build/test/runtime stages)  vault (secret)
    level 2   app (amd64+arm64)      worker (COPY --from=<tools tag>)  service (depends_on vault)

Every image carries a marker unique to the test run (in base's and solo's first layer),
so no layer of an earlier run can be reused from BuildKit's cache and every RUN runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.helpers import write_tree

REPORT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas/report.schema.json"
# platform -> what `uname -m` prints in a container of it
MACHINE = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
TEST_STAGE_ECHO = "e2e-test-stage-ran"
ALL_TARGETS = (
    "base",
    "solo",
    "runtime",
    "tools",
    "checked",
    "vault",
    "app",
    "worker",
    "service",
)


def new_prefix(registry: str) -> str:
    """A repository prefix no earlier run used: no stale image can ever be seen."""
    return f"{registry}/e2e-{uuid.uuid4().hex[:12]}"


write_files = write_tree  # one helper writes test trees, for unit and e2e tests alike


@dataclass
class Hierarchy:
    """The fixture tree on disk: its folder, spec, image prefix and variables."""

    folder: Path
    prefix: str
    seed: str
    marker: str
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def spec(self) -> Path:
        return self.folder / "builds.yaml"

    def tag(self, target: str) -> str:
        return f"{self.prefix}/{target}:1"

    def var_args(self) -> list[str]:
        return [a for k, v in self.variables.items() for a in ("--var", f"{k}={v}")]

    def dockerfile(self, target: str) -> Path:
        return self.folder / target / "Dockerfile"

    def append(self, target: str, text: str) -> None:
        """Add lines at the end of a target's Dockerfile."""
        path = self.dockerfile(target)
        path.write_text(path.read_text(encoding="utf-8") + textwrap.dedent(text).lstrip("\n"))


SPEC = """\
version: 1
variables:
  REG: set-by-the-test.invalid/e2e
  BASE_IMAGE: set-by-the-test.invalid/seed:1
defaults:
  platforms: [linux/amd64]
  tags: ["${REG}/${target}:1"]
  args: {REG: "${REG}"}
targets:
  base:
    description: root base, FROM the BASE_IMAGE build arg; two platforms
    context: base
    platforms: [linux/amd64, linux/arm64]
    args: {BASE_IMAGE: "${BASE_IMAGE}"}
  solo:
    description: an independent root
    context: solo
    args: {BASE_IMAGE: "${BASE_IMAGE}"}
  runtime:
    context: runtime
    platforms: [linux/amd64, linux/arm64]
  tools:
    description: a data image others copy from
    context: tools
  checked:
    description: multi-stage, with a test stage
    context: checked
    target: runtime
    test: test
  vault:
    description: uses a build secret
    context: vault
    secrets: [{id: token, env: E2E_TOKEN}]
  app:
    context: app
    platforms: [linux/amd64, linux/arm64]
  worker:
    description: FROM the seed, COPY --from the tools target by its tag
    context: worker
    args: {BASE_IMAGE: "${BASE_IMAGE}"}
  service:
    context: service
    depends_on: [vault]
"""


def write_hierarchy(tmp_path: Path, prefix: str, seed: str) -> Hierarchy:
    marker = uuid.uuid4().hex
    h = Hierarchy(tmp_path / "tree", prefix, seed, marker, {"REG": prefix, "BASE_IMAGE": seed})
    write_files(
        h.folder,
        {
            "builds.yaml": SPEC,
            "base/base.txt": f"base {marker}\n",
            "base/Dockerfile": """
                ARG BASE_IMAGE=alpine:3.20
                FROM ${BASE_IMAGE}
                COPY base.txt /etc/stackbake/base.txt
            """,
            "solo/Dockerfile": f"""
                ARG BASE_IMAGE=alpine:3.20
                FROM ${{BASE_IMAGE}}
                RUN echo "solo {marker}" > /etc/solo.txt
            """,
            "runtime/Dockerfile": """
                ARG REG
                FROM ${REG}/base:1
                RUN uname -m > /etc/stackbake/runtime-arch
            """,
            "tools/Dockerfile": """
                ARG REG
                FROM ${REG}/base:1
                RUN mkdir -p /opt/tools \\
                 && echo "tools $(cat /etc/stackbake/base.txt)" > /opt/tools/VERSION
            """,
            "checked/Dockerfile": f"""
                ARG REG
                FROM ${{REG}}/base:1 AS build
                RUN mkdir -p /out && printf '#!/bin/sh\\necho checked-ok\\n' > /out/checked \\
                 && chmod 0755 /out/checked

                FROM build AS test
                RUN echo "{TEST_STAGE_ECHO}" && /out/checked | grep -q checked-ok

                FROM ${{REG}}/base:1 AS runtime
                COPY --from=build /out/checked /usr/local/bin/checked
            """,
            "vault/Dockerfile": """
                ARG REG
                FROM ${REG}/base:1
                RUN --mount=type=secret,id=token,required=true \\
                    sha256sum /run/secrets/token | cut -d' ' -f1 > /etc/token.sha256
            """,
            "app/Dockerfile": """
                ARG REG
                FROM ${REG}/runtime:1
                RUN echo "app on $(cat /etc/stackbake/runtime-arch)" > /etc/app.txt
            """,
            # BuildKit expands no ARG in COPY --from=, so the tools tag is written out.
            "worker/Dockerfile": f"""
                ARG BASE_IMAGE=alpine:3.20
                FROM ${{BASE_IMAGE}}
                COPY --from={h.tag("tools")} /opt/tools/VERSION /opt/worker/TOOLS_VERSION
            """,
            "service/Dockerfile": """
                ARG REG
                FROM ${REG}/checked:1
                RUN checked > /etc/service.txt
            """,
        },
    )
    return h


def write_mini(
    tmp_path: Path,
    prefix: str,
    seed: str,
    targets: Mapping[str, tuple[str, str]],
    *,
    defaults: str = "",
) -> Hierarchy:
    """A small spec of its own: name -> (extra YAML lines of the target, Dockerfile).
    Each target's context is its name; tags and REG/BASE_IMAGE args as in SPEC."""
    marker = uuid.uuid4().hex
    h = Hierarchy(tmp_path / "mini", prefix, seed, marker, {"REG": prefix, "BASE_IMAGE": seed})
    spec = [
        "version: 1",
        "variables:",
        "  REG: set-by-the-test.invalid/e2e",
        "  BASE_IMAGE: set-by-the-test.invalid/seed:1",
        "defaults:",
        "  platforms: [linux/amd64]",
        '  tags: ["${REG}/${target}:1"]',
        '  args: {REG: "${REG}", BASE_IMAGE: "${BASE_IMAGE}"}',
        *[f"  {line}" for line in textwrap.dedent(defaults).strip().splitlines()],
        "targets:",
    ]
    files = {}
    for name, (extra, dockerfile) in targets.items():
        spec += [f"  {name}:", f"    context: {name}"]
        spec += [f"    {line}" for line in textwrap.dedent(extra).strip().splitlines()]
        files[f"{name}/Dockerfile"] = textwrap.dedent(dockerfile).replace("@MARKER@", marker)
    files["builds.yaml"] = "\n".join(spec) + "\n"
    write_files(h.folder, files)
    return h


# --- running stackbake -------------------------------------------------------------


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    report_path: Path
    junit_path: Path

    @property
    def report(self) -> dict[str, Any]:
        """The --report JSON, checked against its published schema."""
        report = json.loads(self.report_path.read_text(encoding="utf-8"))
        schema = json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        ).validate(report)
        return dict(report)

    @property
    def targets(self) -> dict[str, dict[str, Any]]:
        return {t["name"]: t for t in self.report["targets"]}

    @property
    def junit(self) -> ET.Element:
        return ET.parse(self.junit_path).getroot()

    def testcases(self) -> dict[str, ET.Element]:
        return {case.get("name", ""): case for case in self.junit.iter("testcase")}

    def explain(self) -> str:
        head = f"exit {self.code} after {self.seconds:.1f}s"
        return f"{head}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def stackbake_argv(h: Hierarchy, *args: str, tag: str = "run") -> list[str]:
    return [
        sys.executable,
        "-m",
        "orchestrator",
        "build",
        "-f",
        str(h.spec),
        *h.var_args(),
        "--progress",
        "plain",
        "--report",
        str(h.folder / f"{tag}.report.json"),
        "--junit",
        str(h.folder / f"{tag}.junit.xml"),
        *args,
    ]


def run_stackbake(
    folder: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`stackbake ARGS` as a subprocess in `folder`, in `env` (default: this process's)."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=None if env is None else dict(env),
    )


def stackbake_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # As in CI: no step summary unless a test asks, no terminal size.
    unset = ("GITHUB_STEP_SUMMARY", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.setdefault("E2E_TOKEN", "not-the-secret-of-any-test")
    env.update(extra or {})
    return env


def build(
    h: Hierarchy,
    *args: str,
    env: Mapping[str, str] | None = None,
    tag: str = "run",
    timeout: float = 420,
) -> Run:
    """`stackbake build` as a subprocess in the fixture folder."""
    start = time.monotonic()
    done = subprocess.run(
        stackbake_argv(h, *args, tag=tag),
        cwd=h.folder,
        env=stackbake_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(
        done.returncode,
        done.stdout,
        done.stderr,
        time.monotonic() - start,
        h.folder / f"{tag}.report.json",
        h.folder / f"{tag}.junit.xml",
    )


# --- the engine ------------------------------------------------------------------


def docker(*args: str, timeout: float = 120, check: bool = True, host: str | None = None) -> str:
    """`docker ARGS` on this host's engine, or on the one at `host` (DOCKER_HOST)."""
    done = _docker(args, timeout, host)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return done.stdout


def _docker(
    args: Sequence[str], timeout: float, host: str | None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": host} if host else None
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def image_inspect(ref: str) -> dict[str, Any]:
    return dict(json.loads(docker("image", "inspect", ref))[0])


def labels_of(ref: str) -> dict[str, str]:
    return dict(image_inspect(ref)["Config"].get("Labels") or {})


def run_in(ref: str, script: str, *, platform: str | None = None) -> str:
    args = ["run", "--rm", "--pull", "never"]
    if platform:
        args += ["--platform", platform]
    return docker(*args, ref, "sh", "-c", script, timeout=180)


def local_images(prefix: str, host: str | None = None) -> list[str]:
    """The engine's image names under `prefix`. `docker image ls` can fail for a moment
    ("content digest ... not found") while another test removes an image it is listing:
    that is asked again, a few times."""
    args = ("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    for _ in range(3):
        done = _docker(args, 120, host)
        if done.returncode == 0 or "content digest" not in done.stderr:
            break
    out = docker(*args, host=host) if done.returncode != 0 else done.stdout  # the last try
    return [line for line in out.splitlines() if line.startswith(prefix + "/")]


def remove_local_images(prefix: str, host: str | None = None) -> None:
    names = local_images(prefix, host)
    if names:
        docker("image", "rm", "--force", *names, check=False, host=host)


@contextlib.contextmanager
def images_removed_after(prefix: str, *hosts: str) -> Iterator[str]:
    """The test's images (named under `prefix`) removed afterwards, from this host's
    engine and from the engines at `hosts`."""
    try:
        yield prefix
    finally:
        for host in (None, *hosts):
            with contextlib.suppress(Exception):
                remove_local_images(prefix, host)


def processes() -> list[tuple[int, str]]:
    out = subprocess.run(
        ["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        rows.append((int(pid), args.strip()))
    return rows


def statuses(run: Run) -> dict[str, str]:
    return {name: t["status"] for name, t in run.targets.items()}


# Each target of the fixture hierarchy -> the targets it builds on.
PARENTS = {
    "base": (),
    "solo": (),
    "runtime": ("base",),
    "tools": ("base",),
    "checked": ("base",),
    "vault": ("base",),
    "app": ("runtime",),
    "worker": ("tools",),
    "service": ("checked", "vault"),
}


def summary_of(out: str) -> str:
    """The end-of-run summary: from the table header to the end of stdout."""
    lines = out.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("TARGET ")]
    assert heads, f"no summary table in stdout:\n{out}"
    return "\n".join(lines[heads[-1] :])


@contextlib.contextmanager
def fixture_tree(tmp_path: Path, registry: str, seed: str) -> Iterator[Hierarchy]:
    """The fixture hierarchy in tmp_path; its local images are removed afterwards."""
    prefix = new_prefix(registry)
    with images_removed_after(prefix):
        yield write_hierarchy(tmp_path, prefix, seed)


class Streaming:
    """`stackbake build` running in its own session, stdout read line by line."""

    def __init__(self, h: Hierarchy, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            stackbake_argv(h, *args),
            cwd=h.folder,
            env=stackbake_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.err = ""
        self.cond = threading.Condition()
        self.readers = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for reader in self.readers:
            reader.start()
        self.report_path = h.folder / "run.report.json"
        self.junit_path = h.folder / "run.junit.xml"

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.err = self.proc.stderr.read()

    def wait_for_line(self, needle: str, timeout: float) -> str:
        """The first stdout line containing needle; fails after timeout or at exit."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [line for line in self.lines if needle in line]
                if hits:
                    return hits[0]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.readers[0].is_alive()):
                    out = "\n".join(self.lines)
                    pytest.fail(f"no line with {needle!r} in stdout:\n{out}\n{self.err}")
                self.cond.wait(min(left, 0.2))

    def finish(self, timeout: float) -> Run:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"stackbake did not exit within {timeout} s:\n" + "\n".join(self.lines))
        seconds = time.monotonic() - self.start
        for reader in self.readers:
            reader.join(10)
        with self.cond:
            out = "\n".join(self.lines) + "\n"
        return Run(code, out, self.err, seconds, self.report_path, self.junit_path)

    def kill(self) -> None:
        """Clean-up after a failed test: SIGINT first, so stackbake stops the builds it
        started in sessions of their own; SIGKILL if that does not end it."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
