"""Bookmarked files (and bookmarked scan findings) appear in the case report's "Bookmarked
items" section with their path, hashes and note; a hostile note stays inert text."""

from __future__ import annotations

import pytest
from django.utils import timezone
from forensics_disk import HOSTILE, add_image_exhibit, build_ext4

from dalil.app.cases import reports
from dalil.app.forensics import services
from dalil.app.forensics.models import FileRecord
from dalil.app.scanning import services as scanning
from dalil.app.scanning.models import Finding, ScanRun

pytestmark = pytest.mark.django_db

NOTE = '<script>alert("note")</script> seen at 02:40'


@pytest.fixture
def exhibit(case, tmp_path):
    exhibit = add_image_exhibit(case, build_ext4(tmp_path))
    services.ingest_exhibit(exhibit, actor="examiner")
    return exhibit


def test_a_bookmarked_file_is_in_the_report(exhibit, examiner):
    note = FileRecord.objects.get(exhibit=exhibit, path="docs/note.txt")
    secret = FileRecord.objects.get(exhibit=exhibit, path="secret.txt")
    services.add_bookmark(note, NOTE, user=examiner, actor="Examiner")
    services.add_bookmark(secret, "deleted wallet seed", user=examiner, actor="Examiner")
    page = reports.render_html(exhibit.case)
    section = page.split("Bookmarked items", 1)[1].split("<h2>", 1)[0]
    assert "docs/note.txt" in section and note.sha256 in section and note.md5 in section
    assert "secret.txt" in section and "(deleted)" in section
    assert "deleted wallet seed" in section and "Examiner" in section
    assert '<script>alert("note")' not in page
    assert "&lt;script&gt;alert(&quot;note&quot;)&lt;/script&gt; seen at 02:40" in section


def test_a_hostile_file_name_is_escaped(exhibit, examiner):
    record = FileRecord.objects.get(exhibit=exhibit, path=HOSTILE)
    services.add_bookmark(record, "", user=examiner, actor="Examiner")
    page = reports.render_html(exhibit.case)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.txt" in page


def test_no_bookmark_says_so(case):
    page = reports.render_html(case)
    assert "Bookmarked items" in page and "No item is bookmarked." in page


def test_a_bookmarked_scan_finding_is_in_the_report(case, examiner):
    exhibit = case.exhibits.get(number="E1")
    run = ScanRun.objects.create(exhibit=exhibit, actor="examiner", tool_version="test",
                                 started_at=timezone.now())
    finding = Finding.objects.create(run=run, exhibit=exhibit, type="email",
                                     feature="boss@phish.example", offset=4096,
                                     context="mail <b>boss@phish.example</b>")
    scanning.add_bookmark(finding, "the ring's contact <b>", user=examiner, actor="Examiner")
    section = reports.render_html(case).split("Bookmarked items", 1)[1].split("<h2>", 1)[0]
    assert "boss@phish.example" in section and "4096" in section
    assert "the ring&#x27;s contact &lt;b&gt;" in section

