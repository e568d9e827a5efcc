"""The court-report and bundle buttons start jobs; their files are then downloadable."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from dalil.app.jobs import services as jobs
from dalil.app.jobs.models import Job

pytestmark = pytest.mark.django_db


def _fake_report(context, params):
    exports = Path(settings.DALIL_HOME) / "exports"
    exports.mkdir(exist_ok=True)
    path = exports / f"case-{params['case_id']}.pdf"
    path.write_bytes(b"%PDF-1.7 fake")
    return {"path": str(path), "filename": path.name, "summary": "report built"}


@pytest.mark.parametrize("what,kind", [("report", "build_report"), ("bundle", "build_bundle")])
def test_button_starts_the_job_and_offers_the_file(as_prosecutor, case, monkeypatch, what, kind,
                                                   django_capture_on_commit_callbacks):
    monkeypatch.setitem(jobs.REGISTRY, kind, _fake_report)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_prosecutor.post(f"/cases/{case.pk}/export/{what}/",
                                      HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    job = Job.objects.get(case=case, kind=kind)
    assert job.status == "succeeded"
    status = as_prosecutor.get(f"/jobs/{job.pk}/").content.decode()
    assert f"/jobs/{job.pk}/download/" in status
    download = as_prosecutor.get(f"/jobs/{job.pk}/download/")
    assert b"".join(download.streaming_content).startswith(b"%PDF")


def test_an_unavailable_job_kind_gives_a_readable_message(as_examiner, case, monkeypatch):
    monkeypatch.delitem(jobs.REGISTRY, "build_report", raising=False)
    response = as_examiner.post(f"/cases/{case.pk}/export/report/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "cannot run" in response.content.decode()
    assert not Job.objects.exists()


def test_unknown_exports_do_not_exist(as_examiner, case):
    assert as_examiner.post(f"/cases/{case.pk}/export/passwd/").status_code == 404


def test_case_uco_document_is_downloaded_directly(as_prosecutor, case):
    response = as_prosecutor.get(f"/cases/{case.pk}/case-uco/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    assert response["Content-Disposition"] == 'attachment; filename="kz-2026-007.caseuco.jsonld"'
    document = response.json()
    assert "@graph" in document and "@context" in document
    assert "KZ-2026-007" in response.content.decode()


def test_case_uco_of_an_invisible_case_is_not_found(as_examiner, foreign_case):
    assert as_examiner.get(f"/cases/{foreign_case.pk}/case-uco/").status_code == 404
