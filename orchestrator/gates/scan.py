"""The scan gate: trivy's scanners in the run that reads the image's facts, findings at
the chosen severities failing it, and the vulnerability database it needs.

Offline, trivy never downloads its database: every run has `--skip-db-update`, which
with no database fails the whole run ("--skip-db-update cannot be specified on the
first run", exit 1). So the database is looked for first: `scan.db` a folder (trivy's
cache layout, db/trivy.db and db/metadata.json: `--cache-dir`), an OCI mirror (pulled
once into a folder of its own with `--download-db-only --db-repository`, before the
platforms run), or else trivy's default cache folder. Without one the run drops `vuln`,
so the other scanners and gates still run, and the scan fails saying what to give."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.backend.base import OnLine
from orchestrator.execution.cancel import CancelToken
from orchestrator.gates.facts import Facts
from orchestrator.gates.tool import run_tool
from orchestrator.gates.trivy import OFFLINE
from orchestrator.refs import BadReference, is_loopback, parse_ref
from orchestrator.spec.gates import Scan

NO_DB = (
    "no vulnerability database{where}: trivy cannot download one here; give "
    "scan: {{db: FOLDER}} (trivy's cache folder, holding db/trivy.db) or "
    "scan: {{db: REGISTRY/REPO:TAG}} (a mirror of trivy-db), or drop vuln from scan.scanners"
)
_DOWNLOADS = threading.Lock()  # one mirror download at a time in this process


@dataclass(frozen=True)
class Database:
    flags: tuple[str, ...] = ()  # --cache-dir DIR
    mirror: str | None = None  # an OCI mirror to pull into the folder first
    missing: str = ""  # why vuln cannot run: the scan's failure


def cache_dir(environ: Mapping[str, str]) -> Path:
    """trivy's default cache folder, as trivy finds it."""
    if environ.get("TRIVY_CACHE_DIR"):
        return Path(environ["TRIVY_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "~")) / ".cache")
    return Path(base).expanduser() / "trivy"


def has_db(folder: Path) -> bool:
    return all((folder / "db" / name).is_file() for name in ("trivy.db", "metadata.json"))


def is_mirror(db: str) -> bool:
    """An OCI reference with a registry (host.name/..., host:port/..., localhost/...)."""
    first = db.split("/", 1)[0]
    if "/" not in db or Path(db).expanduser().exists():
        return False
    if "." not in first and ":" not in first and first != "localhost":
        return False
    try:
        parse_ref(db)
    except BadReference:
        return False
    return True


def database(scan: Scan, environ: Mapping[str, str]) -> Database:
    """The database vuln scanning uses (unless vuln is not asked for)."""
    if "vuln" not in scan.scanners:
        return Database()
    if scan.db is not None and is_mirror(scan.db):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", scan.db)
        folder = cache_dir(environ) / "stackbake-mirrors" / slug
        return Database(("--cache-dir", str(folder)), mirror=scan.db)
    flags: tuple[str, ...] = ()
    if scan.db is None:
        folder = cache_dir(environ)
    else:
        folder = Path(scan.db).expanduser()
        flags = ("--cache-dir", str(folder))
    if has_db(folder):
        return Database(flags)
    return Database(flags, missing=NO_DB.format(where=f" in {folder}"))


def pull_mirror(
    trivy: str, db: Database, *, environ: Mapping[str, str], cancel: CancelToken, on_line: OnLine
) -> Database:
    """The database once its mirror is pulled (trivy skips a fresh one), or why not."""
    if db.mirror is None:
        return db
    insecure = ["--insecure"] if is_loopback(parse_ref(db.mirror).domain) else []
    flags = [f for f in OFFLINE if f != "--skip-db-update"]
    argv = [trivy, "image", "--download-db-only", *flags, *db.flags, *insecure]
    with _DOWNLOADS:
        done = run_tool(
            [*argv, "--db-repository", db.mirror],
            environ,
            cancel=cancel,
            on_line=on_line,
            prefix="trivy db: ",
        )
    if done.code == 0:
        return Database(db.flags)
    why = done.reason("trivy")
    return Database(db.flags, missing=f"the vulnerability database {db.mirror}: {why}")


def scan_flags(scan: Scan | None, db: Database) -> list[str]:
    """The scanners of this run (none without the scan gate), and what they need."""
    if scan is None:
        return ["--scanners", ""]
    scanners = [s for s in scan.scanners if s != "vuln" or not db.missing]
    config = [s for s in ("misconfig", "secret") if s in scanners and "misconfig" in scanners]
    ignore = str(scan.ignore_file) if scan.ignore_file else ""  # "": no ./.trivyignore
    flags = ["--scanners", ",".join(scanners), "--severity", ",".join(scan.severity)]
    if config:
        flags += ["--image-config-scanners", ",".join(config)]
    return [*flags, "--ignorefile", ignore, *(db.flags if "vuln" in scanners else ())]


def findings(facts: Facts, scan: Scan, db: Database) -> tuple[str, ...]:
    """One line a finding at the failing severities, in trivy's order."""
    out = [db.missing] if db.missing else []
    for result in facts.results:
        for line in _lines(result, facts.artifact, set(scan.severity)):
            if line not in out:
                out.append(line)
    return tuple(out)


def _lines(result: Mapping[str, Any], artifact: str, severities: set[str]) -> Iterable[str]:
    target = str(result.get("Target", ""))
    where = "" if target.startswith(artifact) else f" in {target}"
    for v in result.get("Vulnerabilities") or ():
        if v.get("Severity") in severities:
            name = f"{v.get('PkgName')} {v.get('InstalledVersion')}".strip()
            yield f"vuln {v.get('VulnerabilityID')} in {name} ({v['Severity']})"
    for s in result.get("Secrets") or ():
        if s.get("Severity") in severities:
            place = "the image config (its history)" if not where else target
            yield f"secret {s.get('RuleID')} in {place} ({s['Severity']})"
    for m in result.get("Misconfigurations") or ():
        if m.get("Status", "FAIL") == "FAIL" and m.get("Severity") in severities:
            yield f"misconfig {m.get('ID')} {m.get('Title')}{where} ({m['Severity']})"
    for lic in result.get("Licenses") or ():
        if lic.get("Severity") in severities:
            owner = lic.get("PkgName") or lic.get("FilePath")
            yield f"license {lic.get('Name')} in {owner} ({lic['Severity']})"
