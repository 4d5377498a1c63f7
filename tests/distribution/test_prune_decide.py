"""The decision of `stackbake prune`, pure: what each rule keeps, what no rule may
delete, and why, exactly."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.distribution.prune_decide import Rules, decide
from orchestrator.distribution.prune_model import Image
from tests.distribution.prune_fixtures import NOW, REG, d, image, stream, table

KEEP_1 = Rules(keep=1, older_than=None, now=NOW)
KEY = "key-" + "9f" * 32
PER_PLATFORM_KEY = "key-" + "5e" * 32


def tree() -> list[Image]:
    """base 1 2 3, app 1 (on base:1's index) and 2 (on a platform manifest of base:2)."""
    b1, b2, b3 = image("base", ["1"], 30), image("base", ["2"], 20), image("base", ["3"], 1)
    a1 = image("app", ["1"], 29, base_digest=b1.digest)
    a2 = image("app", ["2"], 19, base_digest=b2.platforms["linux/arm64"])
    return [b1, b2, b3, a1, a2]


def test_keep_1_keeps_the_newest_the_release_tag_and_what_a_kept_child_builds_on() -> None:
    verdicts = decide(tree(), [stream("base"), stream("app")], KEEP_1, frozenset())
    assert table(verdicts) == [
        ("base:1", False, ("beyond the newest 1",), True),
        ("base:2", True, ("app:2 builds on it",), True),
        ("base:3", True, ("newest 1", "release tag"), True),
        ("app:1", False, ("beyond the newest 1",), True),
        ("app:2", True, ("newest 1",), True),
    ]
    assert [v.stream.target if v.stream else None for v in verdicts] == [
        "base", "base", "base", "app", "app",
    ]  # fmt: skip


def test_older_than_alone_and_both_rules_together() -> None:
    alone = decide(tree(), [stream("base"), stream("app")], Rules(None, 25, NOW), frozenset())
    assert table(alone) == [
        ("base:1", False, ("older than 25 days",), True),
        ("base:2", True, ("not older than 25 days", "app:2 builds on it"), True),
        ("base:3", True, ("not older than 25 days", "release tag"), True),
        ("app:1", False, ("older than 25 days",), True),
        ("app:2", True, ("not older than 25 days",), True),
    ]
    four = [image("base", [str(n)], days) for n, days in ((1, 30), (2, 20), (3, 10), (4, 1))]
    both = decide(four, [stream("base", release="4")], Rules(1, 15, NOW), frozenset())
    assert table(both) == [
        ("base:1", False, ("beyond the newest 1", "older than 15 days"), True),
        ("base:2", False, ("beyond the newest 1", "older than 15 days"), True),
        ("base:3", True, ("not older than 15 days",), True),
        ("base:4", True, ("newest 1", "release tag"), True),
    ]


def test_a_blank_base_digest_finds_the_parent_by_its_layers_the_longest_one() -> None:
    layers = {
        "1": ("L0", "L1-of-1"),
        "2": ("L0", "L1-of-2"),
        "root": ("L0",),  # begins the child too, but is not its closest parent
        "3": ("L0", "L1-of-3"),
    }
    bases = [
        image("base", [tag], days, layers={"linux/amd64": lay, "linux/arm64": lay})
        for (tag, lay), days in zip(layers.items(), (30, 20, 25, 1), strict=True)
    ]
    child = ("L0", "L1-of-2", "LA")
    app = image(
        "app", ["2"], 19, base_name=f"{REG}/base:2",
        layers={"linux/amd64": child, "linux/arm64": child},
    )  # fmt: skip
    template = "${REGISTRY}/${target}:${VERSION}"
    verdicts = decide(
        [*bases, app], [stream("base", template=template), stream("app")], KEEP_1, frozenset()
    )
    assert table(verdicts)[:4] == [
        ("base:1", False, ("beyond the newest 1",), True),
        ("base:2", True, ("app:2 builds on it",), True),
        ("base:root", False, ("beyond the newest 1",), True),
        ("base:3", True, ("newest 1", "release tag"), True),
    ]
    # A platform whose layers do not begin the child's: not its parent.
    crossed = replace(app, layers={"linux/amd64": child, "linux/arm64": ("L0", "other")})
    again = decide([*bases, crossed], [stream("base"), stream("app")], KEEP_1, frozenset())
    assert not again[1].kept


def test_a_label_naming_a_config_counts_and_protection_climbs_the_tree() -> None:
    base = image("base", ["1"], 30, also=frozenset({d("base-config")}))
    runtime = image("runtime", ["1"], 20, base_digest=d("base-config"))
    app = image("app", ["1"], 10, base_digest=runtime.digest)
    newer = [image("base", ["3"], 1), image("runtime", ["3"], 1)]
    streams = [stream("base"), stream("runtime"), stream("app")]
    assert table(decide([base, runtime, app, *newer], streams, KEEP_1, frozenset())) == [
        ("base:1", True, ("runtime:1 builds on it",), True),
        ("runtime:1", True, ("app:1 builds on it",), True),
        ("app:1", True, ("newest 1",), True),
        ("base:3", True, ("newest 1", "release tag"), True),
        ("runtime:3", True, ("newest 1", "release tag"), True),
    ]


def test_builds_lock_and_tags_of_no_stream() -> None:
    template = "${REGISTRY}/${target}:v${VERSION}"
    old, newest = image("base", ["v1", "stable"], 30), image("base", ["v3"], 1)
    locked = image("base", ["v2"], 20)
    shared = image("base", ["shared-1"], 30)  # of no stream: not shown
    lock = frozenset({locked.platforms["linux/amd64"]})
    verdicts = decide(
        [old, newest, locked, shared],
        [stream("base", template=template, release="v3")],
        KEEP_1,
        lock,
    )
    assert table(verdicts) == [
        ("base:v1", True, ("also tagged stable, of no stream",), True),
        ("base:v3", True, ("newest 1", "release tag"), True),
        ("base:v2", True, ("in builds.lock",), True),
        ("base:shared-1", True, ("also tagged shared-1, of no stream",), False),
    ]


def test_targets_not_selected_are_only_read() -> None:
    images = tree()
    verdicts = decide(images, [stream("base", selected=False), stream("app")], KEEP_1, frozenset())
    assert table(verdicts) == [
        ("base:1", True, ("not selected",), False),
        ("base:2", True, ("not selected", "app:2 builds on it"), False),
        ("base:3", True, ("not selected", "release tag"), False),
        ("app:1", False, ("beyond the newest 1",), True),
        ("app:2", True, ("newest 1",), True),
    ]


def test_leftovers_of_stackbakes_own_tags() -> None:
    newest = image("base", ["3"], 1)
    staging = image("base", ["stackbake-build-0123456789ab"], 5)
    both = image("base", [KEY, f"stackbake-{'ab' * 32}-c0ffee123456"], 40)
    per_platform = image(
        "base", [PER_PLATFORM_KEY], 1, index=False,
        digest=d("per-platform index"), children=(newest.platforms["linux/amd64"], d("att")),
        platforms={"linux/amd64": newest.platforms["linux/amd64"]},
    )  # fmt: skip
    listed = image(
        "base", [KEY.replace("9f", "0e")], 1, index=False,
        digest=newest.platforms["linux/arm64"],
    )  # fmt: skip
    images = [newest, staging, both, per_platform, listed]
    assert table(decide(images, [stream("base")], KEEP_1, frozenset())) == [
        ("base:3", True, ("newest 1", "release tag"), True),
        ("base:stackbake-build-0123456789ab", False, ("leftover staging tag",), True),
        (f"base:{KEY}", False, ("leftover key/pin tag",), True),
        (f"base:{PER_PLATFORM_KEY}", True, ("its platforms are in base:3",), True),
        (f"base:{KEY.replace('9f', '0e')}", True, ("listed by base:3",), True),
    ]
    younger = decide(images, [stream("base")], Rules(1, 10, NOW), frozenset())
    assert [v.reasons for v in younger[1:3]] == [
        ("not older than 10 days",),
        ("leftover key/pin tag",),
    ]
    running = image("base", ["stackbake-build-fedcba987654"], 0.5 / 24)
    unknown = image("base", ["stackbake-build-0a0a0a0a0a0a"], None)
    assert table(decide([running, unknown], [stream("base")], KEEP_1, frozenset())) == [
        (
            "base:stackbake-build-fedcba987654", True,
            ("made within the hour: a run may still need it",), True,
        ),
        ("base:stackbake-build-0a0a0a0a0a0a", True, ("creation time unknown",), True),
    ]  # fmt: skip


def test_an_unknown_time_is_kept_and_takes_no_place_among_the_newest() -> None:
    images = [image("base", ["0"], None), image("base", ["1"], 30), image("base", ["2"], 1)]
    assert table(decide(images, [stream("base", release="2")], KEEP_1, frozenset())) == [
        ("base:0", True, ("creation time unknown",), True),
        ("base:1", False, ("beyond the newest 1",), True),
        ("base:2", True, ("newest 1", "release tag"), True),
    ]


def test_an_image_in_two_streams_is_kept_when_either_keeps_it() -> None:
    x = image("base", ["1", "stable-9"], 30)
    y = image("base", ["2"], 10)
    streams = [
        stream("base", release="2"),
        stream("base", template="${REGISTRY}/${target}:stable-${VERSION}", release="stable-3"),
    ]
    assert table(decide([x, y], streams, KEEP_1, frozenset())) == [
        ("base:1", True, ("newest 1",), True),
        ("base:2", True, ("newest 1", "release tag"), True),
    ]
