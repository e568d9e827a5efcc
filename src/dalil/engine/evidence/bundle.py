"""Sealed evidence bundles: one ZIP a partner abroad can verify with the CLI alone.

Layout of ``CASE.dalil.zip``::

    exhibits/<exhibit>/<name>   the exhibits' bytes, stored (not compressed)
    custody.json                the case's custody log and its signed head
    case-uco.jsonld             the CASE/UCO description
    public_key.txt              the signer's Ed25519 public key (base64)
    manifest.json               what is in the bundle, with sizes and SHA-256 digests
    manifest.sig                Ed25519 signature (base64) over the RFC 8785 form of the manifest

The manifest is the one signed document: it lists every other file with its hash and holds
the custody log itself, so one signature covers everything. Verification needs nothing but
this package: no database, no DALIL_HOME, no Django.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dalil.engine.evidence.bundle_read import BundleReader, open_bundle, parse_json
from dalil.engine.evidence.bundle_safety import (
    DEFAULT_LIMITS,
    BundleError,
    Limits,
    UnsafeArchive,
    name_problem,
)
from dalil.engine.evidence.bundle_write import (
    CASE_UCO,
    CHUNK,
    CUSTODY,
    FORMAT,
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    BundleContents,
    Progress,
    SourceFile,
    WrittenBundle,
    write_bundle,
)
from dalil.engine.evidence.canonical import canonical_bytes
from dalil.engine.evidence.custody import ChainHead, ChainReport, CustodyRecord, verify_chain
from dalil.engine.evidence.signing import PublicKey, unb64

__all__ = [
    "CASE_UCO", "CUSTODY", "FORMAT", "MANIFEST", "PUBLIC_KEY", "SIGNATURE", "BundleContents",
    "BundleError", "BundleReader", "BundleReport", "FileResult", "Limits", "SourceFile",
    "UnsafeArchive", "WrittenBundle", "custody_of", "open_bundle", "verify_bundle",
    "verify_reader", "write_bundle",
]


@dataclass
class FileResult:
    path: str
    exhibit: str | None
    size: int  # bytes, as the manifest lists it
    sha256: str  # as the manifest lists it
    actual_sha256: str | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem and self.actual_sha256 == self.sha256

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "exhibit": self.exhibit, "size": self.size,
                "sha256": self.sha256, "actual_sha256": self.actual_sha256, "ok": self.ok,
                "problem": self.problem}


@dataclass
class BundleReport:
    """What verification found; every problem names the file or custody entry concerned."""

    bundle: str
    case: str | None = None
    key_fingerprint: str | None = None
    signature_ok: bool = False
    manifest_sha256: str | None = None  # of the manifest.json bytes
    files: list[FileResult] = field(default_factory=list)
    custody: ChainReport | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "intact": self.intact,
            "case": self.case,
            "key": {"fingerprint": self.key_fingerprint, "signature_ok": self.signature_ok},
            "manifest_sha256": self.manifest_sha256,
            "files": [f.to_dict() for f in self.files],
            "custody": self.custody.to_dict() if self.custody else None,
            "problems": list(self.problems),
        }


def custody_of(manifest: Mapping[str, Any]) -> tuple[list[CustodyRecord], ChainHead | None]:
    """The custody records and signed head held in a manifest."""
    try:
        custody = manifest["custody"]
        records = [CustodyRecord.from_dict(e) for e in custody["entries"]]
        head = ChainHead.from_dict(custody["head"]) if custody.get("head") else None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{MANIFEST}: malformed custody log ({exc})") from exc
    return records, head


def _check_key(report: BundleReport, reader: BundleReader, manifest: Mapping[str, Any],
               expected_key: str | None) -> PublicKey | None:
    try:
        key = PublicKey.from_b64(str(manifest["public_key"]["base64"]))
    except (KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"{MANIFEST}: no valid public key ({exc})")
        return None
    report.key_fingerprint = key.fingerprint
    stated = manifest["public_key"].get("fingerprint")
    if stated != key.fingerprint:
        report.problems.append(f"{MANIFEST}: the stated key fingerprint {stated} is not that "
                               f"of the bundled key ({key.fingerprint})")
    if expected_key is not None and expected_key != key.fingerprint:
        report.problems.append(f"{MANIFEST}: signed with key {key.fingerprint}, "
                               f"not the expected {expected_key}")
    try:
        signature = unb64(reader.read(SIGNATURE).decode("ascii").strip())
        report.signature_ok = key.verify(signature, canonical_bytes(manifest))
    except (BundleError, UnicodeDecodeError, ValueError, TypeError):
        report.signature_ok = False
    if not report.signature_ok:
        report.problems.append(f"{SIGNATURE}: the manifest's signature does not verify")
    if PUBLIC_KEY in reader.entries:
        try:
            text = reader.read(PUBLIC_KEY).decode("ascii").strip()
        except (BundleError, UnicodeDecodeError):
            text = ""
        if text != key.b64():
            report.problems.append(f"{PUBLIC_KEY}: differs from the key in the manifest")
    return key


def _hash_entry(reader: BundleReader, result: FileResult, advance: Progress) -> None:
    info = reader.entries.get(result.path)
    if info is None:
        result.problem = "missing from the bundle"
        return
    if info.file_size != result.size:
        result.problem = f"size is {info.file_size} bytes, the manifest says {result.size}"
        return
    digest = hashlib.sha256()
    try:
        with reader.open(result.path) as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                advance(len(chunk), 0)
    except BundleError as exc:
        result.problem = str(exc).removeprefix(f"{result.path}: ")
        return
    result.actual_sha256 = digest.hexdigest()
    if result.actual_sha256 != result.sha256:
        result.problem = "SHA-256 mismatch"


def _check_files(report: BundleReport, reader: BundleReader, manifest: Mapping[str, Any],
                 progress: Progress | None) -> None:
    listed = manifest.get("files")
    if not isinstance(listed, list):
        report.problems.append(f"{MANIFEST}: no list of files")
        return
    total = sum(int(f.get("size", 0)) for f in listed if isinstance(f, dict))
    done = 0

    def advance(count: int, _: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    seen: set[str] = set()
    for item in listed:
        try:
            result = FileResult(str(item["path"]), item.get("exhibit"), int(item["size"]),
                                str(item["sha256"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            report.problems.append(f"{MANIFEST}: malformed file entry {item!r:.200}")
            continue
        if result.path in seen or result.path in (MANIFEST, SIGNATURE):
            result.problem = "listed twice in the manifest"
        elif reason := name_problem(result.path):
            result.problem = f"unsafe path in the manifest ({reason})"
        else:
            _hash_entry(reader, result, advance)
        seen.add(result.path)
        report.files.append(result)
        if result.problem:
            report.problems.append(f"{result.path}: {result.problem}")
    for name in reader.entries:
        if name not in seen and name not in (MANIFEST, SIGNATURE):
            report.problems.append(f"{name}: not listed in the manifest")


def _check_custody(report: BundleReport, reader: BundleReader, manifest: Mapping[str, Any],
                   key: PublicKey | None) -> None:
    try:
        records, head = custody_of(manifest)
    except BundleError as exc:
        report.problems.append(str(exc))
        return
    case = str(manifest.get("case"))
    trusted = {key.fingerprint: key} if key is not None else {}
    report.custody = verify_chain(case, records, trusted, head)
    report.problems.extend(f"custody {problem}" for problem in report.custody.problems)
    try:
        bundled = parse_json(reader.read(CUSTODY), CUSTODY)
    except BundleError as exc:
        report.problems.append(str(exc))
        return
    if bundled != manifest["custody"]:
        report.problems.append(f"{CUSTODY}: differs from the custody log in the manifest")


def _check_case_uco(report: BundleReport, manifest: Mapping[str, Any]) -> None:
    section = manifest.get("case_uco")
    if not isinstance(section, dict):
        report.problems.append(f"{MANIFEST}: no CASE/UCO document")
        return
    path, expected = section.get("path"), section.get("sha256")
    listed = next((f for f in report.files if f.path == path), None)
    if listed is None:
        report.problems.append(f"{path}: the CASE/UCO document is not in the bundle")
    elif listed.actual_sha256 is not None and listed.actual_sha256 != expected:
        report.problems.append(f"{path}: SHA-256 mismatch with the manifest's CASE/UCO hash")


def verify_reader(reader: BundleReader, expected_key: str | None = None,
                  progress: Progress | None = None) -> BundleReport:
    """Every check of an opened bundle: signature, key, files, custody chain, CASE/UCO."""
    report = BundleReport(bundle=reader.path.name)
    try:
        raw = reader.read(MANIFEST)
        report.manifest_sha256 = hashlib.sha256(raw).hexdigest()
        manifest = reader.manifest()
    except BundleError as exc:
        report.problems.append(str(exc))
        return report
    report.case = str(manifest.get("case"))
    key = _check_key(report, reader, manifest, expected_key)
    _check_files(report, reader, manifest, progress)
    _check_custody(report, reader, manifest, key)
    _check_case_uco(report, manifest)
    return report


def verify_bundle(path: Path, expected_key: str | None = None, *, limits: Limits = DEFAULT_LIMITS,
                  progress: Progress | None = None) -> BundleReport:
    """Open and check a bundle; a corrupt or hostile archive is reported, not raised."""
    try:
        with open_bundle(path, limits) as reader:
            return verify_reader(reader, expected_key, progress)
    except BundleError as exc:
        return BundleReport(bundle=Path(path).name, problems=[str(exc)])
