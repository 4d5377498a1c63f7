"""Signing in the push phase: once a target's image is in its registry (under its key
tag, by digest) and before any release tag names it, the index and every platform
manifest are signed with cosign and each platform's SBOM (written by the `sbom` gate)
is attested on that platform's manifest, in every repository the target's tags are in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.backend.base import Backend, BuildResult, OnLine
from orchestrator.backend.registry import RegistryUnreachable
from orchestrator.errors import UsageError
from orchestrator.execution.cancel import CancelToken
from orchestrator.execution.status import GateResult
from orchestrator.hierarchy.naming import image_names
from orchestrator.refs import parse_ref
from orchestrator.signing.cosign import attest, sign, verify
from orchestrator.spec.gates import Signing
from orchestrator.spec.model import Target

# Signs one pushed image, REPO@DIGEST, before any release tag names it.
Seal = Callable[[str, OnLine, CancelToken], BuildResult]
# A target's seal, from its backend, its SBOMs (platform -> file) and its key tag.
MakeSeal = Callable[[Backend, Target, Mapping[str, Path], str | None], Seal]


def sboms(gates: tuple[GateResult, ...], reports: Path) -> dict[str, Path]:
    """platform -> the SBOM file its `sbom` gate wrote."""
    return {
        g.platform: reports / g.files[0]
        for g in gates
        if g.gate == "sbom" and g.passed and g.platform and g.files
    }


@dataclass(frozen=True)
class Sealer:
    """Signs (and attests) one target's pushed image: `seal(REPO@DIGEST)`; then, for
    each other repository its tags are in, the image is copied there under its key tag
    and signed (and attested) there too: a signature lives in its repository."""

    backend: Backend
    target: Target
    sbom_files: Mapping[str, Path]  # platform -> SBOM
    key_tag: str | None = None  # REPO:key-K; its tag names the image in the other repos
    environ: Mapping[str, str] | None = None  # None: this process's

    def __call__(self, source: str, on_line: OnLine, cancel: CancelToken) -> BuildResult:
        """The other repositories first, then the first one; in each the SBOMs attested
        before the signature. So the first repository's signature (what a later run
        checks before it moves release tags, `signed_before`) means all was done."""
        if self.target.sign is None:
            return BuildResult(True)
        repo, digest = source.split("@", 1)
        others = sorted({parse_ref(t).repository for t in image_names(self.target)} - {repo})
        try:
            for other in others if self.key_tag else ():
                keyed = f"{other}:{parse_ref(self.key_tag or '').tag}"
                placed = self.backend.copy(source, [keyed], on_line, cancel)
                sealed = self._seal(other, digest, on_line, cancel) if placed.ok else placed
                if not sealed.ok:
                    return sealed
            return self._seal(repo, digest, on_line, cancel)
        except RegistryUnreachable as exc:
            return BuildResult(False, reason=str(exc), transient=True)
        except UsageError as exc:  # cosign missing: a worker never raises
            return BuildResult(False, reason=str(exc))

    def _seal(self, repo: str, digest: str, on_line: OnLine, cancel: CancelToken) -> BuildResult:
        """In one repository: each platform's SBOM attested, then the image signed."""
        signing, source = self.target.sign, f"{repo}@{digest}"
        if signing is None:
            return BuildResult(True)
        if self.sbom_files and self.target.gates.sbom:
            attested = self._attest(repo, source, signing, on_line, cancel)
            if not attested.ok:
                return attested
        on_line(f"signing {source} and its platforms' manifests with {signing.key}")
        return sign(source, signing, on_line, cancel, environ=self.environ)

    def _attest(
        self, repo: str, source: str, signing: Signing, on_line: OnLine, cancel: CancelToken
    ) -> BuildResult:
        found = self.backend.lookup([source]).get(source)
        if found is None:
            return BuildResult(False, reason=f"{source} is not in its registry after its push")
        sbom = self.target.gates.sbom or ""
        for platform, path in sorted(self.sbom_files.items()):
            manifest = found.platforms.get(platform)
            if manifest is None:
                return BuildResult(False, reason=f"{source} has no {platform} image to attest")
            on_line(f"attesting the {sbom} SBOM of {platform} in {repo}")
            attested = attest(
                f"{repo}@{manifest}",
                signing,
                on_line,
                cancel,
                predicate=path,
                sbom_format=sbom,
                environ=self.environ,
            )
            if not attested.ok:
                return attested
        return BuildResult(True)


def signed_before(target: Target, source: str, on_line: OnLine, cancel: CancelToken) -> BuildResult:
    """An image a run before pushed under its key tag (REPO@DIGEST), about to get
    release tags: it must carry the signature that run made before moving them. Not
    signed (that run stopped while signing): it fails, saying how to mend it."""
    if target.sign is None:
        return BuildResult(True)
    found = verify(source, target.sign.verify_key, on_line, cancel)
    if found.ok or found.transient or found.cancelled:
        return found
    return BuildResult(
        False,
        reason=f"{source} is in the registry under its key, but {found.reason}; a run "
        f"before stopped while signing it: build it again with --force {target.name}",
        log_tail=found.log_tail,
    )
