"""Downloading the file an export job wrote: only finished jobs, visible cases, exports folder."""

from __future__ import annotations

import pytest

from dalil.app.jobs.models import Job

pytestmark = pytest.mark.django_db


def _job(case, path, status="succeeded", filename="report.pdf"):
    return Job.objects.create(kind="build_report", case=case, status=status,
                              result={"path": str(path), "filename": filename,
                                      "summary": "court report, 3 pages"})


@pytest.fixture
def export_file(dalil_home):
    exports = dalil_home / "exports"
    exports.mkdir()
    path = exports / "KZ-2026-007-report.pdf"
    path.write_bytes(b"%PDF-1.7\n...")
    return path


def test_streams_the_file_as_an_attachment(as_examiner, case, export_file):
    job = _job(case, export_file)
    response = as_examiner.get(f"/jobs/{job.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert response["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_status_partial_links_to_the_download(as_examiner, case, export_file):
    job = _job(case, export_file)
    html = as_examiner.get(f"/jobs/{job.pk}/").content.decode()
    assert f"/jobs/{job.pk}/download/" in html
    assert "court report, 3 pages" in html


def test_a_hostile_filename_is_reduced_to_a_name(as_examiner, case, export_file):
    job = _job(case, export_file, filename="../../etc/passwd")
    response = as_examiner.get(f"/jobs/{job.pk}/download/")
    assert response["Content-Disposition"] == 'attachment; filename="passwd"'


def test_a_path_outside_the_exports_folder_is_refused(as_examiner, case, dalil_home, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for download")
    for path in (secret, dalil_home / "exports" / ".." / "secret_key", "/etc/passwd"):
        job = _job(case, path)
        response = as_examiner.get(f"/jobs/{job.pk}/download/")
        assert response.status_code == 403, path
        assert b"not for download" not in response.content


def test_a_symlink_out_of_the_exports_folder_is_refused(as_examiner, case, export_file,
                                                        tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    link = export_file.parent / "link.pdf"
    link.symlink_to(outside)
    assert as_examiner.get(f"/jobs/{_job(case, link).pk}/download/").status_code == 403


def test_unfinished_failed_or_foreign_jobs_have_nothing(as_examiner, case, foreign_case,
                                                        export_file):
    for job in (_job(case, export_file, status="running"),
                _job(case, export_file, status="failed"),
                _job(foreign_case, export_file)):
        assert as_examiner.get(f"/jobs/{job.pk}/download/").status_code == 404


def test_a_missing_file_is_not_found(as_examiner, case, export_file):
    job = _job(case, export_file)
    export_file.unlink()
    assert as_examiner.get(f"/jobs/{job.pk}/download/").status_code == 404
