"""Operations on cases, exhibits and custody: the one place that writes these records.

The CLI and the web views both call these functions; every one that changes evidence
records a signed custody entry in the same database transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction

from dalil import __version__
from dalil.app.cases.keys import installation_key, trusted_keys
from dalil.app.cases.models import (
    AcquisitionLog,
    Case,
    CustodyEntry,
    Exhibit,
    ExhibitFile,
    ExhibitPhoto,
    SceneRecord,
)
from dalil.engine.evidence import custody as chain
from dalil.engine.evidence.blobstore import BlobStore, BlobStoreError, StoredBlob
from dalil.engine.evidence.canonical import canonical_sha256
from dalil.engine.evidence.scene import MissingItem, missing_items
from dalil.engine.evidence.signing import b64, unb64

EXHIBIT_HASHES = ("md5", "sha1")  # stored beside SHA-256, as courts in the region still ask


class CaseError(Exception):
    """A case operation was refused; the message says which item and why."""


def now_utc() -> str:
    """The current time, UTC, ISO 8601 with microseconds and a Z."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def blob_store() -> BlobStore:
    return BlobStore(Path(settings.DALIL_HOME) / "blobs")


def actor_name(user: Any) -> str:
    if user is None:
        return "system"
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return f"{user.username} ({full})" if full else str(user.username)


# --- cases ---------------------------------------------------------------------------------


def create_case(*, number: str, title: str, actor: str, user: Any = None,
                **fields: Any) -> Case:
    """Open a case and record its first (case-level) custody entry."""
    number = number.strip()
    if not number:
        raise CaseError("a case needs a number")
    if not title.strip():
        raise CaseError(f"case {number}: a case needs a title")
    if user is not None and getattr(user, "institution_id", None) and "institution" not in fields:
        fields["institution_id"] = user.institution_id
    try:
        with transaction.atomic():
            case = Case.objects.create(number=number, title=title.strip(), created_by=user,
                                       **fields)
            _append(case, None, "created", actor, {"title": case.title})
    except IntegrityError as exc:
        raise CaseError(f"case {number} already exists") from exc
    return case


def get_case(number: str, user: Any = None) -> Case:
    cases = Case.objects.all() if user is None else Case.objects.visible_to(user)
    try:
        return cases.get(number=number)
    except Case.DoesNotExist:
        raise CaseError(f"no case numbered {number!r}") from None


def get_exhibit(case: Case, number: str) -> Exhibit:
    try:
        return case.exhibits.get(number=number)
    except Exhibit.DoesNotExist:
        raise CaseError(f"case {case.number} has no exhibit {number!r}") from None


# --- custody -------------------------------------------------------------------------------


def _append(case: Case, exhibit: Exhibit | None, action: str, actor: str,
            details: Mapping[str, Any]) -> CustodyEntry:
    """Seal and store the next entry of the case's chain. Call inside a transaction."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    last = locked.custody.order_by("-seq").first()
    key = installation_key()
    record = chain.seal(
        key, seq=(last.seq + 1) if last else 1, case=locked.number,
        exhibit=exhibit.number if exhibit else None, action=action, actor=actor, at=now_utc(),
        details=dict(details), prev_hash=last.entry_hash if last else chain.GENESIS,
    )
    entry = CustodyEntry.objects.create(
        case=locked, seq=record.seq, exhibit=exhibit, exhibit_number=record.exhibit or "",
        action=record.action, actor=record.actor, at=record.at, details=record.details,
        prev_hash=record.prev_hash, key_id=record.key_id, entry_hash=record.entry_hash,
        signature=record.signature,
    )
    locked.custody_head = chain.sign_head(key, record).to_dict()
    locked.save(update_fields=["custody_head"])
    case.custody_head = locked.custody_head
    return entry


def record_custody(case: Case, exhibit: Exhibit | None, action: str, actor: str,
                   details: Mapping[str, Any]) -> CustodyEntry:
    """Append one custody entry (seized, sealed, transferred, ...) after checking its details."""
    try:
        chain.check_details(action, details)
    except chain.CustodyError as exc:
        where = f"exhibit {exhibit.number}" if exhibit else f"case {case.number}"
        raise CaseError(f"{where}: {exc}") from exc
    with transaction.atomic():
        entry = _append(case, exhibit, action, actor, details)
        if exhibit is not None and action in ("sealed", "transferred"):
            new_seal = details.get("seal_number") or details.get("new_seal")
            if new_seal:
                Exhibit.objects.filter(pk=exhibit.pk).update(seal_number=new_seal)
    return entry


def custody_records(case: Case) -> list[chain.CustodyRecord]:
    number = case.number
    return [
        chain.CustodyRecord(
            seq=e.seq, case=number, exhibit=e.exhibit_number or None, action=e.action,
            actor=e.actor, at=e.at, details=e.details, prev_hash=e.prev_hash, key_id=e.key_id,
            entry_hash=e.entry_hash, signature=e.signature,
        )
        for e in CustodyEntry.objects.filter(case=case).order_by("seq", "id")
    ]


# --- exhibits ------------------------------------------------------------------------------


def _exhibit_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    allowed = {f.name for f in Exhibit._meta.get_fields() if getattr(f, "editable", False)}
    unknown = set(fields) - allowed
    if unknown:
        raise CaseError(f"unknown exhibit fields: {', '.join(sorted(unknown))}")
    return dict(fields)


def add_exhibit(
    case: Case,
    *,
    number: str,
    actor: str,
    content: BinaryIO | None = None,
    content_name: str = "",
    expected_size: int | None = None,
    parent: Exhibit | None = None,
    progress: Callable[[int], None] | None = None,
    **fields: Any,
) -> Exhibit:
    """Register an exhibit, with its bytes streamed into the blob store and hashed on the way.

    The blob is written before the database rows: a failed upload leaves no exhibit, and an
    exhibit never points at bytes that are not there.
    """
    number = number.strip()
    if not number:
        raise CaseError(f"case {case.number}: an exhibit needs a number")
    if case.exhibits.filter(number=number).exists():
        raise CaseError(f"exhibit {number} already exists in case {case.number}")
    if fields.get("seized_by") and not fields.get("seized_where"):
        raise CaseError(f"exhibit {number}: a seizure needs the place where it happened")
    blob = None
    if content is not None:
        try:
            blob = blob_store().put_stream(content, expected_size=expected_size,
                                           progress=progress, also=EXHIBIT_HASHES)
        except BlobStoreError as exc:
            raise CaseError(f"exhibit {number} ({content_name or 'upload'}): {exc}") from exc
        except OSError as exc:
            raise CaseError(f"exhibit {number}: cannot read {content_name or 'the upload'}: "
                            f"{exc.strerror or exc}; nothing was stored") from exc
    try:
        with transaction.atomic():
            exhibit = Exhibit.objects.create(case=case, number=number, parent=parent,
                                             **_exhibit_fields(fields))
            details: dict[str, Any] = {"description": exhibit.description}
            if blob is not None:
                ExhibitFile.objects.create(
                    exhibit=exhibit, name=content_name or number, size=blob.size,
                    sha256=blob.sha256, md5=blob.hashes.get("md5", ""),
                    sha1=blob.hashes.get("sha1", ""),
                )
                details.update(file=content_name, size=blob.size, hashes=blob.hashes)
            if exhibit.seized_by:
                details.update(seized_by=exhibit.seized_by, place=exhibit.seized_where,
                               seized_at=exhibit.seized_at.isoformat() if exhibit.seized_at
                               else None)
                _append(case, exhibit, "seized", actor, details)
            else:
                _append(case, exhibit, "created", actor, details)
            if exhibit.seal_number:
                _append(case, exhibit, "sealed", actor, {"seal_number": exhibit.seal_number})
    except IntegrityError as exc:
        raise CaseError(f"exhibit {number} already exists in case {case.number}") from exc
    return exhibit


def add_exhibit_from_path(case: Case, path: Path, *, number: str, actor: str,
                          progress: Callable[[int], None] | None = None,
                          **fields: Any) -> Exhibit:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after the blob is stored
    except OSError as exc:
        raise CaseError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        return add_exhibit(case, number=number, actor=actor, content=handle,
                           content_name=path.name, progress=progress, **fields)


def add_exhibit_from_blobs(case: Case, *, number: str, actor: str,
                           blobs: Iterable[tuple[str, StoredBlob]], action: str,
                           details: Mapping[str, Any], parent: Exhibit | None = None,
                           **fields: Any) -> Exhibit:
    """Register an exhibit whose bytes are already in the blob store (a bundle import).

    ``blobs`` are (original name, stored blob) in segment order; one custody entry of
    ``action`` records where they came from, with the files' sizes and hashes.
    """
    try:
        chain.check_details(action, details)
    except chain.CustodyError as exc:
        raise CaseError(f"exhibit {number}: {exc}") from exc
    try:
        with transaction.atomic():
            exhibit = Exhibit.objects.create(case=case, number=number, parent=parent,
                                             **_exhibit_fields(fields))
            files = []
            for order, (name, blob) in enumerate(blobs):
                ExhibitFile.objects.create(
                    exhibit=exhibit, name=name, size=blob.size, sha256=blob.sha256,
                    md5=blob.hashes.get("md5", ""), sha1=blob.hashes.get("sha1", ""),
                    order=order)
                files.append({"file": name, "size": blob.size, "hashes": blob.hashes})
            _append(case, exhibit, action, actor, {**details, "files": files})
    except IntegrityError as exc:
        raise CaseError(f"exhibit {number} already exists in case {case.number}") from exc
    return exhibit


def add_photo(exhibit: Exhibit, content: BinaryIO, content_type: str, caption: str,
              actor: str) -> ExhibitPhoto:
    if not content_type.startswith("image/"):
        raise CaseError(f"exhibit {exhibit.number}: a photo must be an image, not {content_type}")
    blob = blob_store().put_stream(content)
    with transaction.atomic():
        photo = ExhibitPhoto.objects.create(exhibit=exhibit, sha256=blob.sha256,
                                            content_type=content_type, caption=caption)
        _append(exhibit.case, exhibit, "note", actor,
                {"text": f"photograph added: {caption}", "sha256": blob.sha256})
    return photo


def next_derived_number(exhibit: Exhibit) -> str:
    taken = set(exhibit.case.exhibits.values_list("number", flat=True))
    n = 1
    while f"{exhibit.number}.{n}" in taken:
        n += 1
    return f"{exhibit.number}.{n}"


def record_acquisition(case: Case, source: Exhibit, result: Mapping[str, Any], actor: str,
                       number: str | None = None) -> AcquisitionLog:
    """Register an acquired image as a derived exhibit with a signed acquisition log.

    ``result`` is the engine's AcquisitionResult.to_dict(). The image files stay where the
    examiner wrote them (images are large); their hashes are recorded and re-checked by
    :func:`verify_case`.
    """
    number = number or next_derived_number(source)
    image_paths = [str(p) for p in result["image_paths"]]
    document = {
        "case": case.number,
        "source_exhibit": source.number,
        "image_exhibit": number,
        "examiner": actor,
        "tool": {"name": "dalil", "version": __version__},
        "result": dict(result),
    }
    digest = canonical_sha256(document)
    key = installation_key()
    hashes = dict(result["hashes"])
    with transaction.atomic():
        image = Exhibit.objects.create(
            case=case, number=number, parent=source, type="image",
            description=f"{result.get('format', 'raw')} image of exhibit {source.number}",
        )
        segment_hashes = result.get("segment_hashes") or []
        for order, path in enumerate(image_paths):
            file_hashes = _file_hashes(Path(path), segment_hashes, order, len(image_paths),
                                       hashes)
            ExhibitFile.objects.create(
                exhibit=image, name=Path(path).name, size=Path(path).stat().st_size,
                sha256=file_hashes["sha256"], md5=file_hashes.get("md5", ""),
                sha1=file_hashes.get("sha1", ""), in_store=False, external_path=path,
                order=order,
            )
        log = AcquisitionLog.objects.create(
            image_exhibit=image, source_exhibit=source, examiner=actor, document=document,
            document_sha256=digest, key_id=key.public.fingerprint,
            signature=b64(key.sign(digest.encode("ascii"))),
        )
        _append(case, source, "acquired", actor,
                {"image": image_paths, "image_exhibit": number, "hashes": hashes,
                 "errors": result.get("errors", []), "verified": result.get("verified")})
        _append(case, image, "created", actor,
                {"derived_from": source.number, "hashes": hashes, "log_sha256": digest})
        verification = result.get("verification")
        if verification:
            _append(case, image, "verified", actor, verification)
    return log


def signed_log_document(log: AcquisitionLog) -> dict[str, Any]:
    """The acquisition log as exported beside the image: document, hash, signature, key."""
    return {
        "format": "dalil-acquisition-log/1",
        "document": log.document,
        "document_sha256": log.document_sha256,
        "signature": {"algorithm": "Ed25519", "key_id": log.key_id, "value": log.signature,
                      "public_key": installation_key().public.b64()},
    }


def _file_hashes(path: Path, segment_hashes: list[Any], order: int, count: int,
                 whole: Mapping[str, str]) -> dict[str, str]:
    """Hashes of one image file: the whole image's for a single raw file, else hash it."""
    if count == 1 and path.suffix.lower() not in (".e01", ".ex01") and "sha256" in whole:
        return dict(whole)
    if order < len(segment_hashes) and "sha256" in segment_hashes[order].get("hashes", {}):
        return dict(segment_hashes[order]["hashes"])
    return {"sha256": _sha256_of(path)}


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- verification --------------------------------------------------------------------------


@dataclass
class FileCheck:
    exhibit: str
    name: str
    expected: str
    actual: str | None
    error: str = ""

    @property
    def intact(self) -> bool:
        return self.actual == self.expected and not self.error


@dataclass
class CaseVerification:
    case: str
    chain: chain.ChainReport
    files: list[FileCheck] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)  # acquisition logs whose signature fails

    @property
    def intact(self) -> bool:
        return self.chain.intact and all(f.intact for f in self.files) and not self.logs

    def first_failure(self) -> str | None:
        if problem := self.chain.first_problem:
            return f"custody {problem}"
        for check in self.files:
            if not check.intact:
                why = check.error or f"SHA-256 is {check.actual}, recorded {check.expected}"
                return f"exhibit {check.exhibit} ({check.name}): bytes changed: {why}"
        if self.logs:
            return self.logs[0]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "intact": self.intact,
            "first_failure": self.first_failure(),
            "custody": self.chain.to_dict(),
            "exhibits": [
                {"exhibit": f.exhibit, "file": f.name, "algorithm": "sha256",
                 "expected": f.expected, "actual": f.actual, "match": f.intact,
                 "error": f.error}
                for f in self.files
            ],
            "acquisition_logs": {"problems": self.logs},
        }


def _head(case: Case) -> chain.ChainHead | None:
    return chain.ChainHead.from_dict(case.custody_head) if case.custody_head else None


def verify_case(case: Case, actor: str, *, record: bool = True,
                progress: Callable[[int, int], None] | None = None) -> CaseVerification:
    """Check the custody chain, re-hash every exhibit's bytes and every acquisition log.

    With ``record`` each exhibit file's result is appended as a ``verified`` custody entry —
    a mismatch included: it is recorded as an event, never overwritten.
    """
    case.refresh_from_db()
    report = chain.verify_chain(case.number, custody_records(case), trusted_keys(), _head(case))
    result = CaseVerification(case.number, report)
    files = list(ExhibitFile.objects.filter(exhibit__case=case).select_related("exhibit"))
    total = sum(f.size for f in files)
    done = 0
    store = blob_store()
    for item in files:
        try:
            if item.in_store:
                actual = store.rehash(item.sha256)
            else:
                actual = _sha256_of(Path(item.external_path))
            result.files.append(FileCheck(item.exhibit.number, item.name, item.sha256, actual))
        except (OSError, BlobStoreError) as exc:
            where = item.external_path or f"blob {item.sha256}"
            result.files.append(FileCheck(item.exhibit.number, item.name, item.sha256, None,
                                          f"cannot read {where}: {exc}"))
        done += item.size
        if progress:
            progress(done, total)
    keys = trusted_keys()
    for log in AcquisitionLog.objects.filter(image_exhibit__case=case).select_related(
            "image_exhibit"):
        key = keys.get(log.key_id)
        ok = canonical_sha256(log.document) == log.document_sha256 and key is not None and \
            key.verify(unb64(log.signature), log.document_sha256.encode("ascii"))
        if not ok:
            result.logs.append(f"acquisition log of exhibit {log.image_exhibit.number} was altered"
                               " or its signature does not verify")
    if record:
        with transaction.atomic():
            for check in result.files:
                exhibit = Exhibit.objects.get(case=case, number=check.exhibit)
                _append(case, exhibit, "verified", actor, {
                    "algorithm": "sha256", "file": check.name, "expected": check.expected,
                    "actual": check.actual or f"unreadable: {check.error}",
                    "match": check.intact,
                })
    return result


# --- scene record --------------------------------------------------------------------------

SCENE_FIELDS = [
    "location", "authority_reference", "arrival_at", "persons_present", "scene_secured",
    "scene_secured_how", "photographs_taken", "photographs_count", "device_states_recorded",
    "volatile_order", "volatile_decision", "volatile_justification", "volatile_tools",
    "shutdown_decision", "shutdown_justification", "packaging_labels", "non_digital_traces",
]


def scene_missing_items(scene: SceneRecord) -> list[MissingItem]:
    case = scene.case
    exhibits = list(case.exhibits.values(
        "number", "type", "power_state", "isolation_method", "isolation_justification",
        "seal_number", "parent"))
    actions: dict[str, set[str]] = {}
    for number, action in case.custody.values_list("exhibit_number", "action"):
        actions.setdefault(number, set()).add(action)
    values = {name: getattr(scene, name) for name in SCENE_FIELDS}
    return missing_items(values, exhibits, actions, bool(case.authority_type))


def save_scene(case: Case, values: Mapping[str, Any], actor: str,
               scene: SceneRecord | None = None) -> SceneRecord:
    unknown = set(values) - set(SCENE_FIELDS)
    if unknown:
        raise CaseError(f"unknown scene fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        if scene is None:
            scene = SceneRecord(case=case)
        for name, value in values.items():
            setattr(scene, name, value)
        scene.recorded_by = actor
        scene.save()
    return scene


def custody_timeline(case: Case, exhibit: Exhibit | None = None) -> Iterable[CustodyEntry]:
    entries = CustodyEntry.objects.filter(case=case)
    if exhibit is not None:
        entries = entries.filter(exhibit=exhibit)
    return entries.order_by("seq")
