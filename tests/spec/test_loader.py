"""Loading: builds remember files found schema-valid (by content and schema) and skip
validating them again; any change, or a problem, means validation runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.spec import loader
from orchestrator.spec.loader import load_documents
from tests.helpers import write_tree

SPEC = "version: 1\ninclude: [more.yaml]\ntargets:\n  a: {context: a}\n"
MORE = "version: 1\ntargets:\n  b: {context: b}\n"


def count_validations(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = loader.validate_document

    def counting(doc):  # type: ignore[no-untyped-def]
        seen.append(doc.path)
        return real(doc)

    monkeypatch.setattr(loader, "validate_document", counting)
    return seen


def test_a_build_skips_files_it_found_valid_and_rechecks_changed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"builds.yaml": SPEC, "more.yaml": MORE})
    seen = count_validations(monkeypatch)
    load_documents(tmp_path / "builds.yaml", remember=True)
    assert [p.name for p in seen] == ["builds.yaml", "more.yaml"]
    seen.clear()
    load_documents(tmp_path / "builds.yaml", remember=True)
    assert seen == []
    (tmp_path / "more.yaml").write_text(MORE.replace("b:", "c:"))
    load_documents(tmp_path / "builds.yaml", remember=True)
    assert [p.name for p in seen] == ["more.yaml"]


def test_problems_are_never_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_tree(tmp_path, {"builds.yaml": "version: 1\ntargets:\n  a: {contxt: a}\n"})
    for _ in range(2):
        with pytest.raises(SpecError) as info:
            load_documents(tmp_path / "builds.yaml", remember=True)
        assert "unknown key; did you mean 'context'?" in str(info.value)


def test_validate_and_plan_leave_no_state(tmp_path: Path) -> None:
    write_tree(tmp_path, {"builds.yaml": SPEC, "more.yaml": MORE})
    load_documents(tmp_path / "builds.yaml")
    assert not (tmp_path / ".stackbake").exists()
