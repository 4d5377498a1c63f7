"""Files written so that readers see the old or the new content, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def as_created(fd: int) -> None:
    """The mode a file made with open() would have (0666 less the umask), not the 0600
    of mkstemp: a lock file, a record or an archive others may read."""
    os.fchmod(fd, 0o666 & ~_umask())


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file beside it and `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        as_created(fd)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
