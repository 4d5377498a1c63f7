"""Secret values never reach logs: every line is masked before anyone sees it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.spec.model import Secret

MASK = "***"
MAX_SECRET_FILE = 64 * 1024


class Redactor:
    def __init__(self, values: Iterable[str]) -> None:
        # Longest first, so a secret containing another is masked whole.
        self.values = sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)

    @classmethod
    def for_secrets(cls, secrets: Iterable[Secret], environ: Mapping[str, str]) -> Redactor:
        values: list[str] = []
        for secret in secrets:
            if secret.env and environ.get(secret.env):
                values.append(environ[secret.env])
            elif (
                secret.src and secret.src.is_file() and secret.src.stat().st_size <= MAX_SECRET_FILE
            ):
                text = Path(secret.src).read_text(encoding="utf-8", errors="replace")
                values.append(text)
                values += [line.strip() for line in text.splitlines()]
        return cls(values)

    def __call__(self, line: str) -> str:
        for value in self.values:
            if value in line:
                line = line.replace(value, MASK)
        return line
