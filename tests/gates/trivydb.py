"""A tiny trivy vulnerability database, made here (trivy's cannot be downloaded on these
machines): one advisory in a bbolt file written by hand, so the vuln path runs for real.

bbolt's format (go.etcd.io/bbolt): 4096-byte pages; pages 0 and 1 are meta pages
(magic, version 2, page size, the root bucket, the freelist page, the high-water page,
the txid and an FNV-64a checksum of the fields before it), page 2 an empty freelist,
page 3 (and its overflow) the root bucket's leaf page. Every bucket under it is inline:
its value is a bucket header with root 0 followed by a leaf page of its own. Leaf
elements are (flags, pos, ksize, vsize), pos counted from the element itself, keys in
byte order. trivy opens it read-only, where the freelist is never read."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
from pathlib import Path
from typing import Union

PAGE = 4096
Tree = dict[bytes, Union[bytes, "Tree"]]

CVE = "CVE-2024-1234"
PACKAGE, VERSION, FIXED = "openssl", "3.0.1-r0", "3.0.2-r0"
ALPINE = "3.19"  # the image plants /etc/alpine-release 3.19.1 and an apk database

# An apk database entry and the release file: what trivy reads an Alpine image's packages from.
APK = f"C:Q1abc=\nP:{PACKAGE}\nV:{VERSION}\nA:x86_64\nL:Apache-2.0\no:{PACKAGE}\n\n"


def _fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _leaf(tree: Tree, pgid: int = 0) -> bytes:
    """A leaf page (header, elements, then keys and values), unpadded."""
    items = sorted(tree.items())
    header = struct.pack("<QHHI", pgid, 0x02, len(items), 0)
    elements, data = b"", b""
    start = 16 + 16 * len(items)
    for i, (key, item) in enumerate(items):
        flags, value = 0, item
        if isinstance(item, dict):
            flags, value = 0x01, struct.pack("<QQ", 0, 0) + _leaf(item)
        pos = start + len(data) - (16 + 16 * i)
        elements += struct.pack("<IIII", flags, pos, len(key), len(value))
        data += key + value
    return header + elements + data


def _meta(txid: int, root: int, high: int) -> bytes:
    fields = struct.pack("<IIII", 0xED0CDAED, 2, PAGE, 0) + struct.pack(
        "<QQQQQ", root, 0, 2, high, txid
    )
    meta = fields + struct.pack("<Q", _fnv64a(fields))
    return (struct.pack("<QHHI", txid % 2, 0x04, 0, 0) + meta).ljust(PAGE, b"\0")


def write_bolt(path: Path, tree: Tree) -> None:
    root = _leaf(tree, 3)
    pages = -(-len(root) // PAGE)
    root = root[:12] + struct.pack("<I", pages - 1) + root[16:]  # its overflow pages
    freelist = struct.pack("<QHHI", 2, 0x10, 0, 0).ljust(PAGE, b"\0")
    high = 3 + pages
    path.write_bytes(_meta(0, 3, high) + _meta(1, 3, high) + freelist + root.ljust(pages * PAGE))


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def write_db(cache: Path) -> Path:
    """trivy's cache folder layout: CACHE/db/trivy.db and CACHE/db/metadata.json."""
    db = cache / "db"
    db.mkdir(parents=True, exist_ok=True)
    bucket = f"alpine {ALPINE}".encode()
    source = {"ID": "alpine", "Name": "Alpine Secdb", "URL": "https://secdb.alpinelinux.org/"}
    tree: Tree = {
        bucket: {PACKAGE.encode(): {CVE.encode(): _json({"FixedVersion": FIXED})}},
        b"vulnerability": {
            CVE.encode(): _json(
                {"Title": "planted by stackbake's tests", "VendorSeverity": {"nvd": 3}}
            )
        },
        b"data-source": {bucket: _json(source)},
    }
    write_bolt(db / "trivy.db", tree)
    meta = {
        "Version": 2,
        "NextUpdate": "2099-01-01T00:00:00Z",
        "UpdatedAt": "2026-01-01T00:00:00Z",
        "DownloadedAt": "2026-01-01T00:00:00Z",
    }
    (db / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    return cache


def db_archive(cache: Path) -> bytes:
    """db.tar.gz as trivy-db's OCI artifact carries it: trivy.db and metadata.json."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("trivy.db", "metadata.json"):
            tar.add(cache / "db" / name, arcname=name)
    return gzip.compress(buffer.getvalue(), mtime=0)


def push_db(repository: str, tag: str, cache: Path) -> str:
    """Push the database as trivy-db's OCI artifact (one db.tar.gz layer) to a plain-HTTP
    registry: REGISTRY/NAME; its reference."""
    import hashlib
    import urllib.request

    host, name = repository.split("/", 1)

    def blob(data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = urllib.request.Request(f"http://{host}/v2/{name}/blobs/uploads/", method="POST")
        with urllib.request.urlopen(start, timeout=30) as answer:
            location = answer.headers["Location"]
        if location.startswith("/"):
            location = f"http://{host}{location}"
        sep = "&" if "?" in location else "?"
        put = urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT")
        put.add_header("Content-Type", "application/octet-stream")
        urllib.request.urlopen(put, timeout=30).close()
        return {"digest": digest, "size": len(data)}

    layer = {
        "mediaType": "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip",
        **blob(db_archive(cache)),
        "annotations": {"org.opencontainers.image.title": "db.tar.gz"},
    }
    config = {"mediaType": "application/vnd.aquasec.trivy.config.v1+json", **blob(b"{}")}
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    }
    url = f"http://{host}/v2/{name}/manifests/{tag}"
    put = urllib.request.Request(url, data=json.dumps(manifest).encode(), method="PUT")
    put.add_header("Content-Type", manifest["mediaType"])
    urllib.request.urlopen(put, timeout=30).close()
    return f"{repository}:{tag}"
