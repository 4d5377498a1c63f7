"""Image references and platforms: parsing, validation and normalisation.

The grammar is the one of github.com/distribution/reference, which the Docker CLI
and BuildKit use: `alpine` and `docker.io/library/alpine:latest` are the same image.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from orchestrator.hints import did_you_mean

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"  # ASCII only, as the distribution grammar
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_DOMAIN_RE = re.compile(_DOMAIN)
_REMAINDER = re.compile(
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
DEFAULT_DOMAIN = "docker.io"
MAX_NAME = 255  # distribution's limit on a repository name, registry included


@dataclass(frozen=True, slots=True)
class ImageRef:
    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    def normalized(self) -> str:
        """`docker.io/library/alpine:latest`, digest kept when given."""
        out = self.repository
        if self.tag or not self.digest:
            out += f":{self.tag or 'latest'}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def without_digest(self) -> ImageRef:
        return ImageRef(self.domain, self.path, self.tag, None)


class BadReference(ValueError):
    pass


def parse_ref(text: str) -> ImageRef:
    """Parse and normalise an image reference; raises BadReference with the reason.
    Each text is parsed once, its reason too: a big spec names the same few bases
    100,000 times, and each of its tags three times (checks, owners, the graph)."""
    parsed = _parsed(text)
    if isinstance(parsed, str):
        raise BadReference(parsed)
    return parsed


@cache
def _parsed(text: str) -> ImageRef | str:
    """The reference, or why it is not one."""
    try:
        return _parse(text)
    except BadReference as exc:
        return str(exc)


def _parse(text: str) -> ImageRef:
    if not text:
        raise BadReference("is empty")
    if text != text.strip():
        raise BadReference("has surrounding spaces")
    if not text.isascii():
        raise BadReference("has characters that are not ASCII; image references are ASCII only")
    domain: str | None = None
    rest = text
    first, sep, remainder = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, rest = first, remainder
    match = _REMAINDER.fullmatch(rest)
    if match is None or (domain is not None and not _DOMAIN_RE.fullmatch(domain)):
        repository = rest.split("@", 1)[0].rsplit(":", 1)[0] if ":" in rest else rest
        if repository != repository.lower():
            raise BadReference("has upper-case letters; repository names must be lower-case")
        raise BadReference(
            "is not a valid image reference; write [registry/]name[:tag][@sha256:digest] with a "
            "lower-case name"
        )
    path = match["path"]  # the repository: what precedes the tag and the digest
    if len(path) + (len(domain) + 1 if domain else 0) > MAX_NAME:
        raise BadReference(f"has a repository name over {MAX_NAME} characters; shorten it")
    domain = domain or DEFAULT_DOMAIN
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return ImageRef(domain, path, match["tag"], match["digest"])


@cache  # once per text, as parse_ref (a big spec's tags are normalised twice)
def normalize(text: str) -> str:
    return parse_ref(text).normalized()


# Platforms: os/arch[/variant], the values BuildKit (containerd's platforms package) knows.
KNOWN_OS = (
    "linux",
    "windows",
    "darwin",
    "freebsd",
    "netbsd",
    "openbsd",
    "solaris",
    "illumos",
    "aix",
    "android",
    "ios",
    "js",
    "wasip1",
    "plan9",
    "dragonfly",
)
KNOWN_ARCH = (
    "amd64",
    "arm64",
    "arm",
    "386",
    "ppc64le",
    "ppc64",
    "s390x",
    "riscv64",
    "mips64le",
    "mips64",
    "mipsle",
    "mips",
    "loong64",
    "wasm",
)
KNOWN_VARIANTS = {
    "arm": ("v5", "v6", "v7", "v8"),
    "arm64": ("v8", "v8.0", "v8.1", "v8.2", "v9", "v9.0"),
    "amd64": ("v1", "v2", "v3", "v4"),
}


# What containerd's platforms package takes for these architectures, as it does.
ARCH_ALIASES = {"aarch64": "arm64", "x86_64": "amd64", "x86-64": "amd64", "i386": "386"}


def platform_problem(text: str) -> str | None:
    """Why a platform string is invalid (with a did-you-mean), or None when it is fine."""
    parts = text.split("/")
    if len(parts) >= 2:
        parts[1] = ARCH_ALIASES.get(parts[1], parts[1])
    if len(parts) not in (2, 3):
        return f"{text!r} is not a platform; write os/arch[/variant], for example linux/amd64"
    os_, arch = parts[0], parts[1]
    if os_ not in KNOWN_OS:
        return f"unknown operating system {os_!r} in {text!r}{did_you_mean(os_, KNOWN_OS)}"
    if arch not in KNOWN_ARCH:
        hint = did_you_mean(arch, KNOWN_ARCH) or f"; known: {', '.join(KNOWN_ARCH)}"
        return f"unknown architecture {arch!r} in {text!r}{hint}"
    if len(parts) == 3 and parts[2] not in KNOWN_VARIANTS.get(arch, ()):
        known = KNOWN_VARIANTS.get(arch, ())
        hint = f"; {arch} variants: {', '.join(known)}" if known else f"; {arch} has no variants"
        return f"unknown variant {parts[2]!r} in {text!r}{hint}"
    return None


DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}


def normalize_platform(text: str) -> str:
    """containerd's normal form: `linux/arm64` and `linux/arm64/v8` are the same
    platform (official indexes write the variant, specs usually do not)."""
    parts = text.lower().split("/")
    if len(parts) >= 2:
        parts[1] = ARCH_ALIASES.get(parts[1], parts[1])
    if len(parts) == 2 and parts[1] in DEFAULT_VARIANTS:
        parts.append(DEFAULT_VARIANTS[parts[1]])
    return "/".join(parts)


def host_platform() -> str:
    """The platform a build without `platforms` targets: the engine's, assumed local."""
    import platform

    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine
    )
    return f"linux/{arch}"


def context_key(text: str) -> str:
    """The name BuildKit gives a named build context for this reference: the familiar
    form without `:latest` (what buildx and the Dockerfile frontend both compute)."""
    ref = parse_ref(text)
    path = ref.path
    if ref.domain == DEFAULT_DOMAIN:
        name = path.removeprefix("library/") if path.count("/") == 1 else path
    else:
        name = f"{ref.domain}/{path}"
    if ref.tag and ref.tag != "latest":
        name += f":{ref.tag}"
    if ref.digest:
        name += f"@{ref.digest}"
    return name


def is_loopback(domain: str) -> bool:
    """A registry on this host's loopback (`localhost:5000`, `127.0.0.1:5000`, `[::1]`):
    docker and BuildKit reach one over plain HTTP without any configuration."""
    if domain.startswith("["):  # [::1] or [::1]:5000
        host = domain[1 : domain.find("]")] if "]" in domain else domain[1:]
    else:
        host = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Registries the spec reaches without verifying their certificate (`registries: H:
# {insecure: true}`), comma-separated, set for every child process by the command.
INSECURE_REGISTRIES = "STACKBAKE_INSECURE_REGISTRIES"


def is_insecure(domain: str, environ: Mapping[str, str] | None = None) -> bool:
    """Reached without TLS verification: a loopback registry, or one the spec says so."""
    listed = (os.environ if environ is None else environ).get(INSECURE_REGISTRIES, "")
    return is_loopback(domain) or domain in listed.split(",")
