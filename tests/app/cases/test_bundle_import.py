"""Importing a partner's bundle: verified first, exhibits kept whole with their numbers."""

from __future__ import annotations

import json
import zipfile

import pytest

from dalil.app.cases import exports, services
from dalil.app.cases.keys import installation_key, trusted_keys
from dalil.app.cases.models import Case, CustodyEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner_bundle(tmp_path, settings):
    """A bundle made by a partner installation (its own DALIL_HOME, so its own key)."""
    settings.DALIL_HOME = tmp_path / "partner-home"
    settings.DALIL_HOME.mkdir()
    case = services.create_case(number="KG-2026-3", title="Ransomware", actor="partner.officer",
                                authority_type="court_order", authority_identifier="CO-9")
    (tmp_path / "disk.img").write_bytes(b"disk sectors " * 4000)
    (tmp_path / "note.txt").write_bytes("записка".encode())
    source = services.add_exhibit_from_path(case, tmp_path / "disk.img", number="E1",
                                            actor="partner.officer", type="storage",
                                            description="USB stick", seized_by="Sgt. Osmonov",
                                            seized_where="Bishkek")
    services.add_exhibit_from_path(case, tmp_path / "note.txt", number="E2",
                                   actor="partner.officer", type="document")
    services.record_custody(case, source, "accessed", "partner.officer", {"purpose": "triage"})
    written = exports.build_bundle(case, tmp_path / "kg.dalil.zip", actor="partner.officer")
    partner_key = installation_key().public.fingerprint
    settings.DALIL_HOME = tmp_path / "our-home"
    settings.DALIL_HOME.mkdir()
    return written, partner_key


def test_a_bundle_imports_into_a_new_case_with_the_original_numbers(partner_bundle):
    written, partner_key = partner_bundle
    result = exports.import_bundle(written.path, actor="our.officer", case_number="KZ-IN-1")
    assert result.created_case and result.exhibits == ["E1", "E2"]
    assert result.partner_key == partner_key
    case = Case.objects.get(number="KZ-IN-1")
    assert case.kind == "real" and case.title == "Ransomware"
    assert case.authority_type == "court_order"
    e1 = case.exhibits.get(number="E1")
    assert e1.description == "USB stick" and e1.type == "storage"
    assert [f.name for f in e1.files.all()] == ["disk.img"]
    assert services.verify_case(case, "auditor", record=False).intact


def test_each_exhibit_gets_an_imported_and_a_transferred_entry(partner_bundle):
    written, partner_key = partner_bundle
    exports.import_bundle(written.path, actor="our.officer", case_number="KZ-IN-1")
    case = Case.objects.get(number="KZ-IN-1")
    imported = CustodyEntry.objects.get(case=case, exhibit_number="E1", action="imported")
    details = imported.details
    assert details["source"] == "kg.dalil.zip"
    assert details["bundle_manifest_sha256"] == written.manifest_sha256
    assert details["partner_key"] == partner_key
    assert details["original_case"] == "KG-2026-3"
    partner_head = json.loads(_member(written.path, "custody.json"))["head"]
    assert details["original_custody_head"] == partner_head["entry_hash"]
    transferred = CustodyEntry.objects.get(case=case, exhibit_number="E1", action="transferred")
    assert transferred.details["received_by"] == "our.officer"
    assert transferred.details["released_by"] == "partner.officer"


def test_the_partner_custody_log_is_kept_whole_and_their_key_trusted(partner_bundle):
    written, partner_key = partner_bundle
    assert partner_key not in trusted_keys()
    exports.import_bundle(written.path, actor="our.officer", case_number="KZ-IN-1")
    assert partner_key in trusted_keys()
    entry = CustodyEntry.objects.get(case__number="KZ-IN-1", exhibit_number="E2",
                                     action="imported")
    log_sha = entry.details["original_custody_log_sha256"]
    with services.blob_store().open(log_sha) as handle:
        assert handle.read() == _member(written.path, "custody.json")


def test_a_duplicate_exhibit_number_is_refused_and_nothing_is_written(partner_bundle):
    written, _ = partner_bundle
    target = services.create_case(number="KZ-IN-2", title="Ours", actor="our.officer")
    services.add_exhibit(target, number="E2", actor="our.officer")
    before = CustodyEntry.objects.count()
    with pytest.raises(services.CaseError, match="already has exhibit E2"):
        exports.import_bundle(written.path, actor="our.officer", case_number="KZ-IN-2")
    assert CustodyEntry.objects.count() == before
    assert not target.exhibits.filter(number="E1").exists()


def test_a_tampered_bundle_is_refused_before_anything_is_stored(partner_bundle, settings):
    written, partner_key = partner_bundle
    data = bytearray(written.path.read_bytes())
    at = data.find(b"disk sectors")
    data[at:at + 4] = b"DISK"
    written.path.write_bytes(bytes(data))
    with pytest.raises(services.CaseError, match="is not intact, nothing imported"):
        exports.import_bundle(written.path, actor="our.officer", case_number="KZ-IN-3")
    assert not Case.objects.filter(number="KZ-IN-3").exists()
    assert not (settings.DALIL_HOME / "blobs" / "sha256").exists()
    assert partner_key not in trusted_keys()


def test_a_hostile_archive_is_refused(tmp_path, settings):
    hostile = tmp_path / "evil.dalil.zip"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("../../outside.txt", b"pwned")
    with pytest.raises(services.CaseError, match="path climbs out"):
        exports.import_bundle(hostile, actor="our.officer")
    assert not (tmp_path / "outside.txt").exists()
    assert not (settings.DALIL_HOME / "blobs").exists()


def _member(path, name: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def test_the_bundle_job_writes_a_verifiable_bundle_under_exports(settings, tmp_path):
    from dalil.app.cases import exchange_jobs  # noqa: F401 - registers the job kinds
    from dalil.app.jobs import services as jobs
    from dalil.app.jobs.models import Job
    from dalil.engine.evidence.bundle import verify_bundle

    case = services.create_case(number="KZ-J-1", title="Job", actor="officer")
    (tmp_path / "a.bin").write_bytes(b"a" * 100)
    services.add_exhibit_from_path(case, tmp_path / "a.bin", number="E1", actor="officer")
    job = Job.objects.create(kind="build_bundle", params={"case_id": case.pk,
                                                          "actor": "officer", "exhibits": []})
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    path = settings.DALIL_HOME / "exports" / job.result["filename"]
    assert path.name.endswith(".dalil.zip") and job.result["path"] == str(path)
    assert verify_bundle(path).intact
    exported = CustodyEntry.objects.get(case=case, action="exported")
    assert exported.details["manifest_sha256"] == job.result["manifest_sha256"]
