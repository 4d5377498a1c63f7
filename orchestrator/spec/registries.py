"""`registries:`: how stackbake reaches private registries (a private CA's certificate),
read from every file of the spec, and checked.

    registries:
      registry.internal:5443: {ca: certs/internal-ca.crt}

Credentials are never in the spec: `docker login` or `stackbake login HOST` puts them
in the Docker config (or its credential helper), where every client reads them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from orchestrator.errors import ProblemCollector
from orchestrator.spec.fields import where
from orchestrator.spec.model import Registry
from orchestrator.spec.yamlpos import Document

PEM = b"-----BEGIN CERTIFICATE-----"


def read_registries(
    docs: Sequence[Document], path: Callable[[str, str], Path], out: ProblemCollector
) -> dict[str, Registry]:
    """Every file's `registries:` (a `ca` relative to its file); a host named twice is
    a problem."""
    found: dict[str, Registry] = {}
    for doc in docs:
        for host, value in doc.data.get("registries", {}).items():
            here = where(doc, ("registries", host))
            first = found.get(str(host))
            if first is not None:
                assert first.where is not None
                out.add(
                    here.problem(f"{host} is already configured at {first.where.spot()}; keep one")
                )
                continue
            given = value if isinstance(value, dict) else {}
            ca = path(str(doc.path.parent), given["ca"]) if given.get("ca") else None
            found[str(host)] = Registry(str(host), ca, bool(given.get("insecure")), here)
    return found


def check_registries(registries: Mapping[str, Registry], out: ProblemCollector) -> None:
    """Each `ca` a readable PEM certificate."""
    for registry in registries.values():
        assert registry.where is not None
        if registry.ca is None:
            continue
        try:
            data = registry.ca.read_bytes()
        except OSError as exc:
            why = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
            out.add(registry.where.problem(f"ca {registry.ca}: {why}; give the CA's PEM file"))
            continue
        if PEM not in data:
            out.add(
                registry.where.problem(
                    f"ca {registry.ca}: not a PEM certificate (no {PEM.decode()} line)"
                )
            )
