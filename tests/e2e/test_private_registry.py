"""A private registry as the seed material runs one, for real (scripts/secure-registry.sh):
TLS from a private CA given in the spec (`registries:`), htpasswd auth. Without a login
the push fails naming the fix; `stackbake login` with a wrong password says so; with
the right one (from a variable, never a command line) the image is pushed, both
platforms, and read back through skopeo. The password is in no output, report or file
of the run. A registry whose certificate another CA signed, and one that refuses
writes, fail with what is wrong."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.hierarchy import images_removed_after, run_stackbake, write_files

pytestmark = pytest.mark.engine

PASSWORD_ENV = "STACKBAKE_E2E_REGISTRY_PASSWORD"


def stackbake(
    folder: Path, env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return run_stackbake(folder, *args, env=env, stdin=stdin)


def with_ca(folder: Path, secure_registry: dict[str, str]) -> Path:
    """A spec folder holding the private registry's CA as ca.crt."""
    folder.mkdir()
    shutil.copy(secure_registry["SECURE_REGISTRY_CA"], folder / "ca.crt")
    return folder


def test_push_through_a_private_ca_and_a_login(
    tmp_path: Path, secure_registry: dict[str, str], seed_image: str
) -> None:
    host, readonly = secure_registry["SECURE_REGISTRY"], secure_registry["SECURE_REGISTRY_READONLY"]
    untrusted, user = (
        secure_registry["SECURE_REGISTRY_UNTRUSTED"],
        secure_registry["SECURE_REGISTRY_USER"],
    )
    password = Path(secure_registry["SECURE_REGISTRY_PASSWORD_FILE"]).read_text().strip()
    folder, name = with_ca(tmp_path / "spec", secure_registry), f"e2e-{uuid.uuid4().hex[:12]}"
    write_files(
        folder,
        {
            "builds.yaml": f"""\
                version: 1
                registries:
                  {host}: {{ca: ca.crt}}
                  {readonly}: {{ca: ca.crt}}
                defaults: {{context: .}}
                targets:
                  app: {{tags: ["{host}/{name}/app:1"], platforms: [linux/amd64, linux/arm64]}}
                  refused: {{tags: ["{readonly}/{name}/refused:1"]}}
                  rogue: {{tags: ["{untrusted}/{name}/rogue:1"]}}
                """,
            "Dockerfile": f"FROM {seed_image}\nRUN echo {name} > /name\n",
        },
    )
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker-config")}
    with images_removed_after(f"{host}/{name}"), images_removed_after(f"{readonly}/{name}"):
        run = stackbake(
            folder, env, "build", "--push", "--progress", "plain", "--report", "r0.json", "app"
        )
        assert run.returncode == 1, run.stdout + run.stderr
        app = json.loads((folder / "r0.json").read_text())["targets"][0]
        assert (app["status"], app["phase"]) == ("failed", "push"), app
        assert app["reason"].endswith(
            f"(wrong or missing credentials for {host}: stackbake login {host}, or docker login)"
        ), app

        wrong = stackbake(
            folder, env, "login", host, "-u", user, "--password-stdin", stdin="nope\n"
        )
        assert (wrong.returncode, wrong.stderr) == (
            1,
            f"error: login to {host} as {user} refused: wrong username or password\n",
        )
        for registry in (host, readonly):
            logged = stackbake(
                folder,
                {**env, PASSWORD_ENV: password},
                "login",
                registry,
                "-u",
                user,
                "--password-env",
                PASSWORD_ENV,
            )
            assert logged.returncode == 0, logged.stderr
            assert logged.stdout.startswith(f"logged in to {registry} as {user}")
        rogue = stackbake(
            folder, env, "login", untrusted, "-u", user, "--password-stdin", stdin=password
        )
        assert rogue.returncode == 1
        assert rogue.stderr.startswith(
            f"error: login to {untrusted}: its certificate is not trusted ("
        )

        run = stackbake(
            folder, env, "build", "--push", "--progress", "plain", "--report", "r1.json"
        )
        targets = {t["name"]: t for t in json.loads((folder / "r1.json").read_text())["targets"]}
        assert {n: t["status"] for n, t in targets.items()} == {
            "app": "built",
            "refused": "failed",
            "rogue": "failed",
        }, run.stdout + run.stderr
        assert targets["refused"]["reason"].endswith(
            f"({readonly} refuses to write (read-only, or this user may not write there))"
        ), targets["refused"]
        assert targets["rogue"]["reason"].endswith(
            f"({untrusted}'s certificate is not trusted: give its CA in the spec "
            f"(registries: {{{untrusted}: {{ca: FILE}}}}))"
        ), targets["rogue"]

        bundled = stackbake(folder, env, "bundle", "app", "--no-bases", "-o", "app.tar")
        assert bundled.returncode == 0, bundled.stderr
        assert "app: " + f"{host}/{name}/app:1" in bundled.stdout
        assert "linux/amd64, linux/arm64" in bundled.stdout

        outputs = [
            run.stdout,
            run.stderr,
            wrong.stdout,
            wrong.stderr,
            logged.stdout,
            bundled.stdout,
        ]
        assert not [o for o in outputs if password in o]
        leaked = [
            p
            for p in folder.rglob("*")
            if p.is_file() and p.suffix != ".tar" and password.encode() in p.read_bytes()
        ]
        assert leaked == []


def test_insecure_is_checked_against_what_the_engine_does(
    tmp_path: Path, secure_registry: dict[str, str], registry: str, seed_image: str
) -> None:
    host = secure_registry["SECURE_REGISTRY"]
    spec = f"""\
        version: 1
        registries:
          {{host}}: {{{{insecure: true}}}}
        targets:
          app: {{{{context: ., tags: ["{registry}/e2e-{uuid.uuid4().hex[:12]}/app:1"]}}}}
        """
    write_files(
        tmp_path, {"builds.yaml": spec.format(host=registry), "Dockerfile": f"FROM {seed_image}\n"}
    )
    locked = stackbake(tmp_path, dict(os.environ), "lock")  # loopback: the engine skips TLS
    assert locked.returncode == 0, locked.stderr
    write_files(tmp_path, {"builds.yaml": spec.format(host=host)})
    refused = stackbake(tmp_path, dict(os.environ), "lock")
    assert (refused.returncode, refused.stderr) == (
        2,
        f"error: registries.{host}.insecure: the engine verifies {host}'s certificate all the "
        f'same: add "{host}" to "insecure-registries" in /etc/docker/daemon.json and reload '
        "dockerd, or give its CA (ca: FILE) instead\n",
    )


HELPER = """\
#!/bin/sh
# docker-credential-e2e: a credential helper as docker-credential-* programs are (the
# verb as argument, the server on stdin, JSON out), answering from a file.
[ "$1" = get ] || exit 1
cat "$E2E_CREDENTIALS"
"""


def test_credentials_from_a_credential_helper(
    tmp_path: Path, secure_registry: dict[str, str], seed_image: str
) -> None:
    host, user = secure_registry["SECURE_REGISTRY"], secure_registry["SECURE_REGISTRY_USER"]
    password = Path(secure_registry["SECURE_REGISTRY_PASSWORD_FILE"]).read_text().strip()
    name = f"e2e-{uuid.uuid4().hex[:12]}"
    bin_dir, config = tmp_path / "bin", tmp_path / "docker-config"
    secret = tmp_path / "secret" / "credentials.json"
    write_files(bin_dir, {"docker-credential-e2e": HELPER})
    (bin_dir / "docker-credential-e2e").chmod(0o755)
    secret.parent.mkdir()
    secret.write_text(json.dumps({"ServerURL": host, "Username": user, "Secret": password}))
    write_files(config, {"config.json": json.dumps({"credHelpers": {host: "e2e"}})})
    folder = with_ca(tmp_path / "spec", secure_registry)
    write_files(
        folder,
        {
            "builds.yaml": f"""\
                version: 1
                registries:
                  {host}: {{ca: ca.crt}}
                targets:
                  app: {{context: ., tags: ["{host}/{name}/app:1"]}}
                """,
            "Dockerfile": f"FROM {seed_image}\nRUN echo {name} > /name\n",
        },
    )
    env = {
        **os.environ,
        "DOCKER_CONFIG": str(config),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "E2E_CREDENTIALS": str(secret),
    }
    with images_removed_after(f"{host}/{name}"):
        run = stackbake(folder, env, "build", "--push", "--progress", "plain")
        assert run.returncode == 0, run.stdout + run.stderr
        bundled = stackbake(folder, env, "bundle", "--no-bases", "-o", "app.tar")  # skopeo
        assert bundled.returncode == 0, bundled.stderr
        assert password not in run.stdout + run.stderr + bundled.stdout + bundled.stderr
