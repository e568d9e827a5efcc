"""Exchange with partners: CASE/UCO export, sealed bundles out, verified bundles in.

This module gathers the case's records into the engine's plain dataclasses and calls the
pure builders in :mod:`dalil.engine.evidence.caseuco` and :mod:`.bundle`; every write to
the database goes through :mod:`dalil.app.cases.services`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from dalil import __version__
from dalil.app.cases import services
from dalil.app.cases.keys import installation_key, trust
from dalil.app.cases.models import Case, Exhibit
from dalil.engine.evidence import bundle, caseuco
from dalil.engine.evidence.blobstore import CHUNK, BlobStoreError, StoredBlob
from dalil.engine.evidence.custody import ChainHead
from dalil.engine.evidence.signing import PublicKey

CaseError = services.CaseError

# Exhibit fields a bundle carries, so that the partner's record says what the item is.
EXCHANGED_FIELDS = ("type", "description", "make", "model", "serial", "imei", "iccid",
                    "condition", "seal_number", "seized_by", "seized_where")


def _iso(value: dt.datetime | None) -> str | None:
    """UTC ISO 8601 with a Z, as xsd:dateTime and the custody log write it."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def case_info(case: Case) -> caseuco.CaseInfo:
    authority = None
    if case.authority_type:
        authority = caseuco.Authority(
            type=case.authority_type, identifier=case.authority_identifier,
            issuer=case.authority_issuer, scope=case.authority_scope,
            valid_from=_iso(case.authority_valid_from),
            valid_until=_iso(case.authority_valid_until))
    return caseuco.CaseInfo(number=case.number, title=case.title, offence=case.offence,
                            status=case.status, jurisdiction=case.jurisdiction,
                            created_at=_iso(case.created_at), authority=authority)


def exhibit_info(exhibit: Exhibit) -> caseuco.ExhibitInfo:
    parent = exhibit.parent.number if exhibit.parent_id and exhibit.parent else None
    return caseuco.ExhibitInfo(
        number=exhibit.number, root=exhibit.root_number, type=exhibit.type, parent=parent,
        description=exhibit.description, make=exhibit.make, model=exhibit.model,
        serial=exhibit.serial, imei=exhibit.imei, iccid=exhibit.iccid,
        files=tuple(caseuco.FileInfo(f.name, f.size, f.hashes()) for f in exhibit.files.all()))


def select_exhibits(case: Case, numbers: Sequence[str] | None = None) -> list[Exhibit]:
    """The case's exhibits, or those numbered, in the order given; unknown numbers refused."""
    exhibits = list(case.exhibits.select_related("parent").prefetch_related("files"))
    if not numbers:
        return exhibits
    by_number = {e.number: e for e in exhibits}
    unknown = [n for n in numbers if n not in by_number]
    if unknown:
        raise CaseError(f"case {case.number} has no exhibit {', '.join(unknown)}")
    return [by_number[n] for n in dict.fromkeys(numbers)]


def case_uco_document(case: Case, exhibits: Sequence[Exhibit] | None = None) -> dict[str, Any]:
    """The CASE/UCO JSON-LD of a case (or of some of its exhibits) and its custody actions."""
    chosen = select_exhibits(case) if exhibits is None else exhibits
    return caseuco.build(case_info(case), [exhibit_info(e) for e in chosen],
                         services.custody_records(case), __version__)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    nodes: int  # top-level nodes in the @graph


def export_case_uco(case: Case, output: Path) -> ExportResult:
    """Write the case's CASE/UCO document; the same records always give the same bytes."""
    document = case_uco_document(case)
    data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise CaseError(f"cannot write {output}: {exc.strerror or exc}") from exc
    return ExportResult(output, hashlib.sha256(data).hexdigest(), len(document["@graph"]))


# --- bundles out ----------------------------------------------------------------------------


def _source_files(exhibits: Sequence[Exhibit]) -> list[bundle.SourceFile]:
    store = services.blob_store()
    return [
        bundle.SourceFile(exhibit=e.number, name=f.name, size=f.size, sha256=f.sha256,
                          path=store.path_for(f.sha256) if f.in_store else Path(f.external_path))
        for e in exhibits for f in e.files.all()
    ]


def _exhibit_summary(exhibit: Exhibit) -> dict[str, Any]:
    summary: dict[str, Any] = {"number": exhibit.number, "root": exhibit.root_number,
                               "parent": exhibit.parent.number if exhibit.parent else None}
    summary.update({name: getattr(exhibit, name) for name in EXCHANGED_FIELDS})
    summary["seized_at"] = _iso(exhibit.seized_at)
    return summary


def _case_summary(case: Case) -> dict[str, Any]:
    return {"number": case.number, "title": case.title, "offence": case.offence,
            "jurisdiction": case.jurisdiction,
            "authority": {"type": case.authority_type, "identifier": case.authority_identifier,
                          "issuer": case.authority_issuer, "scope": case.authority_scope,
                          "valid_from": _iso(case.authority_valid_from),
                          "valid_until": _iso(case.authority_valid_until)}}


def build_bundle(case: Case, output: Path, *, actor: str,
                 exhibits: Sequence[str] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> bundle.WrittenBundle:
    """Write a signed bundle of the case's exhibits and record an ``exported`` entry for each.

    The whole custody log goes in, whatever exhibits are chosen: a hash chain cannot be
    verified in part. Bytes that no longer match their record stop the export.
    """
    chosen = select_exhibits(case, exhibits)
    case.refresh_from_db()
    head = ChainHead.from_dict(case.custody_head) if case.custody_head else None
    contents = bundle.BundleContents(
        case=case.number, creator=actor, files=_source_files(chosen),
        exhibits=[_exhibit_summary(e) for e in chosen], custody=services.custody_records(case),
        head=head, case_uco=case_uco_document(case, chosen), case_info=_case_summary(case))
    try:
        written = bundle.write_bundle(output, contents, installation_key(), progress=progress)
    except bundle.BundleError as exc:
        raise CaseError(f"case {case.number}: {exc}") from exc
    with transaction.atomic():
        for exhibit in chosen:
            services.record_custody(case, exhibit, "exported", actor, {
                "format": bundle.FORMAT, "destination": str(output),
                "manifest_sha256": written.manifest_sha256,
                "files": [f.name for f in exhibit.files.all()]})
    return written


# --- bundles in -----------------------------------------------------------------------------


@dataclass
class ImportResult:
    case: str
    created_case: bool
    exhibits: list[str] = field(default_factory=list)
    partner_key: str = ""
    report: bundle.BundleReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "created_case": self.created_case,
                "exhibits": self.exhibits, "partner_key": self.partner_key,
                "bundle": self.report.to_dict() if self.report else None}


def _store(reader: bundle.BundleReader, path: str, size: int, sha256: str) -> StoredBlob:
    """Copy one entry into the blob store, checking again what verification checked."""
    try:
        with reader.open(path) as stream:
            chunks = iter(lambda: stream.read(CHUNK), b"")
            blob = services.blob_store().put_chunks(chunks, expected_size=size,
                                                    also=services.EXHIBIT_HASHES)
    except (bundle.BundleError, BlobStoreError) as exc:
        raise CaseError(f"{reader.path.name}: {path}: {exc}") from exc
    if blob.sha256 != sha256:
        raise CaseError(f"{reader.path.name}: {path}: changed while it was imported")
    return blob


def _documents(reader: bundle.BundleReader) -> dict[str, str]:
    """Keep the partner's own documents (custody log, manifest, signature, CASE/UCO)."""
    store = services.blob_store()
    return {name: store.put_bytes(reader.read(name)).sha256
            for name in (bundle.CUSTODY, bundle.MANIFEST, bundle.SIGNATURE, bundle.CASE_UCO)}


def _target_case(manifest: dict[str, Any], number: str | None, actor: str) -> tuple[Case, bool]:
    number = number or str(manifest["case"])
    try:
        return services.get_case(number), False
    except CaseError:
        pass
    info = manifest.get("case_info") or {}
    authority = info.get("authority") or {}
    fields = {"offence": info.get("offence", ""), "jurisdiction": info.get("jurisdiction", ""),
              "authority_type": authority.get("type", ""),
              "authority_identifier": authority.get("identifier", ""),
              "authority_issuer": authority.get("issuer", ""),
              "authority_scope": authority.get("scope", "")}
    title = info.get("title") or f"Imported from case {manifest['case']}"
    case = services.create_case(number=number, title=title, actor=actor, kind=Case.Kind.REAL,
                                **{k: str(v) for k, v in fields.items() if v})
    return case, True


def _exhibit_fields(summary: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {k: str(summary[k]) for k in EXCHANGED_FIELDS if summary.get(k)}
    if summary.get("seized_at"):
        fields["seized_at"] = dt.datetime.fromisoformat(str(summary["seized_at"]))
    return fields


def import_bundle(path: Path, *, actor: str, case_number: str | None = None,
                  progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Verify a partner's bundle, then add its exhibits to a case (created when absent).

    Nothing is written unless the bundle is intact and none of its exhibit numbers is taken.
    Each exhibit gets an ``imported`` entry naming the bundle, its manifest hash, the
    partner's key and the head of their custody log (kept whole, as a blob), and a
    ``transferred`` entry recording the hand-over from the partner.
    """
    try:
        reader = bundle.open_bundle(path)
    except bundle.BundleError as exc:
        raise CaseError(str(exc)) from exc
    with reader:
        report = bundle.verify_reader(reader, progress=progress)
        if not report.intact:
            raise CaseError(f"{path.name} is not intact, nothing imported: {report.problems[0]}")
        manifest = reader.manifest()
        number = case_number or str(manifest["case"])
        summaries = list(manifest.get("exhibits") or [])
        taken = set(Exhibit.objects.filter(
            case__number=number, number__in=[s["number"] for s in summaries]
        ).values_list("number", flat=True))
        if taken:
            raise CaseError(f"case {number} already has exhibit {', '.join(sorted(taken))}; "
                            "nothing imported")
        blobs: dict[str, list[tuple[str, StoredBlob]]] = {}
        for item in manifest["files"]:
            if item.get("exhibit") is not None:
                blob = _store(reader, item["path"], int(item["size"]), item["sha256"])
                blobs.setdefault(item["exhibit"], []).append((item.get("name") or
                                                              item["path"].rsplit("/")[-1],
                                                              blob))
        documents = _documents(reader)
    key = PublicKey.from_b64(manifest["public_key"]["base64"])
    _, head = bundle.custody_of(manifest)
    result = ImportResult(case=number, created_case=False, partner_key=key.fingerprint,
                          report=report)
    with transaction.atomic():
        case, result.created_case = _target_case(manifest, case_number, actor)
        for summary in sorted(summaries, key=lambda s: str(s["number"]).count(".")):
            parent = case.exhibits.filter(number=summary.get("parent") or "").first()
            exhibit = services.add_exhibit_from_blobs(
                case, number=str(summary["number"]), actor=actor,
                blobs=blobs.get(summary["number"], []), action="imported", parent=parent,
                details={
                    "source": path.name, "bundle_manifest_sha256": report.manifest_sha256,
                    "partner_key": key.fingerprint, "original_case": manifest["case"],
                    "original_exhibit": summary["number"],
                    "original_custody_head": head.entry_hash if head else None,
                    "original_custody_log_sha256": documents[bundle.CUSTODY],
                    "bundle_documents": documents,
                    "bundle_created_at": manifest.get("created_at"),
                    "bundle_creator": manifest.get("creator"),
                },
                **_exhibit_fields(summary))
            services.record_custody(case, exhibit, "transferred", actor, {
                "released_by": str(manifest.get("creator") or "partner"), "received_by": actor,
                "purpose": f"received in sealed bundle {path.name}",
                "place": "electronic transfer", "seal_intact": True,
                "seal": f"bundle signature by {key.fingerprint}"})
            result.exhibits.append(exhibit.number)
    trust(key)  # only after everything was recorded: a refused bundle leaves no trust behind
    return result
