"""Tag streams: the tags one tags template of a target can render, in the repository it
renders now. `${REGISTRY}/${target}:${VERSION}` of shop-api is the repository
REGISTRY/shop-api and every tag the template gives for any value of its variables:
`${target}` is the target's name, every other placeholder a wildcard.

stackbake's own tags (key, staging and pin tags, naming.py) and cosign's signature and
attestation tags are in no stream, whatever a template's wildcards would match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from orchestrator.refs import BadReference, parse_ref
from orchestrator.spec.model import Spec

# What stackbake names for itself (hierarchy/naming.py), and cosign's tag scheme: the
# signature, attestations or SBOM of DIGEST are `sha256-<hex>.sig|.att|.sbom`.
OWN_TAGS = (
    ("key", re.compile(r"key-[0-9a-f]{32,}")),
    ("staging", re.compile(r"stackbake-build-[0-9a-f]+")),
    ("pin", re.compile(r"stackbake-[0-9a-f]{64}-[0-9a-z]+")),
)
COSIGN_TAG = re.compile(r"sha256-([0-9a-f]{64})\.(sig|att|sbom)")


def own_kind(tag: str) -> str | None:
    """`key`, `staging` or `pin` for one of stackbake's own tags, else None."""
    return next((kind for kind, pattern in OWN_TAGS if pattern.fullmatch(tag)), None)


def cosign_subject(tag: str) -> tuple[str, str] | None:
    """(the digest it is attached to, `sig` | `att` | `sbom`) for one of cosign's tags."""
    found = COSIGN_TAG.fullmatch(tag)
    return (f"sha256:{found[1]}", found[2]) if found else None


@dataclass(frozen=True)
class Stream:
    target: str
    template: str  # as written in the spec
    release: str  # the tag it renders now (in `repository`): a release tag
    repository: str  # normalised: localhost:5000/acme/shop-api
    written: str  # the repository as the rendered tag writes it: what `pattern` matches
    pattern: re.Pattern[str]
    selected: bool = True  # False: read only for what its images build on

    def holds(self, tag: str) -> bool:
        """Whether `tag` (of this repository) is one this template could render."""
        if own_kind(tag) or cosign_subject(tag):
            return False
        return self.pattern.fullmatch(f"{self.written}:{tag}") is not None

    def describe(self) -> str:
        return f"{self.target}: {self.template} in {self.repository}"


def template_pattern(template: str, target: str) -> re.Pattern[str]:
    """A regular expression of every text `template` can render for `target`:
    `${target}` is its name, `$$` a `$`, any other `${...}` any text."""
    parts: list[str] = []
    i = 0
    while i < len(template):
        if template.startswith("$$", i):
            parts.append(re.escape("$"))
            i += 2
            continue
        end = _closing_brace(template, i + 1) if template.startswith("${", i) else -1
        if end < 0:  # plain text up to the next placeholder
            nxt = template.find("${", i + 1)
            stop = len(template) if nxt < 0 else nxt
            parts.append(re.escape(template[i:stop]))
            i = stop
            continue
        body = template[i + 2 : end]
        parts.append(re.escape(target) if body == "target" else ".*")
        i = end + 1
    return re.compile("".join(parts))


def _closing_brace(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def streams_of(spec: Spec, names: Iterable[str], selected: Sequence[str]) -> list[Stream]:
    """The tag streams of the targets `names`, one per tags template; those of the
    targets in `selected` are pruned, the others only read."""
    out = []
    for name in names:
        target = spec.targets[name]
        for template, rendered in zip(target.tag_templates, target.tags, strict=False):
            stream = _stream(name, template, rendered, name in selected)
            if stream is not None:
                out.append(stream)
    return out


def _stream(name: str, template: str, rendered: str, selected: bool) -> Stream | None:
    try:
        ref = parse_ref(rendered)
    except BadReference:
        return None  # the spec checks refuse it
    if ref.digest is not None:
        return None  # pinned by digest: not a stream of tags
    if ref.tag is None:  # `REPO` alone is `REPO:latest`
        written, template = rendered, f"{template}:latest"
    else:
        written = rendered[: -len(ref.tag) - 1]
    pattern = template_pattern(template, name)
    release = ref.tag or "latest"
    return Stream(name, template, release, ref.repository, written, pattern, selected)
