"""Differential test: for many .dockerignore pattern sets, what BuildKit puts in an
image with `COPY . /` equals what orchestrator.freshness.context.walk says it sends."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orchestrator.freshness.context import Matcher, ignore_file, read_ignore, walk
from tests.helpers import write_tree

pytestmark = pytest.mark.engine

TREE = {
    "app.py": "print(1)\n",
    "README.md": "r\n",
    "notes.txt": "n\n",
    ".env": "SECRET=1\n",
    ".git/config": "[core]\n",
    ".git/objects/ab/cdef": "x\n",
    "src/main.py": "m\n",
    "src/util.py": "u\n",
    "src/test_main.py": "t\n",
    "src/pkg/__init__.py": "\n",
    "src/pkg/deep/mod.py": "d\n",
    "src/pkg/deep/data.json": "{}\n",
    "docs/index.md": "i\n",
    "docs/readme.md": "r\n",
    "docs/api/ref.md": "a\n",
    "node_modules/left-pad/index.js": "l\n",
    "node_modules/.bin/tool": "b\n",
    "build/out.o": "o\n",
    "build/keep/important.txt": "k\n",
    "logs/a.log": "a\n",
    "logs/sub/b.log": "b\n",
    "a.log": "a\n",
    "weird name [1].txt": "w\n",
    "star*file": "s\n",
    "q?mark": "q\n",
    "x.b": "x\n",
    "axb": "y\n",
    "sub/dir/node_modules/m.js": "m\n",
}

CASES: dict[str, str] = {
    "none": "",
    "comment-and-blank": "# a comment\n\n   \n#src\n",
    "star-root-only": "*.md\n",
    "double-star-anywhere": "**/*.md\n",
    "dir-name": "node_modules\n",
    "dir-anywhere": "**/node_modules\n",
    "leading-slash": "/src/pkg\n",
    "trailing-slash": "build/\n",
    "dot-dot-and-dot": "./src/../docs\n",
    "exception-file": "docs\n!docs/readme.md\n",
    "exception-deep": "build\n!build/keep/important.txt\n",
    "exception-order-later-wins": "!docs/readme.md\ndocs\n",
    "exclude-all-keep-some": "*\n!src\n!app.py\n",
    "exclude-all-glob-exception": "**\n!**/*.py\n",
    "exception-with-glob": "src\n!src/*.py\n",
    "exception-then-reexclude": "src\n!src/pkg\nsrc/pkg/deep\n",
    "question-mark": "src/?ain.py\n",
    "char-class": "src/[mu]*.py\n",
    "negated-class": "src/[^m]*.py\n",
    "escaped-star": "star\\*file\n",
    "escaped-question": "q\\?mark\n",
    "dot-is-literal": "x.b\n",
    "double-star-middle": "src/**/mod.py\n",
    "double-star-end": "logs/**\n",
    "double-star-dir": "**/deep\n",
    "dotfiles": ".*\n",
    "git": ".git\n.env\n",
    "space-in-name": "weird name [[]1].txt\n",
    "whitespace-trimmed": "   notes.txt   \n",
    "bom": "\ufeffREADME.md\n",
    "exception-of-dotfile": ".*\n!.env\n",
    "star-slash-star": "*/*\n",
    "star-slash-star-log": "*/*.log\n",
    "exclude-dockerignore-and-dockerfile": ".dockerignore\nDockerfile\n",
    "only-exceptions": "!src\n",
    "exception-parent-dir": "src/pkg/deep/*\n!src/pkg/deep/mod.py\n",
    "exception-double-star-prefix": "**/*.json\n!src/**\n",
    "exclude-everything": "**\n",
}


def listing(root: Path) -> set[str]:
    out = set()
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        for name in dirs + files:
            out.add(name if rel == "." else f"{rel}/{name}")
    return out


def buildkit_sends(context: Path, dockerfile: Path, out: Path) -> set[str]:
    subprocess.run(
        [
            "docker",
            "buildx",
            "build",
            "--progress=quiet",
            "-f",
            str(dockerfile),
            "--output",
            f"type=local,dest={out}",
            str(context),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return listing(out)


def we_send(context: Path, dockerfile: Path) -> set[str]:
    found = ignore_file(context, dockerfile)
    patterns = read_ignore(found.read_text(encoding="utf-8")) if found else []
    return {e.path for e in walk(context, Matcher.of(patterns))}


def make(
    root: Path, ignore: str, *, dockerfile_inside: bool = True, specific: str | None = None
) -> tuple[Path, Path]:
    context = write_tree(root / "ctx", TREE)
    (context / "empty-dir").mkdir()
    (context / "link-to-app").symlink_to("app.py")
    (context / "src/run.sh").write_text("#!/bin/sh\n")
    (context / "src/run.sh").chmod(0o755)
    if ignore:
        (context / ".dockerignore").write_text(ignore, encoding="utf-8")
    dockerfile = (context if dockerfile_inside else root) / "Dockerfile"
    dockerfile.write_text("FROM scratch\nCOPY . /\n", encoding="utf-8")
    if specific is not None:
        dockerfile.with_name("Dockerfile.dockerignore").write_text(specific, encoding="utf-8")
    return context, dockerfile


def test_every_pattern_set_sends_what_buildkit_sends(tmp_path: Path, engine: str) -> None:
    jobs = {}
    for name, ignore in CASES.items():
        jobs[name] = make(tmp_path / name, ignore)
    jobs["dockerfile-outside-context"] = make(
        tmp_path / "outside", "docs\n", dockerfile_inside=False
    )
    jobs["dockerfile-specific-ignore"] = make(
        tmp_path / "specific", "docs\n", specific="src\n!src/main.py\n"
    )
    jobs["dockerfile-specific-outside"] = make(
        tmp_path / "spec-out", "docs\n", dockerfile_inside=False, specific="*.md\n"
    )

    def engine_view(name: str) -> set[str]:
        context, dockerfile = jobs[name]
        return buildkit_sends(context, dockerfile, tmp_path / "out" / name)

    with ThreadPoolExecutor(max_workers=4) as pool:
        engine_views = dict(zip(jobs, pool.map(engine_view, jobs), strict=True))
    mismatches = {}
    for name, (context, dockerfile) in jobs.items():
        ours = we_send(context, dockerfile)
        if ours != engine_views[name]:
            mismatches[name] = {
                "only stackbake": sorted(ours - engine_views[name]),
                "only buildkit": sorted(engine_views[name] - ours),
            }
    assert mismatches == {}
    # The cases really exercise something: most exclude, some re-include.
    full = we_send(*jobs["none"])
    assert sum(we_send(*job) != full for job in jobs.values()) >= len(jobs) - 3
