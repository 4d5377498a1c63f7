"""A target's quality gates and its signing key, as the spec writes them (`gates:` and
`sign:`, in `defaults` or a target): frozen dataclasses, and the one place that turns
the written mapping into them. A target's `gates` merge gate by gate over the
defaults' (`gates: {scan: false}` turns one gate off); `sign` is taken whole."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The gates, in the order they run and are reported.
GATE_NAMES = (
    "hadolint",
    "bases",
    "max_size",
    "max_layers",
    "labels",
    "user",
    "healthcheck",
    "structure_tests",
    "scan",
    "sbom",
)
THRESHOLDS = ("error", "warning", "info", "style")  # hadolint's, most severe first
SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")  # trivy's
SCANNERS = ("vuln", "secret", "misconfig", "license")
SBOM_FORMATS = ("cyclonedx", "spdx-json")
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$", re.IGNORECASE)


def parse_size(value: int | str) -> int:
    """Bytes, from an integer or "500MB", "1.5GB", "300MiB" (kB/MB/GB are powers of
    1000, KiB/MiB/GiB of 1024). The schema has checked the form."""
    if isinstance(value, int):
        return value
    found = SIZE.match(value)
    if not found:
        raise ValueError(f"not a size: {value!r}")
    number, unit = found.groups()
    return int(float(number) * _UNITS[(unit or "b").lower()])


def show_size(size: int) -> str:
    """612 MB, 1.2 GB, 800 kB: as `docker images` shows sizes (powers of 1000)."""
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            shown = size / factor
            return f"{shown:.1f} {unit}" if shown < 10 else f"{shown:.0f} {unit}"
    return f"{size} B"


@dataclass(frozen=True)
class Hadolint:
    threshold: str = "error"  # findings at or above it fail
    ignore: tuple[str, ...] = ()  # rule ids (DL3008, SC2086)


@dataclass(frozen=True)
class Scan:
    scanners: tuple[str, ...] = ("vuln", "secret", "misconfig")
    severity: tuple[str, ...] = ("HIGH", "CRITICAL")  # findings of these fail
    ignore_file: Path | None = None  # a .trivyignore (relative to the target's context)
    # The vulnerability database: a folder holding trivy's db (db/trivy.db, as
    # `trivy --cache-dir` keeps it), or an OCI repository mirroring it (`--db-repository`).
    db: str | None = None


@dataclass(frozen=True)
class Gates:
    max_size: int | None = None  # bytes, per platform, uncompressed
    max_layers: int | None = None
    labels: tuple[str, ...] = ()  # required labels
    bases: tuple[str, ...] = ()  # globs every external base must match
    user: str | None = None  # "non-root": the image's USER is not root, 0 or empty
    healthcheck: bool = False  # required
    hadolint: Hadolint | None = None
    structure_tests: tuple[Path, ...] = ()  # container-structure-test configs
    scan: Scan | None = None
    sbom: str | None = None  # cyclonedx | spdx-json

    def names(self) -> tuple[str, ...]:
        """The gates turned on, in the order they run."""
        on = {
            "hadolint": self.hadolint is not None,
            "bases": bool(self.bases),
            "max_size": self.max_size is not None,
            "max_layers": self.max_layers is not None,
            "labels": bool(self.labels),
            "user": self.user is not None,
            "healthcheck": self.healthcheck,
            "structure_tests": bool(self.structure_tests),
            "scan": self.scan is not None,
            "sbom": self.sbom is not None,
        }
        return tuple(n for n in GATE_NAMES if on[n])

    def on_image(self, skipped: frozenset[str] = frozenset()) -> tuple[str, ...]:
        """The gates that run on a built image (hadolint runs on the Dockerfile, and
        `bases` on the graph before anything builds, as well as on the image)."""
        return tuple(n for n in self.names() if n != "hadolint" and n not in skipped)


@dataclass(frozen=True)
class Signing:
    key: str  # a cosign private key file, or a KMS URI (awskms://, gcpkms://, hashivault://...)
    password_env: str | None = None  # the variable holding the key's password
    public_key: str | None = None  # for verify; default: the key file's .pub sibling

    @property
    def verify_key(self) -> str:
        if self.public_key:
            return self.public_key
        if "://" in self.key:
            return self.key  # cosign derives the public key from a KMS key
        return str(Path(self.key).with_suffix(".pub"))


def gates_from(written: Mapping[str, Any], path: Callable[[str], Path]) -> Gates:
    """`gates:` as merged (gate by gate) and interpolated; a gate set to false is off.
    `path`: a path written for the target, made absolute (relative to its context)."""
    on = {k: v for k, v in written.items() if v is not False and v is not None}
    hadolint = on.get("hadolint")
    scan = on.get("scan")
    return Gates(
        max_size=parse_size(on["max_size"]) if "max_size" in on else None,
        max_layers=on.get("max_layers"),
        labels=tuple(on.get("labels", ())),
        bases=tuple(on.get("bases", ())),
        user=on.get("user"),
        healthcheck=on.get("healthcheck") == "required",
        hadolint=_hadolint(hadolint) if hadolint is not None else None,
        structure_tests=tuple(path(p) for p in on.get("structure_tests", ())),
        scan=_scan(scan, path) if scan is not None else None,
        sbom=on.get("sbom"),
    )


def _hadolint(written: Any) -> Hadolint:
    if written is True:
        return Hadolint()
    return Hadolint(written.get("threshold", "error"), tuple(written.get("ignore", ())))


def _scan(written: Any, path: Callable[[str], Path]) -> Scan:
    if written is True:
        return Scan()
    default = Scan()
    ignore = written.get("ignore_file")
    return Scan(
        tuple(written.get("scanners", default.scanners)),
        tuple(s.upper() for s in written.get("severity", default.severity)),
        path(ignore) if ignore else None,
        written.get("db"),
    )


def signing_from(written: Mapping[str, Any] | None) -> Signing | None:
    if not written:
        return None
    return Signing(written["key"], written.get("password_env"), written.get("public_key"))
