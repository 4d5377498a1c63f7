"""A stand-in for the cosign binary, put first on PATH by the unit tests: it records
each call (argv, COSIGN_PASSWORD as it got it, $KEEP_ME) in $FAKE_COSIGN_LOG, prints
the lines of $FAKE_COSIGN_SAY ("|" between lines; PASSWORD in them replaced by the
password it got), then exits with $FAKE_COSIGN_EXIT, or waits in `sleep` when
$FAKE_COSIGN_SLEEP is set (its pid in $FAKE_COSIGN_LOG.sleep) for a test to cancel it.
SAY and EXIT may be given per subcommand: $FAKE_COSIGN_EXIT_VERIFY_ATTESTATION."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

BODY = r"""
import json, os, subprocess, sys

env = os.environ
log = env["FAKE_COSIGN_LOG"]
password = env.get("COSIGN_PASSWORD")
with open(log, "a") as out:
    call = {"argv": sys.argv, "password": password, "kept": env.get("KEEP_ME")}
    out.write(json.dumps(call) + "\n")
sub = sys.argv[1].replace("-", "_").upper()


def setting(name, default):
    return env.get(f"FAKE_COSIGN_{name}_{sub}", env.get(f"FAKE_COSIGN_{name}", default))


for line in setting("SAY", "").split("|"):
    if line:
        print(line.replace("PASSWORD", password or ""), flush=True)
if env.get("FAKE_COSIGN_SLEEP"):
    child = subprocess.Popen(["sleep", "300"])
    open(log + ".sleep", "w").write(str(child.pid))
    child.wait()
sys.exit(int(setting("EXIT", "0")))
"""
SCRIPT = f"#!{sys.executable}\n{BODY}"


class FakeCosign:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "cosign"
        self.path.write_text(SCRIPT)
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)
        self.log = folder / "calls.jsonl"
        self.env: dict[str, str] = {"FAKE_COSIGN_LOG": str(self.log)}

    def calls(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [list(map(str, c["argv"])) for c in self.calls()]  # type: ignore[call-overload]

    def environ(self, **more: str) -> dict[str, str]:
        """The environment a call under test gets: ours, the fake's settings, `more`."""
        return {**os.environ, **self.env, **more}

    def sleeper_alive(self) -> bool:
        pid_file = Path(f"{self.log}.sleep")
        if not pid_file.exists():
            return False
        try:
            stat_line = Path(f"/proc/{pid_file.read_text().strip()}/stat").read_text()
        except OSError:
            return False
        return stat_line.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone
