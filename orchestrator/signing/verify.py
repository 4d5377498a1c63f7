"""`stackbake verify`: the published tree checked in its registry. Each release tag of
each signed target is looked up (no pull), and the image it names checked with the
target's public key: the index's signature and every platform manifest's, and with
`gates.sbom` an attestation of that type on every platform. One line per tag, saying
what passed or what did not; a target the spec does not sign is reported and skipped."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from orchestrator.backend.base import OnLine, RemoteImage
from orchestrator.backend.registry import RegistryUnreachable, lookup_all, registry_host
from orchestrator.execution.cancel import CancelToken
from orchestrator.refs import parse_ref
from orchestrator.signing.commands import shown_key
from orchestrator.signing.cosign import Checked, verify_image
from orchestrator.spec.model import Target

CHECKS_AT_ONCE = 4  # images checked at once (each check is one cosign, ~0.05 s)
NOT_SIGNED = "not signed by the spec"
Lookup = Callable[[Sequence[str], Mapping[str, str]], dict[str, RemoteImage]]
Job = tuple[str, str, str, str | None]  # repository, digest, public key, SBOM format


@dataclass(frozen=True)
class TagCheck:
    """One release tag: the digest it names now, and what is wrong with it (nothing: it
    passed; `passed` says what was checked)."""

    target: str
    tag: str
    digest: str | None
    problems: tuple[str, ...] = ()
    passed: str = ""
    transient: bool = False  # the registry did not answer: worth another run

    @property
    def ok(self) -> bool:
        return not self.problems

    def message(self) -> str:
        """One line: `shop-api: localhost:5000/shop/api:1.2 (sha256:...): no signature
        matches cosign.pub on the index`, or what was verified."""
        at = f" ({self.digest})" if self.digest else ""
        said = "; ".join(self.problems) if self.problems else f"verified: {self.passed}"
        return f"{self.target}: {self.tag}{at}: {said}"


@dataclass(frozen=True)
class TargetCheck:
    target: str
    tags: tuple[TagCheck, ...] = ()
    skipped: str = ""  # why nothing was checked ("not signed by the spec")

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tags)

    def lines(self) -> list[str]:
        if self.skipped:
            return [f"{self.target}: {self.skipped}, skipped"]
        return [t.message() for t in self.tags]


@dataclass(frozen=True)
class Verification:
    targets: tuple[TargetCheck, ...]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.targets)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def lines(self) -> list[str]:
        return [line for t in self.targets for line in t.lines()]


def verify_published(
    targets: Sequence[Target],
    on_line: OnLine = lambda _line: None,
    cancel: CancelToken | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    insecure: bool = False,
    lookup: Lookup = lookup_all,
) -> Verification:
    """Each target's release tags verified where they are published. `on_line` gets
    cosign's lines (from several threads at once)."""
    env = dict(os.environ if environ is None else environ)
    token = cancel or CancelToken()
    signed = [t for t in targets if t.sign is not None and t.tags]
    found, unreachable = _resolve([tag for t in signed for tag in t.tags], env, lookup)
    # One check per image, however many tags name it.
    jobs = {_job(t, tag, found[tag]): found[tag] for t in signed for tag in t.tags if tag in found}

    def check(job: Job) -> tuple[Checked, ...]:
        repository, _, key, sbom = job
        return verify_image(
            repository,
            jobs[job],
            key,
            on_line,
            token,
            sbom_format=sbom,
            environ=env,
            insecure=insecure,
        )

    with ThreadPoolExecutor(CHECKS_AT_ONCE) as pool:
        checked = dict(zip(jobs, pool.map(check, jobs), strict=True))
    out = []
    for target in targets:
        if target.sign is None or not target.tags:
            why = NOT_SIGNED if target.sign is None else "signed by the spec, but has no tags"
            out.append(TargetCheck(target.name, skipped=why))
            continue
        tags = tuple(
            _tag_check(target, tag, found.get(tag), unreachable.get(tag), checked)
            for tag in target.tags
        )
        out.append(TargetCheck(target.name, tags))
    return Verification(tuple(out))


def _job(target: Target, tag: str, image: RemoteImage) -> Job:
    assert target.sign is not None
    repository = parse_ref(tag).repository
    return repository, image.digest, target.sign.verify_key, target.gates.sbom


def _resolve(
    tags: Sequence[str], environ: Mapping[str, str], lookup: Lookup
) -> tuple[dict[str, RemoteImage], dict[str, str]]:
    """What each tag names in its registry, and why each whose registry did not answer."""
    try:
        return lookup(tags, environ), {}
    except RegistryUnreachable as exc:
        return exc.found, {
            ref: f"registry {registry_host(ref)} cannot be reached ({why})"
            for ref, why in exc.failures.items()
        }


def _tag_check(
    target: Target,
    tag: str,
    image: RemoteImage | None,
    unreachable: str | None,
    checked: Mapping[Job, tuple[Checked, ...]],
) -> TagCheck:
    if unreachable:
        return TagCheck(target.name, tag, None, (unreachable,), transient=True)
    if image is None:
        return TagCheck(target.name, tag, None, ("not in the registry",))
    checks = checked[_job(target, tag, image)]
    failed = [c for c in checks if not c.result.ok]
    transient = any(c.result.transient for c in failed)
    if failed:
        return TagCheck(target.name, tag, image.digest, _problems(failed), transient=transient)
    return TagCheck(target.name, tag, image.digest, passed=_passed(checks, target))


def _problems(failed: Sequence[Checked]) -> tuple[str, ...]:
    """Each reason once, with where it was found: "not signed (no signature found) on
    the index, linux/amd64 (sha256:8eaf835b7b5c), linux/arm64 (sha256:294fc11571b7)"."""
    by_reason: dict[str, list[str]] = {}
    for c in failed:
        where = c.where if c.where == "the index" else f"{c.where} ({c.digest[:19]})"
        by_reason.setdefault(c.result.reason, []).append(where)
    return tuple(f"{reason} on {', '.join(wheres)}" for reason, wheres in by_reason.items())


def _passed(checks: Sequence[Checked], target: Target) -> str:
    assert target.sign is not None
    signed = [c.where for c in checks if c.sbom_format is None]
    said = f"signed by {shown_key(target.sign.verify_key)}: {', '.join(signed)}"
    attested = [c.where for c in checks if c.sbom_format]
    if attested:
        said += f"; {target.gates.sbom} attestation on {', '.join(attested)}"
    return said
