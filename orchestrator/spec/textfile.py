"""The files a spec names (the spec, its includes, Dockerfiles) read as text: regular
files only (a FIFO would block, `/dev/zero` never end), UTF-8 only, no NUL; what is
wrong is said with the place (FILE:LINE:COL) and the fix."""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

from orchestrator.errors import Problem

MAX_BYTES = 64 * 1024 * 1024  # a spec or Dockerfile larger than this is not hand-written
BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def kind(path: Path) -> str | None:
    """What `path` is when it is not a regular file ("a folder", "a named pipe"...);
    None for a regular file (through symlinks)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else None
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _where(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    return line, len(data[start:offset].decode("utf-8", "replace")) + 1


def text_problem(path: Path, data: bytes) -> Problem | None:
    """What keeps `data` (the bytes of `path`) from being UTF-8 text, with its place."""
    fix = "save it as UTF-8 text"
    for bom, name in BOMS.items():
        if data.startswith(bom):
            return Problem(path, 1, 1, "", f"the file is {name} text; {fix}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _where(data, exc.start)
        byte = data[exc.start]
        what = "binary data" if b"\0" in data[:8192] else "not UTF-8"
        return Problem(path, line, col, "", f"{what} (byte 0x{byte:02X}); {fix}")
    nul = data.find(b"\0")
    if nul >= 0:
        line, col = _where(data, nul)
        return Problem(path, line, col, "", f"a NUL character; {fix}, without it")
    return None


def read_text(path: Path, *, limit: int = MAX_BYTES) -> tuple[str | None, Problem | None]:
    """The text of `path` (at most `limit` bytes), or the problem that keeps it from
    being read."""
    what = kind(path)
    if what is not None:
        return None, Problem(path, None, None, "", f"is {what}, not a file; give a file")
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return None, Problem(path, None, None, "", "no such file")
    except OSError as exc:
        return None, Problem(path, None, None, "", f"cannot read it ({exc.strerror or exc})")
    if len(data) > limit:
        mb = limit // (1024 * 1024)
        return None, Problem(path, 1, 1, "", f"larger than {mb} MB; not a file to write by hand")
    problem = text_problem(path, data)
    if problem is not None:
        return None, problem
    return data.decode("utf-8"), None
