"""What prune prints, exactly: image lines, failures, leftover signatures, summaries;
and the times and sizes they show."""

from __future__ import annotations

import datetime as dt

from orchestrator.distribution.prune_decide import Verdict
from orchestrator.distribution.prune_model import Image, human_bytes, parse_created, short
from orchestrator.distribution.prune_output import Shown, lines, orphan_lines, summary
from tests.distribution.prune_fixtures import NOW, REG, d, stream

KEY = "key-" + "3f2a9c01b7e4" + "0" * 52


def test_lines_per_stream_newest_first_with_failures_said() -> None:
    base = stream("base")
    kept = Image(f"{REG}/base", d("3"), ("3", KEY), created=NOW - 0.5 * 86400, size=3_100_000)
    gone = Image(f"{REG}/base", d("1"), ("1",), created=NOW - 12.9 * 86400)
    stuck = Image(f"{REG}/base", d("2"), ("2",), created=None)
    shown = [
        Shown(Verdict(gone, False, ("beyond the newest 1",), base, True), freed=9_600),
        Shown(Verdict(stuck, False, ("beyond the newest 1",), base, True), 0, "denied"),
        Shown(Verdict(kept, True, ("newest 1", "release tag"), base, True)),
    ]
    assert lines(shown, NOW, dry_run=False) == [
        f"base: ${{REGISTRY}}/${{target}}:${{VERSION}} in {REG}/base",
        f"  kept          3, key-3f2a9c01b7e4…  {short(d('3'))}  0 days  3.1 MB  "
        "kept: newest 1; release tag",
        f"  deleted       1  {short(d('1'))}  12 days  9.6 kB  beyond the newest 1",
        f"  not deleted   2  {short(d('2'))}  age unknown  0 B  denied",
    ]
    assert lines(shown[:1], NOW, dry_run=True)[1].startswith("  would delete  1  ")


def test_leftover_signatures_and_summaries() -> None:
    orphans = [("r/base", "sha256-ab.sig", ""), ("r/base", "sha256-cd.att", "denied")]
    assert orphan_lines(orphans, dry_run=False) == [
        "  deleted       r/base:sha256-ab.sig  leftover: what it signs is gone",
        "  not deleted   r/base:sha256-cd.att  denied",
    ]
    counts = {"deleted": 2, "kept": 3, "manifests": 6, "attached": 4, "names": 5}
    assert summary(counts, 6_200_000, dry_run=False, local=False, failed=0) == (
        "2 deleted (6 manifests, 4 signatures and attestations), 3 kept, 6.2 MB freed (the "
        "registry frees the space at its garbage collection: registry garbage-collect)"
    )
    assert summary(counts, 12_345, dry_run=True, local=True, failed=0) == (
        "dry run: 2 would be deleted (5 names), 3 kept, 12.3 kB would be freed; nothing was deleted"
    )
    assert summary(counts, 0, dry_run=False, local=True, failed=1) == (
        "2 deleted (5 names), 3 kept, 0 B freed; 1 not deleted (see above)"
    )


def test_times_sizes_and_digests_as_shown() -> None:
    utc = dt.datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC).timestamp()
    assert parse_created("2025-01-02T03:04:05.123456789Z") == utc
    assert parse_created("2025-01-02T03:04:05.123456789+00:00") == utc
    assert parse_created("1970-01-01T00:00:00Z") == 0.0  # a reproducible build's epoch 0
    assert parse_created("2025-01-02T04:04:05+01:00") == utc - 0.123456
    assert [parse_created(x) for x in ("", "yesterday", None, 5)] == [None, None, None, None]
    assert [human_bytes(n) for n in (0, 999, 1000, 9_650, 3_100_000, 2_500_000_000)] == [
        "0 B", "999 B", "1.0 kB", "9.7 kB", "3.1 MB", "2.5 GB",
    ]  # fmt: skip
    assert short("sha256:" + "ab" * 32) == "sha256:abababababab"
