"""Load a spec file and everything it includes, schema-checked, with positions."""

from __future__ import annotations

from pathlib import Path

from orchestrator.errors import Problem, SpecError
from orchestrator.spec.validate import validate_document
from orchestrator.spec.yamlpos import Document, load_yaml

DEFAULT_FILES = ("builds.yaml", "builds.yml")


def find_spec(explicit: str | None, cwd: Path) -> Path:
    """The spec file to use: -f FILE, else builds.yaml (or .yml) in the current folder."""
    if explicit is not None:
        path = (cwd / explicit).absolute()
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "no such file"
            raise SpecError([Problem(path, None, None, "", f"{what}; pass -f with a spec file")])
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


def load_documents(root: Path) -> list[Document]:
    """The root document then its includes (depth first), each schema-valid.

    All schema problems of every file are gathered before raising, so a user fixes a
    whole file in one go.
    """
    docs: list[Document] = []
    problems: list[Problem] = []
    seen: dict[Path, Document] = {}

    def visit(path: Path, chain: tuple[Path, ...]) -> None:
        try:
            doc = load_yaml(path)
        except SpecError as exc:
            problems.extend(exc.problems)
            return
        seen[path] = doc
        docs.append(doc)
        file_problems = validate_document(doc)
        problems.extend(file_problems)
        if file_problems or not isinstance(doc.data, dict):
            return
        for i, item in enumerate(doc.data.get("include", [])):
            child = (path.parent / item).absolute()
            if child in chain or child == path:
                trail = " -> ".join(p.name for p in (*chain, path, child))
                problems.append(doc.problem(("include", i), f"include loop: {trail}; remove one"))
            elif not child.is_file():
                problems.append(
                    doc.problem(
                        ("include", i),
                        f"included file {item!r} does not exist; fix the path "
                        "(relative to this file)",
                    )
                )
            elif child not in seen:
                visit(child, (*chain, path))

    visit(root, ())
    if problems:
        raise SpecError(problems)
    return docs
