"""Maps exceptions to one message and an exit code; the only place that does."""

from __future__ import annotations

import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    StackbakeError,
    display_path,
    printable,
)


def crash_log_path() -> Path:
    folder = Path(tempfile.gettempdir()) / "stackbake"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{id(folder):x}.log"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_guarded(body: Callable[[], int]) -> int:
    """Run a command body; user errors exit 2 (or their own code), bugs exit 3. SIGTERM
    stops it as Ctrl-C does (a KeyboardInterrupt: what it started is stopped, partial
    files removed, exit 130) instead of killing it where it stands; runs that build
    install their own handler (cli/build_flags.with_signals)."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        return body()
    except StackbakeError as exc:
        print(printable(exc.render()), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception:
        log = crash_log_path()
        log.write_text(traceback.format_exc(), encoding="utf-8")
        print(
            f"internal error: stackbake hit a bug; the traceback is in {display_path(log)} "
            "(please attach it to a bug report)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def say(line: str) -> None:
    """A line of a command's progress on standard output, made printable as errors are."""
    print(printable(line), flush=True)
