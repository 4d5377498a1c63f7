"""Load a spec file and everything it includes, schema-checked, with positions."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from orchestrator import __version__
from orchestrator.errors import Problem, SpecError
from orchestrator.spec.schema import schema_text
from orchestrator.spec.textfile import kind
from orchestrator.spec.validate import validate_document
from orchestrator.spec.yamlpos import Document, load_yaml
from orchestrator.state import StateDir

DEFAULT_FILES = ("builds.yaml", "builds.yml")


def find_spec(explicit: str | None, cwd: Path) -> Path:
    """The spec file to use: -f FILE, else builds.yaml (or .yml) in the current folder."""
    if explicit is not None:
        path = (cwd / explicit).absolute()
        if not path.is_file():
            what = kind(path)
            said = f"is {what}, not a file" if what else "no such file"
            raise SpecError([Problem(path, None, None, "", f"{said}; pass -f with a spec file")])
        return path
    for name in DEFAULT_FILES:
        if (cwd / name).is_file():
            return (cwd / name).absolute()
    raise SpecError(
        [
            Problem(
                cwd / DEFAULT_FILES[0],
                None,
                None,
                "",
                "no such file; create it (see builds.yaml.example) or pass -f FILE",
            )
        ]
    )


class ValidFiles:
    """Files already found schema-valid, by their bytes and the schema's: a spec that
    did not change is not validated again (nor jsonschema imported), which is a tenth
    of a no-op build. Only successes are remembered; a problem is always re-found."""

    KEEP = 256

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.salt = hashlib.sha256(f"{__version__}\0{schema_text()}".encode()).digest()
        self.known = state.valid_files()
        self.added = False

    def key(self, file: Path) -> str:
        try:
            return hashlib.sha256(self.salt + file.read_bytes()).hexdigest()
        except OSError:
            return ""

    def __contains__(self, key: str) -> bool:
        return bool(key) and key in self.known

    def add(self, key: str) -> None:
        if key and key not in self.known:
            self.known = [*self.known, key][-self.KEEP :]
            self.added = True

    def save(self) -> None:
        if self.added:
            self.state.save_valid_files(self.known)


def load_documents(root: Path, *, remember: bool = False) -> list[Document]:
    """The root document then its includes (depth first), each schema-valid.

    All schema problems of every file are gathered before raising, so a user fixes a
    whole file in one go. `remember` (builds, which keep state in `.stackbake/` anyway):
    skip files found valid before, and record the ones found valid now.
    """
    docs: list[Document] = []
    problems: list[Problem] = []
    seen: dict[Path, Document] = {}
    valid = ValidFiles(StateDir(root.parent)) if remember else None

    def visit(path: Path, chain: tuple[Path, ...]) -> None:
        try:
            doc = load_yaml(path)
        except SpecError as exc:
            problems.extend(exc.problems)
            return
        seen[path] = doc
        docs.append(doc)
        key = valid.key(path) if valid else ""
        file_problems = [] if valid and key in valid else validate_document(doc)
        if valid and not file_problems:
            valid.add(key)
        problems.extend(file_problems)
        if file_problems or not isinstance(doc.data, dict):
            return
        for i, item in enumerate(doc.data.get("include", [])):
            # Normal form: a loop through `sub/../a.yaml` is the same file again.
            child = Path(os.path.normpath((path.parent / str(item)).absolute()))
            if child in chain or child == path:
                trail = " -> ".join(p.name for p in (*chain, path, child))
                problems.append(doc.problem(("include", i), f"include loop: {trail}; remove one"))
            elif not child.is_file():
                what = kind(child)
                said = f"is {what}, not a file" if what else "does not exist"
                problems.append(
                    doc.problem(
                        ("include", i),
                        f"included file {item!r} {said}; fix the path (relative to this file)",
                    )
                )
            elif child not in seen:
                visit(child, (*chain, path))

    visit(root, ())
    if problems:
        raise SpecError(problems)
    if valid:
        valid.save()
    return docs
