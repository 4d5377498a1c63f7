"""The registry plan, pure: which manifests go with each image, in which order the
DELETEs run (nothing left ever names a manifest that is gone), and the bytes freed."""

from __future__ import annotations

from orchestrator.distribution.prune_decide import Verdict
from orchestrator.distribution.prune_model import Attachment, Image
from orchestrator.distribution.prune_plan import Step, registry_plan
from tests.distribution.prune_fixtures import REG, blobs, d

REPO = f"{REG}/base"


def index(tag: str, children: list[str], sizes: dict[str, dict[str, int]]) -> Image:
    """An image tagged `tag`: the index d(tag) listing d(c) for each child; `sizes`:
    manifest name -> its blobs by name -> size."""
    return Image(
        REPO,
        d(tag),
        (tag,),
        created=0.0,
        platforms={f"linux/{c}": d(c) for c in children if not c.startswith("att")},
        children=tuple(d(c) for c in children),
        blobs={d(m): blobs(**b) for m, b in sizes.items()},
    )


def verdict(image: Image, kept: bool) -> Verdict:
    return Verdict(image, kept, ("kept",) if kept else ("goes",), None, True)


def attach(subject: str, kind: str, orphan: bool = False, **sizes: int) -> Attachment:
    name = f"{subject}.{kind}"
    return Attachment(REPO, f"sha256-{d(subject)[7:]}.{kind}", d(name), d(subject), kind,
                      blobs(**{name: 200}, **sizes), orphan)  # fmt: skip


def test_an_index_goes_with_what_only_it_lists_and_its_signatures_after_it() -> None:
    old = index("v1", ["p1a", "p1b", "att1"], {
        "v1": {"v1": 500},
        "p1a": {"p1a": 400, "c1a": 100, "seed": 1000, "l1a": 50},
        "p1b": {"p1b": 400, "c1b": 100, "seed-arm": 1000, "l1b": 60},
        "att1": {"att1": 300, "ac1": 10, "al1": 2000},
    })  # fmt: skip
    shared = index("shared-1", ["p1a", "p1b"], {
        "shared-1": {"shared-1": 450},
        "p1a": {"p1a": 400, "c1a": 100, "seed": 1000, "l1a": 50},
        "p1b": {"p1b": 400, "c1b": 100, "seed-arm": 1000, "l1b": 60},
    })  # fmt: skip
    kept = index("v3", ["p3"], {"v3": {"v3": 500}, "p3": {"p3": 400, "seed": 1000}})
    attachments = [
        attach("v1", "sig", sigconfig=5, sl1=30),
        attach("v1", "att", al1=2000, atl=40),  # al1: also the attestation manifest's
        attach("att1", "sig", sigconfig=5),
        attach("p1a", "sig", sigconfig=5),  # its manifest stays: shared-1 lists it
        attach("v3", "sig", sigconfig=5),
        attach("gone-long-ago", "att", orphan=True, ol=7),
    ]
    plan = registry_plan(
        [verdict(old, False), verdict(shared, True), verdict(kept, True)], attachments
    )
    (removal,) = plan.removals
    assert removal.manifests == (d("v1"), d("att1"))
    assert [a.tag for a in removal.attachments] == [a.tag for a in attachments[:3]]
    # v1 500, att1 300 + 10 + 2000, its signature 200 + 30, attestation 200 + 40, att1's
    # signature 200; not the shared platforms, nor the config blob kept signatures share.
    assert removal.freed == 500 + 2310 + 230 + 240 + 200
    assert plan.orphans == (attachments[5],)
    assert plan.freed == removal.freed + 207
    assert plan.steps == (
        Step(REPO, d("v1"), "image"),
        Step(REPO, d("att1"), "manifest", (d("v1"),)),
        Step(REPO, d("v1.sig"), "signature", (d("v1"),)),
        Step(REPO, d("v1.att"), "attestation", (d("v1"),)),
        Step(REPO, d("att1.sig"), "signature", (d("att1"),)),
        Step(REPO, d("gone-long-ago.att"), "attestation"),
    )


def test_what_several_indexes_list_goes_after_all_of_them() -> None:
    two = index("v2", ["px", "solo"], {"v2": {"v2": 1}, "px": {"px": 10}, "solo": {"solo": 100}})
    zero = index("v0", ["px"], {"v0": {"v0": 2}, "px": {"px": 10}})
    # `solo` is an image of its own too (a leftover key tag naming a platform manifest).
    solo = Image(
        REPO, d("solo"), ("key-" + "ab" * 32,), created=0.0,
        platforms={"linux/amd64": d("solo")}, blobs={d("solo"): blobs(solo=100)},
    )  # fmt: skip
    plan = registry_plan([verdict(solo, False), verdict(two, False), verdict(zero, False)], [])
    assert plan.steps == (
        Step(REPO, d("v2"), "image"),
        Step(REPO, d("v0"), "image"),
        Step(REPO, d("solo"), "image", (d("v2"),)),
        Step(REPO, d("px"), "manifest", (d("v2"), d("v0"))),
    )
    assert [r.freed for r in plan.removals] == [100, 1 + 10, 2]
    assert plan.freed == 113


def test_nothing_a_kept_index_lists_goes_nor_what_a_kept_image_names() -> None:
    going = index("v1", ["p"], {"v1": {"v1": 5}, "p": {"p": 50, "layer": 1000}})
    kept = index("v2", ["p"], {"v2": {"v2": 6}, "p": {"p": 50, "layer": 1000}})
    plan = registry_plan([verdict(going, False), verdict(kept, True)], [attach("p", "sig")])
    assert plan.steps == (Step(REPO, d("v1"), "image"),)
    assert plan.freed == 5
    assert registry_plan([verdict(going, True), verdict(kept, True)], []).steps == ()
