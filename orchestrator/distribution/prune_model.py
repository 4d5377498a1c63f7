"""What `stackbake prune` reads of a registry or an image store, as plain data: the
images of each repository (what names them, when each was made, what it builds on,
what it is made of) and cosign's signatures and attestations attached to them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

DAY_S = 86400.0
BASE_DIGEST = "org.opencontainers.image.base.digest"
BASE_NAME = "org.opencontainers.image.base.name"
CREATED = "org.opencontainers.image.created"


@dataclass(frozen=True)
class Image:
    """One image of a repository: the digest its tags name (an index, a manifest, or a
    local image's id) and what the decision needs of it."""

    repository: str  # normalised: localhost:5000/acme/shop-api
    digest: str
    tags: tuple[str, ...]  # the tags naming it in this repository
    created: float | None = None  # seconds since the epoch; None: not known
    # What it is made of: each platform's manifest, and every manifest an index lists
    # (attestation manifests too).
    platforms: Mapping[str, str] = field(default_factory=dict)  # "linux/arm64" -> digest
    children: tuple[str, ...] = ()
    also: frozenset[str] = frozenset()  # other digests naming it: configs, repo digests
    layers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # platform ->
    base_digest: str = ""  # the label org.opencontainers.image.base.digest
    base_name: str = ""  # the label org.opencontainers.image.base.name
    # Registry: each manifest it holds -> the blobs it names (itself, config, layers) ->
    # size. Local: empty, `size` is the engine's.
    blobs: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    size: int = 0
    elsewhere: tuple[str, ...] = ()  # local: its names in repositories not read

    @property
    def id(self) -> tuple[str, str]:
        return (self.repository, self.digest)

    def names(self) -> frozenset[str]:
        """Every digest that means this image or one of its manifests."""
        return frozenset((self.digest, *self.children, *self.platforms.values(), *self.also))

    def short_name(self, tag: str | None = None) -> str:
        """`shop-api:1.4.2`: the repository's last part and a tag (its first one)."""
        chosen = tag or (self.tags[0] if self.tags else self.digest)
        sep = "@" if chosen.startswith("sha256:") else ":"
        return f"{self.repository.rsplit('/', 1)[-1]}{sep}{chosen}"

    def age_days(self, now: float) -> float | None:
        return None if self.created is None else (now - self.created) / DAY_S


@dataclass(frozen=True)
class Attachment:
    """A cosign signature, attestation or SBOM: the tag `sha256-<hex>.sig|.att|.sbom`
    naming a manifest of its own, attached to the manifest `subject`."""

    repository: str
    tag: str
    digest: str  # the manifest the tag names
    subject: str
    kind: str  # sig | att | sbom
    blobs: Mapping[str, int] = field(default_factory=dict)  # itself, config, layers
    orphan: bool = False  # its subject is gone from the registry


def parse_created(text: object) -> float | None:
    """An RFC 3339 time (`2025-01-02T03:04:05.123456789Z`) as seconds since the epoch."""
    if not isinstance(text, str) or not text:
        return None
    stamp = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, rest = stamp.partition(".")
    if dot:  # Python takes at most 6 digits of a second; Go writes 9
        digits = len(rest) - len(rest.lstrip("0123456789"))
        stamp = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        when = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def created_of(labels: Mapping[str, str], config_created: object) -> float | None:
    """When an image was made: stackbake's `created` label, else the config's time."""
    labelled = parse_created(labels.get(CREATED))
    return labelled if labelled is not None else parse_created(config_created)


def short(digest: str) -> str:
    """`sha256:1a2b3c4d5e6f`: a digest's first 12 hex digits."""
    algo, _, hexa = digest.partition(":")
    return f"{algo}:{hexa[:12]}" if hexa else digest[:12]


def human_bytes(n: int) -> str:
    """Sizes as docker prints them: powers of 1000."""
    if n < 1000:
        return f"{n} B"
    size, unit = n / 1000, "kB"
    for bigger in ("MB", "GB", "TB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{size:.1f} {unit}"
