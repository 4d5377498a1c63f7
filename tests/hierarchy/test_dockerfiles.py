from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.hierarchy.dockerfiles import (
    DockerfileError,
    analyze,
    expand,
    parse,
    platform_args,
)


def uses(
    tmp_path: Path,
    text: str,
    *,
    args: dict[str, str] | None = None,
    platform: str = "linux/amd64",
    wanted: tuple[str | None, ...] = (None,),
) -> list[tuple[str, int, str]]:
    path = tmp_path / "Dockerfile"
    path.write_text(text, encoding="utf-8")
    analysis = analyze(
        parse(path),
        build_args=args or {},
        platform=platform,
        build_platform="linux/amd64",
        wanted=wanted,
    )
    return [(u.ref, u.line, u.instruction) for u in analysis.images]


def test_arg_default_and_override(tmp_path: Path) -> None:
    text = "ARG REG=acme\nARG TAG=1\nFROM ${REG}/base:$TAG\n"
    assert uses(tmp_path, text) == [("acme/base:1", 3, "FROM")]
    assert uses(tmp_path, text, args={"TAG": "2"}) == [("acme/base:2", 3, "FROM")]


def test_arg_default_may_use_earlier_arg(tmp_path: Path) -> None:
    text = "ARG REG=acme\nARG IMAGE=${REG}/base\nFROM ${IMAGE}:1\n"
    assert uses(tmp_path, text, args={"REG": "other"}) == [("other/base:1", 3, "FROM")]


def test_expansion_forms() -> None:
    scope = {"SET": "v", "EMPTY": ""}
    assert expand("${SET:-d}|${UNSET:-d}|${EMPTY:-d}|${EMPTY-d}", scope) == "v|d|d|"
    assert expand("${SET:+alt}|${UNSET:+alt}|${EMPTY+alt}|\\$SET|$SET", scope) == "alt||alt|$SET|v"


def test_stage_aliases_are_not_images(tmp_path: Path) -> None:
    text = (
        "FROM acme/py:1 AS Build\nRUN make\n"
        "FROM build AS test\nRUN make test\n"
        "FROM scratch AS runtime\nCOPY --from=BUILD /out /app\nCOPY --from=0 /x /x\n"
    )
    assert uses(tmp_path, text) == [("acme/py:1", 1, "FROM")]


def test_copy_from_and_mount_from_images(tmp_path: Path) -> None:
    text = (
        "ARG TOOLS=acme/tools:2\n"
        "FROM acme/base:1\n"
        "ARG TOOLS\n"
        "COPY --from=acme/tools:2 /bin/tool /usr/bin/tool\n"
        "RUN --mount=type=bind,from=acme/wheels:3,target=/wheels \\\n    pip install /wheels/*\n"
        "RUN --mount=type=cache,target=/root/.cache true\n"
    )
    assert uses(tmp_path, text) == [
        ("acme/base:1", 2, "FROM"),
        ("acme/tools:2", 4, "COPY --from"),
        ("acme/wheels:3", 5, "RUN --mount from"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "COPY --from=${TOOLS} /a /a",
            "COPY --from=${TOOLS}: BuildKit does not expand variables here; name the image in a "
            "stage (FROM ${TOOLS} AS some-name) and use COPY --from=some-name",
        ),
        (
            "RUN --mount=type=bind,from=$TOOLS,target=/t true",
            "RUN --mount from=$TOOLS: BuildKit does not expand variables here; name the image in "
            "a stage (FROM $TOOLS AS some-name) and use RUN --mount from=some-name",
        ),
    ],
)
def test_variables_in_from_flags_are_refused_as_buildkit_does(
    tmp_path: Path, line: str, message: str
) -> None:
    with pytest.raises(DockerfileError) as info:
        uses(tmp_path, f"ARG TOOLS=acme/tools:2\nFROM acme/base:1\n{line}\n")
    assert (info.value.line, str(info.value)) == (3, message)


def test_only_stages_the_wanted_ones_need(tmp_path: Path) -> None:
    text = (
        "FROM acme/py:1 AS build\n"
        "FROM acme/lint:1 AS lint\n"
        "FROM build AS test\nCOPY --from=acme/testdata:1 / /data\n"
        "FROM acme/slim:1 AS runtime\nCOPY --from=build /out /app\n"
    )
    assert uses(tmp_path, text, wanted=("runtime",)) == [
        ("acme/py:1", 1, "FROM"),
        ("acme/slim:1", 5, "FROM"),
    ]
    assert uses(tmp_path, text, wanted=("runtime", "test")) == [
        ("acme/py:1", 1, "FROM"),
        ("acme/testdata:1", 4, "COPY --from"),
        ("acme/slim:1", 5, "FROM"),
    ]


def test_platform_args_in_from(tmp_path: Path) -> None:
    text = "FROM acme/base-${TARGETARCH}:1\n"
    assert uses(tmp_path, text, platform="linux/arm64") == [("acme/base-arm64:1", 1, "FROM")]
    assert platform_args("linux/arm/v7", "linux/amd64")["TARGETVARIANT"] == "v7"


def test_line_continuations_and_heredocs_parse_like_buildkit(tmp_path: Path) -> None:
    text = (
        "FROM \\\n  acme/base:1\n"
        "RUN <<EOF\nFROM not/an-instruction\nEOF\n"
        "COPY --from=acme/x:1 \\\n   /a /b\n"
    )
    assert uses(tmp_path, text) == [("acme/base:1", 1, "FROM"), ("acme/x:1", 6, "COPY --from")]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("RUN true\nFROM a\n", 1, "RUN before the first FROM; only ARG may come before it"),
        ("ARG X=1\n", 1, "has no FROM instruction; a Dockerfile starts from an image"),
        ("FROM a\nCPY x y\n", 2, "unknown instruction CPY; did you mean 'COPY'?"),
    ],
)
def test_parse_errors(tmp_path: Path, text: str, line: int | None, message: str) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DockerfileError) as info:
        parse(path)
    assert (info.value.line, str(info.value)) == (line, message)


def test_base_follows_stage_aliases_to_the_image(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(
        "FROM acme/api:1 AS api\n"
        "FROM acme/web:1 AS build\nRUN make\n"
        "FROM build AS runtime\nCOPY --from=api /a /a\n"
    )
    analysis = analyze(
        parse(path),
        build_args={},
        platform="linux/amd64",
        build_platform="linux/amd64",
        wanted=("runtime",),
    )
    assert analysis.base is not None
    assert (analysis.base.ref, analysis.base.line) == ("acme/web:1", 2)
    assert [u.ref for u in analysis.images] == ["acme/api:1", "acme/web:1"]
