"""The court report: complete, self-contained, escaped, and honest about verification."""

from __future__ import annotations

import base64
import io
import re
import zlib

import pytest
from django.utils import translation

from dalil.app.cases import reports, services
from dalil.app.cases.keys import installation_key

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert(1)</script>"
# A 1x1 PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEh"
                       "QGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture
def case(tmp_path):
    case = services.create_case(
        number='KZ-9"}</style><b>x', title=f"Мошенничество {HOSTILE}", actor="officer1",
        authority_type="warrant", authority_identifier="W-1", authority_issuer="Суд Алматы")
    (tmp_path / "phone.bin").write_bytes(b"dump" * 500)
    phone = services.add_exhibit_from_path(
        case, tmp_path / "phone.bin", number="E1", actor="officer1", type="phone",
        description=f"Телефон подозреваемого {HOSTILE}", seized_by="Сержант Аманов",
        seized_where="Алматы", power_state="on", locked=True, battery_percent=64)
    services.add_photo(phone, io.BytesIO(PNG), "image/png", f"front {HOSTILE}", "officer1")
    services.record_custody(case, phone, "transferred", "officer1", {
        "released_by": "Сержант Аманов", "received_by": "Lt. Ivanova", "purpose": "exam",
        "place": "lab", "seal_intact": True})
    image = tmp_path / "E1.dd"
    image.write_bytes(b"image" * 100)
    digest = services._sha256_of(image)
    services.record_acquisition(case, phone, {
        "image": [str(image)], "image_paths": [str(image)], "format": "raw", "size": 500,
        "hashes": {"sha256": digest}, "errors": [{"offset": 4096, "reason": "read error"}],
        "verified": True, "verification": {"algorithm": "sha256", "expected": digest,
                                           "actual": digest, "match": True}}, "Lt. Ivanova")
    return case


def test_user_text_is_escaped_and_cyrillic_kept(case):
    html = reports.render_html(case)
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Мошенничество" in html and "Телефон подозреваемого" in html
    assert "</style><b>" not in html  # the case number in the page header CSS is escaped


def test_the_report_holds_every_section(case):
    html = reports.render_html(case)
    assert "Суд Алматы" in html and "W-1" in html  # legal authority
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"', html)
    assert "64" in html and "Сержант Аманов" in html  # device state at seizure
    for f in case.exhibits.get(number="E1").files.all():
        assert f.sha256 in html
    assert "offset: 4096" in html  # acquisition errors
    for entry in services.custody_records(case):
        assert entry.entry_hash in html
    assert installation_key().public.fingerprint in html
    assert 'data-intact="true"' in html
    assert "counter(page)" in html and "counter(pages)" in html


def test_the_report_has_no_external_resources(case):
    html = reports.render_html(case)
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "@import" not in html and "url(" not in html


def test_a_changed_exhibit_shows_as_not_intact(case):
    item = case.exhibits.get(number="E1").files.get()
    blob = services.blob_store().path_for(item.sha256)
    blob.chmod(0o644)
    blob.write_bytes(b"swapped")
    html = reports.render_html(case)
    assert 'data-intact="false"' in html and "bytes changed" in html


def _pdf_objects(data: bytes) -> bytes:
    """The PDF's compressed streams, inflated (WeasyPrint packs objects into streams)."""
    inflated = b""
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            inflated += zlib.decompress(match.group(1))
        except zlib.error:
            continue
    return inflated


def test_a_pdf_is_written_with_embedded_fonts(case, tmp_path):
    result = reports.write_report(case, tmp_path / "report.pdf", "ru")
    data = result.path.read_bytes()
    assert data.startswith(b"%PDF") and result.format == "pdf" and result.intact
    objects = _pdf_objects(data)
    assert re.search(rb"/BaseFont /[A-Z]+\+DejaVu-Sans", objects)  # has Cyrillic glyphs
    pages = re.search(rb"/Type /Pages/Kids \[[^\]]*\]/Count (\d+)", objects)
    assert pages and int(pages.group(1)) >= 2


def test_html_output_and_language(case, tmp_path):
    result = reports.write_report(case, tmp_path / "report.html", "ru")
    assert result.format == "html"
    html = result.path.read_text()
    with translation.override("ru"):
        title = translation.gettext("Evidence report")
        entry = translation.gettext("transferred")
    assert '<html lang="ru">' in html and f"<h1>{title}</h1>" in html
    assert f"<td>{entry}</td>" in html


def test_an_unknown_language_or_suffix_is_refused(case, tmp_path):
    with pytest.raises(services.CaseError, match="unknown report language"):
        reports.write_report(case, tmp_path / "r.html", "xx")
    with pytest.raises(services.CaseError, match=r"\.pdf or \.html"):
        reports.write_report(case, tmp_path / "r.docx", "en")


def test_the_report_job_writes_under_exports(case, settings):
    from dalil.app.cases import exchange_jobs  # noqa: F401 - registers the job kinds
    from dalil.app.jobs import services as jobs
    from dalil.app.jobs.models import Job

    job = Job.objects.create(kind="build_report", params={"case_id": case.pk, "lang": "ru",
                                                          "format": "html"})
    jobs.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    path = settings.DALIL_HOME / "exports" / job.result["filename"]
    assert job.result["path"] == str(path) and path.read_text().startswith("<!DOCTYPE html>")
    assert "intact" in job.result["summary"]
