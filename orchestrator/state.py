"""What stackbake remembers between runs, in `.stackbake/` next to the spec:
each target's last build duration, to schedule the longest chains first."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

STATE_DIR = ".stackbake"


def write_atomic(path: Path, text: str) -> None:
    """Write a file so readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Durations:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "durations.json"

    def load(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: float(v) for k, v in data.items() if isinstance(v, int | float)}

    def save(self, measured: Mapping[str, float]) -> None:
        data = self.load() | dict(measured)
        write_atomic(self.path, json.dumps(dict(sorted(data.items())), indent=1) + "\n")
