"""Scanning an exhibit for features: the job from the exhibit page, findings with their
provenance (offsets, forensic paths into gzip, UTF-16), an E01 read through its container,
a cancelled scan resumed, custody, the stored reports, permissions."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import pytest
from scanning_helpers import (
    CARD,
    EMAIL,
    GZIP_EMAIL,
    WALLET,
    WIDE_EMAIL,
    add_bytes_exhibit,
    evidence_bytes,
    make_e01,
)

from dalil.app.cases import services as cases
from dalil.app.jobs.models import Job
from dalil.app.jobs.services import JobCancelled
from dalil.app.scanning import services
from dalil.app.scanning.models import Finding, ScanRun

pytestmark = pytest.mark.django_db

SMALL_PAGES = {"page_size": 64 * 1024, "margin": 4096, "jobs": 1}


@pytest.fixture
def exhibit(case):
    return add_bytes_exhibit(case)


def _url(exhibit, what="scan"):
    return f"/scanning/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/{what}/"


def _where(exhibit) -> dict[tuple[str, str], str]:
    return {(f.type, f.feature): f.where for f in Finding.objects.filter(exhibit=exhibit)}


def test_an_examiner_scans_an_exhibit_from_its_page(as_examiner, exhibit,
                                                    django_capture_on_commit_callbacks):
    page = as_examiner.get(f"/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/").content.decode()
    assert "Scan for features" in page and _url(exhibit) in page
    with django_capture_on_commit_callbacks(execute=True):
        response = as_examiner.post(_url(exhibit), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'data-kind="scan_exhibit"' in response.content.decode()
    job = Job.objects.get(kind="scan_exhibit")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.done == job.total == len(evidence_bytes())

    where = _where(exhibit)
    assert where[("email", EMAIL)] == "1009"
    assert where[("bitcoin", WALLET)] == "70005"
    assert where[("ccn", CARD)] == "140006"
    assert where[("email", WIDE_EMAIL)] == "260002"  # UTF-16LE
    assert where[("email", GZIP_EMAIL)].startswith("200000-GZIP-")
    inside = Finding.objects.filter(exhibit=exhibit, feature=GZIP_EMAIL)
    assert inside.count() == 3 and {f.offset for f in inside} == {200000}

    run = ScanRun.objects.get(exhibit=exhibit)
    assert run.status == "succeeded" and run.tool_version and run.ended_at
    assert run.findings == Finding.objects.filter(run=run).count() == sum(run.counts.values())
    assert run.bytes_done == run.bytes_total == len(evidence_bytes())
    assert run.source["container"] == "raw" and job.result["run"] == run.pk

    entry = exhibit.custody.filter(action="examined").get()
    assert entry.details["tool"] == "dalil" and entry.details["scan_run"] == run.pk
    assert entry.details["result"].startswith("completed")
    assert entry.details["evidence_intact_after"] is True
    assert entry.details["features_sha256"] == run.features_sha256
    assert {"started_at", "ended_at", "what", "tool_version"} <= set(entry.details)

    store = cases.blob_store()
    with store.open(run.features_sha256) as handle, zipfile.ZipFile(
            io.BytesIO(handle.read())) as archive:
        emails = archive.read("email.txt").decode()
        assert f"1009\t{EMAIL}\t" in emails and "email_histogram.txt" in archive.namelist()
    with store.open(run.report_sha256) as handle:
        root = ET.fromstring(handle.read())
    assert root.tag.endswith("dfxml")

    page = as_examiner.get(f"/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/").content.decode()
    assert "findings" in page and _url(exhibit, "findings") in page


def test_an_e01_is_scanned_through_its_container(case, tmp_path):
    image = make_e01(tmp_path, evidence_bytes())
    exhibit = cases.add_exhibit_from_path(case, image, number="E6", actor="examiner",
                                          type="image", description="E01 of the stick")
    run = services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                options=SMALL_PAGES)
    assert run.status == "succeeded" and run.source["container"] == "ewf"
    assert run.bytes_total == len(evidence_bytes())
    where = _where(exhibit)
    assert where[("email", EMAIL)] == "1009" and where[("bitcoin", WALLET)] == "70005"
    assert where[("email", WIDE_EMAIL)] == "260002"
    assert where[("email", GZIP_EMAIL)].startswith("200000-GZIP-")


class StopAfterPages(services.QuietContext):
    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.asked = 0

    def cancelled(self) -> bool:
        self.asked += 1
        return self.asked >= self.pages


def test_a_cancelled_scan_resumes_from_its_last_page(case, exhibit):
    with pytest.raises(JobCancelled):
        services.scan_exhibit(exhibit, StopAfterPages(2), actor="examiner",
                              options=SMALL_PAGES)
    run = ScanRun.objects.get(exhibit=exhibit)
    assert run.status == "cancelled" and run.bytes_done == 2 * 64 * 1024
    assert set(Finding.objects.filter(run=run).values_list("feature", flat=True)) >= {
        EMAIL, WALLET}
    assert not Finding.objects.filter(run=run, offset__gte=run.bytes_done).exists()
    cancelled = exhibit.custody.filter(action="examined").get()
    assert cancelled.details["result"].startswith("cancelled")
    page = services.resumable_run(exhibit)
    assert page == run

    resumed = services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner")
    assert resumed.pk == run.pk and resumed.status == "succeeded" and resumed.parts == 2
    assert resumed.options["page_size"] == 64 * 1024  # the run's own options are kept

    full = add_bytes_exhibit(case, number="E7")
    reference = services.scan_exhibit(full, services.QuietContext(), actor="examiner",
                                      options=SMALL_PAGES)
    rows = sorted(Finding.objects.filter(run=resumed).values_list("type", "offset", "path",
                                                                     "feature"))
    assert rows == sorted(Finding.objects.filter(run=reference).values_list(
        "type", "offset", "path", "feature"))  # nothing lost, nothing twice
    assert resumed.counts == reference.counts

    with cases.blob_store().open(resumed.features_sha256) as handle, zipfile.ZipFile(
            io.BytesIO(handle.read())) as archive:
        lines = [line for line in archive.read("email.txt").decode().splitlines()
                 if not line.startswith("#")]
        assert len(lines) == reference.counts["email"]
        assert "report-part-2.xml" in archive.namelist()
    assert exhibit.custody.filter(action="examined").count() == 2


def test_a_job_cancelled_by_the_user_stops_and_keeps_its_run(exhibit, examiner):
    job = services.start_scan(exhibit, user=examiner, actor="examiner")
    Job.objects.filter(pk=job.pk).update(cancel_requested=True, status=Job.Status.RUNNING)
    from dalil.app.jobs.services import JobContext
    from dalil.app.scanning.jobs import scan_exhibit_job

    with pytest.raises(JobCancelled):
        scan_exhibit_job(JobContext(Job.objects.get(pk=job.pk)),
                         {**job.params, "options": SMALL_PAGES})
    run = ScanRun.objects.get(exhibit=exhibit)
    assert run.status == "cancelled" and run.job_id == job.pk


def test_an_exhibit_without_bytes_is_refused(as_examiner, case):
    empty = cases.add_exhibit(case, number="E9", actor="examiner", type="phone")
    response = as_examiner.post(_url(empty))
    assert response.status_code == 302 and not Job.objects.filter(kind="scan_exhibit").exists()
    with pytest.raises(services.ScanningError, match="no bytes"):
        services.scan_exhibit(empty, services.QuietContext(), actor="examiner")


def test_only_case_editors_scan_and_outsiders_see_nothing(client, as_prosecutor, exhibit,
                                                          outsider):
    assert as_prosecutor.post(_url(exhibit)).status_code == 403
    assert as_prosecutor.get(_url(exhibit, "findings")).status_code == 200
    client.force_login(outsider)
    assert client.post(_url(exhibit)).status_code == 404
    assert client.get(_url(exhibit, "findings")).status_code == 404
    assert not Job.objects.filter(kind="scan_exhibit").exists()
