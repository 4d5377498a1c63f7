"""The README's spec reference is generated from the schema; keep them equal."""

from __future__ import annotations

from pathlib import Path

from orchestrator.spec.reference import BEGIN, END, markdown

README = Path(__file__).parents[1] / "README.md"


def embedded() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def test_spec_reference_matches_the_schema() -> None:
    assert embedded() == markdown(), (
        "README's spec reference drifted from schemas/builds.schema.json; regenerate it with "
        "`stackbake schema --markdown` between the spec-reference markers"
    )


def test_every_schema_key_is_described() -> None:
    for line in markdown().splitlines():
        if line.startswith("| `"):
            assert not line.endswith("|  |"), f"no description in the schema for: {line}"


def test_plan_json_example_matches_the_plan_schema() -> None:
    import json

    from jsonschema import Draft202012Validator

    text = README.read_text(encoding="utf-8")
    start = text.index('```json\n{\n  "schema": "stackbake.plan/v1"') + len("```json\n")
    example = json.loads(text[start : text.index("```", start)])
    schema = json.loads((README.parent / "schemas/plan.schema.json").read_text())
    Draft202012Validator(schema).validate(example)


def test_the_layout_names_every_module_of_the_package_and_no_other() -> None:
    text = README.read_text(encoding="utf-8")
    layout = text.split("<!-- layout:begin -->", 1)[1].split("<!-- layout:end -->", 1)[0]
    named, package = set(), ""
    for line in layout.splitlines():
        if line.startswith("- `"):
            entry = line[3:].split("`", 1)[0]
            package = entry if entry.endswith("/") else ""
            if not package:
                named.add(entry)
        elif line.startswith("  - `"):
            named.add(package + line[5:].split("`", 1)[0])
    root = README.parent / "orchestrator"
    modules = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }
    assert named == modules, (
        f"README's layout lacks {sorted(modules - named)} and names {sorted(named - modules)}"
    )
