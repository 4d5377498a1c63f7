"""A fake registry behind skopeo's functions, for the prune tests: repositories of
tags naming manifests by the SHA-256 of their text, image configs, DELETEs recorded."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from orchestrator.backend import skopeo

UNKNOWN = 'time="..." level=fatal msg="reading manifest: manifest unknown"'


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class FakeRegistry:
    def __init__(self) -> None:
        self.tags: dict[str, dict[str, str]] = {}  # repository -> tag -> digest
        self.manifests: dict[str, dict[str, str]] = {}  # repository -> digest -> text
        self.configs: dict[str, str] = {}  # manifest digest -> config text
        self.deleted: list[str] = []
        self.refuse: set[str] = set()
        self.vanishing: set[str] = set()  # tags listed, gone before they are read

    def put(self, repo: str, body: dict[str, Any], *tags: str) -> str:
        text = json.dumps(body, indent=2)
        digest = digest_of(text)
        self.manifests.setdefault(repo, {})[digest] = text
        self.tags.setdefault(repo, {}).update(dict.fromkeys(tags, digest))
        return digest

    def image(
        self, repo: str, name: str, labels: dict[str, str], arch: str, layers: tuple[str, ...] = ()
    ) -> tuple[str, int]:
        """A platform manifest of layers `seed`, *layers, `name`, its config labelled."""
        config = json.dumps({"architecture": arch, "os": "linux", "config": {"Labels": labels}})
        body = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"digest": digest_of(config), "size": len(config)},
            "layers": [
                {"digest": digest_of(layer), "size": 1000 if layer == "seed" else 10}
                for layer in ("seed", *layers, name)
            ],
        }
        digest = self.put(repo, body)
        self.configs[digest] = config
        return digest, len(self.manifests[repo][digest])

    def index(self, repo: str, entries: list[tuple[str, int, str]], *tags: str) -> str:
        """An index of (digest, size, arch) entries; arch `unknown`: an attestation."""
        listed = [
            {"digest": digest, "size": size,
             "platform": {"os": "unknown" if arch == "unknown" else "linux", "architecture": arch}}
            for digest, size, arch in entries
        ]  # fmt: skip
        return self.put(repo, {"manifests": listed}, *tags)

    def raw_text(self, ref: str, *, config: bool = False, cancel: object = None) -> str:
        repo, sep, rest = ref.partition("@")
        if not sep:
            repo, _, tag = ref.rpartition(":")
            rest = self.tags.get(repo, {}).get(tag, "")
        found = self.configs.get(rest) if config else self.manifests.get(repo, {}).get(rest)
        if found is None:
            raise skopeo.SkopeoError(f"read {ref}", UNKNOWN)
        return found

    def list_tags(self, repository: str) -> list[str]:
        return [*self.tags.get(repository, {}), *self.vanishing]

    def delete(self, repository: str, digest: str) -> None:
        if digest in self.refuse:
            raise skopeo.SkopeoError(f"delete {repository}@{digest}", "denied: not allowed")
        if digest not in self.manifests.get(repository, {}):
            raise skopeo.SkopeoError(f"delete {repository}@{digest}", UNKNOWN)
        self.deleted.append(digest)
        del self.manifests[repository][digest]
        tags = self.tags.get(repository, {})
        for tag in [t for t, d in tags.items() if d == digest]:
            del tags[tag]


def install(monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    registry = FakeRegistry()
    for name in ("raw_text", "list_tags", "delete"):
        monkeypatch.setattr(skopeo, name, getattr(registry, name))
    return registry
