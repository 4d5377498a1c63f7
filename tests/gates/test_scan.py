"""The scan gate: its trivy flags, the database it finds, and findings as lines, from
recorded trivy reports."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from orchestrator.execution.cancel import CancelToken
from orchestrator.gates.scan import (
    NO_DB,
    Database,
    cache_dir,
    database,
    findings,
    is_mirror,
    pull_mirror,
    scan_flags,
)
from orchestrator.spec.gates import Scan
from tests.gates.test_checks import recorded
from tests.gates.trivydb import write_db


def test_findings_are_one_line_each() -> None:
    assert findings(recorded("secret"), Scan(), Database()) == (
        "misconfig DS-0002 Image user should not be 'root' (HIGH)",
        "secret aws-access-key-id in /etc/creds (CRITICAL)",
    )
    assert findings(recorded("vuln"), Scan(), Database()) == (
        "vuln CVE-2024-1234 in openssl 3.0.1-r0 (HIGH)",
    )


def test_only_the_chosen_severities_fail() -> None:
    critical = Scan(severity=("CRITICAL",))
    assert findings(recorded("secret"), critical, Database()) == (
        "secret aws-access-key-id in /etc/creds (CRITICAL)",
    )
    assert findings(recorded("vuln"), critical, Database()) == ()


def test_a_missing_database_fails_first() -> None:
    db = Database(missing="no vulnerability database")
    assert findings(recorded("vuln"), Scan(severity=("LOW",)), db) == ("no vulnerability database",)


def test_no_database_anywhere(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path)}
    db = database(Scan(), environ)
    assert db.missing == NO_DB.format(where=f" in {tmp_path / '.cache' / 'trivy'}")
    assert db.missing == (
        f"no vulnerability database in {tmp_path}/.cache/trivy: trivy cannot download one "
        "here; give scan: {db: FOLDER} (trivy's cache folder, holding db/trivy.db) or "
        "scan: {db: REGISTRY/REPO:TAG} (a mirror of trivy-db), or drop vuln from scan.scanners"
    )
    # without vuln no database is needed
    assert database(Scan(scanners=("secret",)), environ) == Database()


def test_a_database_folder(tmp_path: Path) -> None:
    folder = write_db(tmp_path / "trivy")
    assert database(Scan(db=str(folder)), {}) == Database(("--cache-dir", str(folder)))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert database(Scan(db=str(empty)), {}).missing.startswith(
        f"no vulnerability database in {empty}: "
    )
    # trivy's default cache folder, when it holds one
    assert database(Scan(), {"TRIVY_CACHE_DIR": str(folder)}) == Database()
    assert cache_dir({"XDG_CACHE_HOME": "/c", "HOME": "/h"}) == Path("/c/trivy")


def test_a_database_mirror(tmp_path: Path) -> None:
    db = database(Scan(db="localhost:5000/mirror/trivy-db:2"), {"HOME": str(tmp_path)})
    folder = tmp_path / ".cache/trivy/stackbake-mirrors/localhost_5000_mirror_trivy-db_2"
    assert db == Database(("--cache-dir", str(folder)), mirror="localhost:5000/mirror/trivy-db:2")


@pytest.mark.parametrize(
    ("db", "mirror"),
    [
        ("localhost:5000/trivy-db:2", True),
        ("ghcr.io/aquasecurity/trivy-db:2", True),
        ("mirror.example.com/trivy-db", True),
        ("/var/cache/trivy", False),
        ("./cache/trivy", False),
        ("cache/trivy", False),
        ("trivy-cache", False),
    ],
)
def test_is_mirror(db: str, mirror: bool) -> None:
    assert is_mirror(db) is mirror


def test_scan_flags(tmp_path: Path) -> None:
    ignore = tmp_path / ".trivyignore"
    scan = Scan(ignore_file=ignore)
    db = Database(("--cache-dir", "/db"))
    assert scan_flags(scan, db) == [
        "--scanners",
        "vuln,secret,misconfig",
        "--severity",
        "HIGH,CRITICAL",
        "--image-config-scanners",
        "misconfig,secret",
        "--ignorefile",
        str(ignore),
        "--cache-dir",
        "/db",
    ]
    # no database: vuln is dropped (the others still run); no ignore file: none read
    no_db = Database(("--cache-dir", "/db"), missing="none")
    assert scan_flags(Scan(scanners=("vuln", "secret")), no_db) == [
        "--scanners",
        "secret",
        "--severity",
        "HIGH,CRITICAL",
        "--ignorefile",
        "",
    ]
    assert scan_flags(None, db) == ["--scanners", ""]


def fake_trivy(folder: Path, code: int, complaint: str = "") -> Path:
    script = folder / "trivy"
    script.write_text(
        f'#!/bin/sh\necho "$@" > "{folder}/argv"\necho "{complaint}" >&2\nexit {code}\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_pull_mirror(tmp_path: Path) -> None:
    trivy = fake_trivy(tmp_path, 0)
    db = Database(("--cache-dir", "/m"), mirror="localhost:5000/mirror/trivy-db:2")
    lines: list[str] = []
    pulled = pull_mirror(
        str(trivy), db, environ=dict(os.environ), cancel=CancelToken(), on_line=lines.append
    )
    assert pulled == Database(("--cache-dir", "/m"))
    argv = (tmp_path / "argv").read_text().split()
    assert argv[:2] == ["image", "--download-db-only"]
    assert "--skip-db-update" not in argv
    assert argv[-5:] == ["--cache-dir", "/m", "--insecure", "--db-repository", db.mirror]


def test_pull_mirror_fails(tmp_path: Path) -> None:
    trivy = fake_trivy(tmp_path, 1, "FATAL OCI repository error: connection refused")
    db = Database(("--cache-dir", "/m"), mirror="mirror.example.com/trivy-db:2")
    pulled = pull_mirror(
        str(trivy), db, environ=dict(os.environ), cancel=CancelToken(), on_line=print
    )
    assert pulled.missing == (
        "the vulnerability database mirror.example.com/trivy-db:2: "
        "trivy failed: FATAL OCI repository error: connection refused"
    )
    assert "--insecure" not in (tmp_path / "argv").read_text().split()


def test_a_secret_in_the_image_config_is_said_to_be_in_its_history() -> None:
    """trivy names the image itself (its staging tag) as the target of a secret found
    in its config: the RUN line in its history that wrote it."""
    facts = recorded("secret")
    in_config = {
        "Target": facts.artifact,
        "Class": "secret",
        "Secrets": [{"RuleID": "aws-access-key-id", "Severity": "CRITICAL"}],
    }
    facts = dataclasses.replace(facts, results=(*facts.results, in_config))
    assert findings(facts, Scan(scanners=("secret",)), Database())[-1] == (
        "secret aws-access-key-id in the image config (its history) (CRITICAL)"
    )
