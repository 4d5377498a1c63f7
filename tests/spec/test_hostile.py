"""Hostile input: each class a spec author (or an attacker) can send, handled as bad
input (exit 2, FILE:LINE:COL and the fix, no traceback), or accepted when it is valid.
Bounds (time, memory) are measured by benchmarks/hostile.py, not asserted here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import Result, run_cli, write_tree

APP = {"app/Dockerfile": "FROM alpine\n"}


def spec(body: str) -> str:
    return "version: 1\n" + body


def cli(
    tmp_path: Path,
    files: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
) -> Result:
    write_tree(tmp_path, files)
    return run_cli(list(args) or ["validate"], tmp_path, capsys, monkeypatch)


def refused(result: Result, message: str) -> None:
    assert result.code == 2, result
    assert "Traceback" not in result.err
    assert result.err.splitlines()[0] == message


# --- YAML aliases and nesting -------------------------------------------------------


def test_an_alias_bomb_is_stopped_at_the_alias(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in "bcdefghi":
        prev = chr(ord(i) - 1)
        levels.append(f"{i}: &{i} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = "x-bomb:\n" + "".join(f"  {line}\n" for line in levels)
    result = cli(tmp_path, {"builds.yaml": spec(text)}, capsys, monkeypatch)
    assert result.code == 2
    first = result.err.splitlines()[0]
    assert first.startswith("builds.yaml:")
    assert first.endswith(
        "YAML aliases here expand to far more values than the file holds (an alias bomb?); "
        "write the values out, or use fewer nested aliases"
    )


def test_an_alias_inside_its_own_value_is_a_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli(tmp_path, {"builds.yaml": spec("x-loop: &a [*a]\n")}, capsys, monkeypatch)
    refused(
        result,
        "builds.yaml:2:9: x-loop[0]: this alias refers to a value that holds it: a loop; "
        "write the value out",
    )


def test_deep_nesting_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "x-deep: " + "[" * 300 + "]" * 300 + "\n"
    result = cli(tmp_path, {"builds.yaml": spec(text)}, capsys, monkeypatch)
    assert result.code == 2
    assert result.err.splitlines()[0].endswith("nested more than 200 levels deep")


def test_a_merge_key_override_is_standard_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = spec(
        "x-base: &base {context: app, description: from the base}\n"
        "targets:\n"
        "  app:\n"
        "    <<: *base\n"
        "    description: its own\n"
    )
    result = cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch, "ls")
    assert result.code == 0, result
    assert "its own" in result.out
    assert "from the base" not in result.out


def test_a_yaml_tag_on_a_list_is_not_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = spec("targets:\n  app:\n    context: app\n    tags: !custom [r.example/a:1]\n")
    result = cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch)
    refused(
        result,
        "builds.yaml:5:11: targets.app.tags: YAML tag !custom is not supported here; remove it",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "    args: {V: 010}",
            "builds.yaml:5:15: targets.app.args.V: 010 is read by YAML as 8; quote it ('010') "
            "if you mean the text",
        ),
        (
            "    labels: {v: 1.10}",
            "builds.yaml:5:17: targets.app.labels.v: 1.10 is read by YAML as 1.1; quote it "
            "('1.10') if you mean the text",
        ),
        (
            "    args: {on: x}",
            "builds.yaml:5:12: targets.app.args: the key on is read by YAML as true, not as "
            "text; quote it ('on')",
        ),
        (
            "    no_cache: yes",
            "builds.yaml:5:15: targets.app.no_cache: yes is read by YAML as true; quote it "
            "('yes') if you mean the text, or write true or false",
        ),
        (
            "    labels: {built: 2026-12-02}",
            "builds.yaml:5:21: targets.app.labels.built: 2026-12-02 is read by YAML as a date; "
            "quote it ('2026-12-02')",
        ),
    ],
    ids=["octal", "float", "key-on", "yes", "date"],
)
def test_yaml_1_1_traps_are_refused_with_a_hint_to_quote(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    message: str,
) -> None:
    text = spec(f"targets:\n  app:\n    context: app\n{line}\n")
    result = cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch)
    refused(result, message)


# --- variables ----------------------------------------------------------------------


def test_variables_that_double_per_level_are_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f'  D{i}: "${{D{i + 1}}}${{D{i + 1}}}"' for i in range(1, 26)] + ["  D26: x"]
    text = spec(
        "variables:\n" + "\n".join(lines) + "\ntargets:\n  app:\n    context: app\n"
        '    labels: {a: "${D1}"}\n'
    )
    result = cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch)
    refused(
        result,
        "builds.yaml:8:3: variables.D6: ${D6} expands to more than 1 MB of text (variables "
        "that repeat each other?); simplify it",
    )


def test_a_long_chain_of_variables_is_no_recursion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = "".join(f'  C{i}: "${{C{i + 1}}}"\n' for i in range(2000)) + "  C2000: end\n"
    text = spec(
        "variables:\n" + chain + 'targets:\n  app:\n    context: app\n    labels: {a: "${C0}"}\n'
    )
    result = cli(
        tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch, "plan", "--format", "json"
    )
    assert result.code == 0, result
    assert '"a": "end"' in result.out


# --- files that are not text --------------------------------------------------------


def test_a_dockerfile_that_is_a_pipe_a_device_or_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = spec("targets:\n  app: {context: app}\n")
    write_tree(tmp_path, {"builds.yaml": text})
    (tmp_path / "app").mkdir()
    os.mkfifo(tmp_path / "app/Dockerfile")
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    refused(
        result,
        "builds.yaml:3:3: targets.app: Dockerfile app/Dockerfile is a named pipe, not a file; "
        "fix 'dockerfile' (relative to the context)",
    )
    (tmp_path / "app/Dockerfile").unlink()
    (tmp_path / "app/Dockerfile").symlink_to("/dev/zero")
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    assert "Dockerfile app/Dockerfile is outside the folder of builds.yaml" in result.err
    (tmp_path / "app/Dockerfile").unlink()
    (tmp_path / "app/Dockerfile").mkdir()
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    assert "Dockerfile app/Dockerfile is a folder, not a file" in result.err


def test_an_include_that_is_a_pipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"builds.yaml": spec("include: [team.yaml]\ntargets: {}\n")})
    os.mkfifo(tmp_path / "team.yaml")
    result = run_cli(["validate"], tmp_path, capsys, monkeypatch)
    refused(
        result,
        "builds.yaml:2:11: include[0]: included file 'team.yaml' is a named pipe, not a file; "
        "fix the path (relative to this file)",
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"version: 1\nx-name: caf\xe9\n",
            "builds.yaml:2:12: not UTF-8 (byte 0xE9); save it as UTF-8 text",
        ),
        (
            "version: 1\n".encode("utf-16"),
            "builds.yaml:1:1: the file is UTF-16 text; save it as UTF-8 text",
        ),
        (
            b"version: 1\nx: a\0b\n",
            "builds.yaml:2:5: a NUL character; save it as UTF-8 text, without it",
        ),
        (
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff",
            "builds.yaml:1:1: binary data (byte 0x89); save it as UTF-8 text",
        ),
    ],
    ids=["latin-1", "utf-16", "nul", "binary"],
)
def test_a_spec_that_is_not_utf8_text(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    message: str,
) -> None:
    (tmp_path / "builds.yaml").write_bytes(data)
    refused(run_cli(["validate"], tmp_path, capsys, monkeypatch), message)


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (b"FROM\n", "app/Dockerfile:1:1: FROM names no image; write FROM IMAGE [AS NAME]"),
        (
            b'FROM alpine\nLABEL a="\xe9"\n',
            "app/Dockerfile:2:10: not UTF-8 (byte 0xE9); save it as UTF-8 text",
        ),
        (
            b"FROM alpine\nRUN a\0b\n",
            "app/Dockerfile:2:6: a NUL character; save it as UTF-8 text, without it",
        ),
        (
            b"FROM alpine\nCOPY --from= /a /b\n",
            "app/Dockerfile:2:1: COPY --from= names nothing; write COPY --from=STAGE or "
            "COPY --from=IMAGE",
        ),
    ],
    ids=["bare-from", "latin-1", "nul", "empty-from"],
)
def test_a_dockerfile_that_is_not_what_buildkit_reads(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dockerfile: bytes,
    message: str,
) -> None:
    write_tree(tmp_path, {"builds.yaml": spec("targets:\n  app: {context: app}\n")})
    (tmp_path / "app").mkdir()
    (tmp_path / "app/Dockerfile").write_bytes(dockerfile)
    refused(run_cli(["validate"], tmp_path, capsys, monkeypatch), f"{message} (target 'app')")


def test_an_include_loop_through_dotdot_is_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "builds.yaml": spec("include: [sub/../b.yaml]\ntargets: {}\n"),
        "b.yaml": spec("include: [./builds.yaml]\ntargets: {}\n"),
        "sub/.keep": "",
    }
    result = cli(tmp_path, files, capsys, monkeypatch)
    refused(
        result,
        "b.yaml:2:11: include[0]: include loop: builds.yaml -> b.yaml -> builds.yaml; remove one",
    )


# --- accepted before, but invalid ---------------------------------------------------


def test_a_context_that_leaves_the_folder_through_a_symlink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    write_tree(outside, APP)
    root = tmp_path / "root"
    write_tree(root, {"builds.yaml": spec("targets:\n  app: {context: app}\n")})
    (root / "app").symlink_to(outside / "app")
    refused(
        run_cli(["validate"], root, capsys, monkeypatch),
        "builds.yaml:3:18: targets.app.context: context app is outside the folder of "
        "builds.yaml (through a symbolic link); move it inside or pass --allow-outside-context",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "    tags: [r.example/app:vé1]",
            "builds.yaml:5:12: targets.app.tags[0]: tag 'r.example/app:vé1' has characters "
            "that are not ASCII; image references are ASCII only",
        ),
        (
            f"    tags: [r.example/{'a' * 250}:1]",
            f"builds.yaml:5:12: targets.app.tags[0]: tag 'r.example/{'a' * 250}:1' has a "
            "repository name over 255 characters; shorten it",
        ),
        (
            '    cache_from: ["type=bogus,ref=r.example/c"]',
            "builds.yaml:5:18: targets.app.cache_from[0]: unknown cache type 'bogus' (one of "
            "registry, local, inline, gha, s3, azblob)",
        ),
        (
            '    labels: {"a=b": x}',
            "builds.yaml:5:21: targets.app.labels.a=b: label key 'a=b' holds '=' or spaces, "
            "which --label cannot pass; rename it",
        ),
        (
            "    secrets: [{id: tok, src: missing.txt}]",
            "builds.yaml:5:15: targets.app.secrets[0]: secret 'tok': file missing.txt does not "
            "exist",
        ),
        (
            "    secrets: [{id: tok, src: app}]",
            "builds.yaml:5:15: targets.app.secrets[0]: secret 'tok': file app is a folder, not "
            "a file",
        ),
    ],
    ids=[
        "non-ascii-tag",
        "long-repository",
        "cache-type",
        "label-key",
        "secret-missing",
        "secret-folder",
    ],
)
def test_values_that_were_accepted_but_are_invalid(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    message: str,
) -> None:
    text = spec(f"targets:\n  app:\n    context: app\n{line}\n")
    refused(cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch), message)


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "app.network=bogus",
            "error: --set 'app.network=bogus': network: 'bogus' is not allowed; use one of: "
            "default, none, host",
        ),
        ("app.platforms=", "error: --set 'app.platforms=': platforms: must not be empty"),
    ],
)
def test_set_values_are_checked_as_in_yaml(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flag: str,
    message: str,
) -> None:
    text = spec("targets:\n  app: {context: app}\n")
    refused(
        cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch, "--set", flag, "validate"),
        message,
    )


# --- valid, but refused before -------------------------------------------------------


def test_arm64_and_arm64_v8_are_one_platform(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {
        "builds.yaml": spec(
            "targets:\n"
            "  p: {context: p, tags: [r.example/p:1], platforms: [linux/arm64]}\n"
            "  c: {context: c, platforms: [linux/arm64/v8]}\n"
            "  d: {context: d, platforms: [linux/arm64/v8.1]}\n"
        ),
        "p/Dockerfile": "FROM alpine\n",
        "c/Dockerfile": "FROM r.example/p:1\n",
        "d/Dockerfile": "FROM alpine\n",
    }
    result = cli(tmp_path, files, capsys, monkeypatch)
    assert result.code == 0, result


# --- output ----------------------------------------------------------------------


def test_control_characters_never_reach_the_terminal_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = spec(
        'targets:\n  app:\n    context: app\n    description: "red \\e[31m bell \\a cr \\r end"\n'
    )
    result = cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch, "ls")
    assert result.code == 0, result
    assert "\x1b" not in result.out
    assert "\a" not in result.out
    assert "\r" not in result.out
    assert "red \\x1b[31m bell \\x07 cr \\x0d end" in result.out
    bad = spec('targets:\n  app:\n    context: app\n    tags: ["r.example/\\e[2Japp:1"]\n')
    result = cli(tmp_path, {"builds.yaml": bad}, capsys, monkeypatch)
    assert result.code == 2
    assert "\x1b" not in result.err
    assert "\\x1b[2J" in result.err


# --- messages that misled -------------------------------------------------------------


def test_an_unknown_flag_is_matched_against_the_commands_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = spec("targets:\n  app: {context: app}\n")
    result = cli(
        tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch, "validate", "--frobnicate"
    )
    assert result.code == 2
    assert result.err.splitlines()[0] == "error: unrecognized arguments: --frobnicate"
    result = run_cli(["build", "--forc", "app"], tmp_path, capsys, monkeypatch)
    assert (
        result.err.splitlines()[0]
        == "error: unrecognized arguments: --forc; did you mean '--force'?"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "    platforms: [linux/arm64, linux/arm64/v8]",
            "builds.yaml:5:30: targets.app.platforms[1]: linux/arm64/v8 is linux/arm64 again "
            "(platforms[0]); remove one",
        ),
        (
            "    secrets: [{id: a, env: A}, {id: a, env: B}]",
            "builds.yaml:5:32: targets.app.secrets[1]: secret id 'a' is also secrets[0]; give "
            "each its own id",
        ),
        (
            '    ssh: ["key="]',
            "builds.yaml:5:11: targets.app.ssh[0]: ssh 'key=': write default, ID, or ID=PATH "
            "(an agent socket or a key)",
        ),
        (
            "    dockerfile: ../../../etc/hostname",
            "builds.yaml:5:17: targets.app.dockerfile: Dockerfile ../../etc/hostname is outside "
            "the folder of builds.yaml; move it inside or pass --allow-outside-context",
        ),
        (
            "    args: {N: " + "9" * 5000 + "}",
            "builds.yaml:5:15: targets.app.args.N: a number too long to read; quote it",
        ),
    ],
    ids=["same-platform", "same-secret", "ssh", "dockerfile-outside", "long-number"],
)
def test_more_values_that_were_accepted_but_are_invalid(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    message: str,
) -> None:
    text = spec(f"targets:\n  app:\n    context: app\n{line}\n")
    refused(cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch), message)


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (
            "FROM alpine AS a\nCOPY --from=a /x /y\n",
            "app/Dockerfile:2:1: COPY --from=a names the stage it is in; name an earlier stage "
            "or an image (target 'app')",
        ),
        (
            "FROM alpine\nRUN --mount=type=cache,from= true\n",
            "app/Dockerfile:2:1: RUN --mount from= names nothing; write RUN --mount from=STAGE "
            "or RUN --mount from=IMAGE (target 'app')",
        ),
        (
            "ARG X=1\n",
            "app/Dockerfile:1:1: has no FROM instruction; a Dockerfile starts from an image "
            "(target 'app')",
        ),
    ],
    ids=["own-stage", "empty-mount-from", "no-from"],
)
def test_more_dockerfiles_buildkit_would_refuse(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    dockerfile: str,
    message: str,
) -> None:
    files = {"builds.yaml": spec("targets:\n  app: {context: app}\n"), "app/Dockerfile": dockerfile}
    refused(cli(tmp_path, files, capsys, monkeypatch), message)


def test_a_control_character_in_yaml_is_placed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "builds.yaml").write_text("version: 1\nx-a: b\x1bc\n")
    refused(
        run_cli(["validate"], tmp_path, capsys, monkeypatch),
        "builds.yaml:2:7: invalid YAML: character U+001B is not allowed; write it as an escape "
        "in a double-quoted string (\\x..)",
    )


def test_a_newline_or_a_bidi_mark_cannot_forge_lines_of_ls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = spec(
        "targets:\n  app:\n    context: app\n"
        '    description: "x\\nbuilds.yaml:1:1: spoofed \\u202e"\n'
    )
    result = cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch, "ls")
    assert result.code == 0
    assert not any(line.startswith("builds.yaml:1:1") for line in result.out.splitlines())
    assert "x\\nbuilds.yaml:1:1: spoofed \\u202e" in result.out


def test_architecture_aliases_are_platforms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = spec("targets:\n  app: {context: app, platforms: [linux/x86_64, linux/aarch64]}\n")
    assert cli(tmp_path, {"builds.yaml": text, **APP}, capsys, monkeypatch).code == 0


def test_long_chains_and_nestings_are_no_recursion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = "".join(
        f"  t{i}: {{context: app{', depends_on: [t' + str(i - 1) + ']' if i else ''}}}\n"
        for i in range(1200)
    )
    groups = "".join(f"  g{i}: [g{i + 1}]\n" for i in range(2500)) + "  g2500: [t0]\n"
    text = spec(f"targets:\n{chain}groups:\n{groups}")
    files = {"builds.yaml": text, **APP}
    assert cli(tmp_path, files, capsys, monkeypatch, "graph").code == 0
    result = run_cli(["plan", "g0"], tmp_path, capsys, monkeypatch)
    assert result.code == 0, result.err
    assert run_cli(["ls"], tmp_path, capsys, monkeypatch).code == 0
