"""The findings page of an exhibit: counts and histograms per type, filters (type, known
indicators, search, stop-listed), pagination, context escaped, downloads, bookmarks."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client
from scanning_helpers import EMAIL, GZIP_EMAIL, WALLET, add_bytes_exhibit

from dalil.app.scanning import services, views
from dalil.app.scanning.models import FindingBookmark, ScanRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(case) -> ScanRun:
    exhibit = add_bytes_exhibit(case)
    return services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                 options={"jobs": 1})


def _url(run, what="findings/"):
    return f"/scanning/cases/{run.exhibit.case_id}/exhibits/{run.exhibit_id}/{what}"


def test_findings_by_type_with_counts_and_histogram(as_examiner, run):
    page = as_examiner.get(_url(run)).content.decode()
    assert EMAIL in page and WALLET in page and GZIP_EMAIL in page
    assert 'data-type="email"' in page and "Hits by type" in page
    assert "200000-GZIP-" in page  # the forensic path is shown
    only = as_examiner.get(_url(run), {"run": run.pk, "type": "bitcoin"}).content.decode()
    assert WALLET in only and f"<td class=\"mono feature\">{EMAIL}</td>" not in only
    assert 'id="histogram"' in only
    emails = as_examiner.get(_url(run), {"run": run.pk, "type": "email"}).content.decode()
    assert "Most frequent email features" in emails and ">3<" in emails  # the gzip's 3 hits


def test_search_and_pagination(as_examiner, run, monkeypatch):
    found = as_examiner.get(_url(run), {"run": run.pk, "q": "inside-gzip"}).content.decode()
    assert GZIP_EMAIL in found and WALLET not in found
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    first = as_examiner.get(_url(run), {"run": run.pk}).content.decode()
    assert "page 1 of" in first and "page=2" in first
    second = as_examiner.get(_url(run), {"run": run.pk, "page": 2}).content.decode()
    assert "page 2 of" in second


def test_hostile_features_and_contexts_are_escaped(as_examiner, run):
    page = as_examiner.get(_url(run), {"run": run.pk, "q": "evil"}).content.decode()
    assert "evil@example.com" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(" in page
    assert "<b>contact</b>" not in page and "&lt;b&gt;contact&lt;/b&gt;" in page
    assert "<mark>evil@example.com</mark>" in page  # the hit highlighted in its context


def test_downloads_of_the_feature_files_and_the_dfxml_report(as_examiner, run):
    response = as_examiner.get(_url(run, f"runs/{run.pk}/features.zip"))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert EMAIL in archive.read("email.txt").decode()
    report = as_examiner.get(_url(run, f"runs/{run.pk}/report.xml"))
    assert report.status_code == 200 and b"<dfxml" in b"".join(report.streaming_content)
    assert "attachment" in report["Content-Disposition"]


def test_bookmark_a_finding_with_a_note(as_examiner, prosecutor, run):
    finding = run.finding_rows.get(feature=WALLET)
    url = _url(run, f"findings/{finding.pk}/bookmark/")
    reader = Client()
    reader.force_login(prosecutor)
    assert reader.post(url, {"note": "x"}).status_code == 403
    response = as_examiner.post(url, {"note": "Ransom <wallet> of the suspect",
                                      "next": f"?run={run.pk}"})
    assert response.status_code == 302 and response["Location"].endswith("#finding-bookmarks")
    mark = FindingBookmark.objects.get()
    assert mark.finding == finding and mark.case == run.exhibit.case and "examiner" in mark.actor
    page = as_examiner.get(_url(run), {"run": run.pk}).content.decode()
    assert "Ransom &lt;wallet&gt; of the suspect" in page and "bookmarked" in page


def test_stop_lists_hide_known_noise_unless_asked(as_examiner, case):
    services.add_stop_list(case, io.BytesIO(f"# vendor addresses\n{EMAIL.upper()}\n".encode()),
                           "vendors.txt", actor="examiner")
    exhibit = add_bytes_exhibit(case, number="E8")
    run = services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                options={"jobs": 1})
    assert run.stopped == 1 and run.finding_rows.get(feature=EMAIL).stopped
    hidden = as_examiner.get(_url(run), {"run": run.pk}).content.decode()
    assert EMAIL not in hidden and WALLET in hidden
    shown = as_examiner.get(_url(run), {"run": run.pk, "stopped": "on"}).content.decode()
    assert EMAIL in shown and "stop list" in shown


def test_a_page_before_any_scan_says_so(as_examiner, case):
    exhibit = case.exhibits.get(number="E1")
    page = as_examiner.get(f"/scanning/cases/{case.pk}/exhibits/{exhibit.pk}/findings/")
    assert "Not scanned yet" in page.content.decode()
