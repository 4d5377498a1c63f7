"""`docker login` with the password on standard input, never on a command line: the
credentials go where docker keeps them (DOCKER_CONFIG's config.json, or its credential
store), which buildx, imagetools, skopeo and cosign all read. Driven directly:
python-on-whales' login does not capture docker's error, so a wrong password could not
be told from an untrusted certificate."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from orchestrator.backend.failures import UNTRUSTED
from orchestrator.errors import EngineError

WRONG = ("401 Unauthorized", "unauthorized: incorrect username or password")


def docker_login(registry: str, username: str, password: str, environ: Mapping[str, str]) -> str:
    """Log in; docker's own account of it (where the credentials went). EngineError
    saying why not: a wrong password, an untrusted certificate, no answer."""
    try:
        done = subprocess.run(
            ["docker", "login", "--username", username, "--password-stdin", registry],
            input=password,
            capture_output=True,
            text=True,
            env=dict(environ),
            timeout=120,
            check=False,
        )
    except OSError as exc:
        raise EngineError(f"cannot run the docker client ({exc.strerror or exc})") from None
    except subprocess.TimeoutExpired:
        raise EngineError(f"login to {registry}: no answer in 120 s") from None
    said = (done.stderr.strip() or done.stdout.strip()).replace(password, "***")
    if done.returncode == 0:
        return done.stdout.strip()
    last = (said.splitlines() or ["failed"])[-1]
    if any(w in said for w in WRONG):
        raise EngineError(f"login to {registry} as {username} refused: wrong username or password")
    if UNTRUSTED.search(said):
        raise EngineError(
            f"login to {registry}: its certificate is not trusted ({last}); give its CA in "
            f"the spec (registries: {{{registry}: {{ca: FILE}}}}) and log in from its folder"
        )
    raise EngineError(f"login to {registry} failed: {last}")
