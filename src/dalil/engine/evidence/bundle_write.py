"""Writing a sealed evidence bundle; the layout is described in :mod:`.bundle`.

Exhibit files are streamed in 1 MiB chunks and stored uncompressed: a 2 TB image needs no
more memory than a photo, runs at disk speed, and never looks like a compression bomb to the
partner's checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dalil.engine.evidence.bundle_safety import BundleError, collision_key, safe_component
from dalil.engine.evidence.canonical import canonical_bytes
from dalil.engine.evidence.custody import ChainHead, CustodyRecord
from dalil.engine.evidence.signing import SigningKey, b64

FORMAT = "dalil-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
CUSTODY = "custody.json"
CASE_UCO = "case-uco.jsonld"
PUBLIC_KEY = "public_key.txt"
RESERVED_NAMES = (MANIFEST, SIGNATURE, CUSTODY, CASE_UCO, PUBLIC_KEY)
CHUNK = 1024 * 1024  # bytes per read while streaming

Progress = Callable[[int, int], None]
"""``(bytes_done, bytes_total)``."""


@dataclass(frozen=True)
class SourceFile:
    """An exhibit file to bundle; ``size`` (bytes) and ``sha256`` as recorded in the case."""

    exhibit: str
    name: str  # the original name; sanitised for the archive path
    path: Path  # where the bytes are: a blob in the store, or an external image file
    size: int
    sha256: str


@dataclass(frozen=True)
class BundleContents:
    case: str
    creator: str
    files: Sequence[SourceFile]
    exhibits: Sequence[Mapping[str, Any]]  # number, root, parent, type, description...
    custody: Sequence[CustodyRecord]
    head: ChainHead | None
    case_uco: Mapping[str, Any]
    case_info: Mapping[str, Any] = field(default_factory=dict)  # title, offence, authority


@dataclass(frozen=True)
class WrittenBundle:
    path: Path
    manifest_sha256: str  # of the manifest.json bytes in the archive
    files: int
    size: int  # bytes of exhibit data


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def _archive_paths(files: Sequence[SourceFile]) -> list[str]:
    """``exhibits/<exhibit>/<name>``, made unique under :func:`collision_key`."""
    taken: set[str] = {collision_key(n) for n in RESERVED_NAMES}
    paths = []
    for item in files:
        folder = f"exhibits/{safe_component(item.exhibit, 'exhibit')}"
        stem = safe_component(item.name)
        candidate, n = f"{folder}/{stem}", 1
        while collision_key(candidate) in taken:
            n += 1
            candidate = f"{folder}/{n}-{stem}"
        taken.add(collision_key(candidate))
        paths.append(candidate)
    return paths


def _copy_in(archive: zipfile.ZipFile, arcname: str, item: SourceFile,
             advance: Callable[[int], None]) -> None:
    """Stream one exhibit file into the archive, refusing bytes that differ from the record."""
    digest = hashlib.sha256()
    size = 0
    info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o444 << 16
    try:
        with open(item.path, "rb") as source, archive.open(info, "w", force_zip64=True) as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
                advance(len(chunk))
    except OSError as exc:
        raise BundleError(f"exhibit {item.exhibit} ({item.name}): cannot read {item.path}: "
                          f"{exc.strerror or exc}") from exc
    if size != item.size or digest.hexdigest() != item.sha256:
        raise BundleError(
            f"exhibit {item.exhibit} ({item.name}): the bytes no longer match the record "
            f"(SHA-256 {digest.hexdigest()}, {size} bytes; recorded {item.sha256}, "
            f"{item.size} bytes); run `dalil verify` — nothing was exported")


def _add_document(archive: zipfile.ZipFile, name: str, data: bytes) -> dict[str, Any]:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o444 << 16
    archive.writestr(info, data)
    return {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "exhibit": None}


def write_bundle(dest: Path, contents: BundleContents, key: SigningKey, *,
                 created_at: str | None = None, progress: Progress | None = None
                 ) -> WrittenBundle:
    """Write and sign a bundle; ``dest`` appears only once it is complete."""
    dest = Path(dest)
    paths = _archive_paths(contents.files)
    total = sum(f.size for f in contents.files)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.",
                                        suffix=".partial")
    except OSError as exc:
        raise BundleError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", allowZip64=True) as archive:
            listed = []
            for arcname, item in zip(paths, contents.files, strict=True):
                _copy_in(archive, arcname, item, advance)
                listed.append({"path": arcname, "size": item.size, "sha256": item.sha256,
                               "exhibit": item.exhibit, "name": item.name})
            custody = {"format": "dalil-custody/1", "case": contents.case,
                       "entries": [r.to_dict() for r in contents.custody],
                       "head": contents.head.to_dict() if contents.head else None}
            listed.append(_add_document(archive, CUSTODY, _json_bytes(custody)))
            uco_entry = _add_document(archive, CASE_UCO, _json_bytes(contents.case_uco))
            listed.append(uco_entry)
            listed.append(_add_document(archive, PUBLIC_KEY, (key.public.b64() + "\n").encode()))
            manifest = {
                "format": FORMAT,
                "case": contents.case,
                "case_info": dict(contents.case_info),
                "created_at": created_at or _now(),
                "creator": contents.creator,
                "exhibits": [dict(e) for e in contents.exhibits],
                "files": listed,
                "custody": custody,
                "case_uco": {"path": CASE_UCO, "sha256": uco_entry["sha256"]},
                "public_key": {"algorithm": "Ed25519", "base64": key.public.b64(),
                               "fingerprint": key.public.fingerprint},
            }
            manifest_bytes = _json_bytes(manifest)
            _add_document(archive, MANIFEST, manifest_bytes)
            signature = b64(key.sign(canonical_bytes(manifest)))
            _add_document(archive, SIGNATURE, (signature + "\n").encode())
        os.replace(tmp_name, dest)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return WrittenBundle(dest, hashlib.sha256(manifest_bytes).hexdigest(), len(paths), total)
