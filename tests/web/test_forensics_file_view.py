"""One file of an examined exhibit: metadata, hashes, hex and text, image preview,
extraction with a custody entry, bookmarks; hostile content stays inert."""

from __future__ import annotations

import hashlib

import pytest
from forensics_disk import HOSTILE, HOSTILE_CONTENT, add_image_exhibit, build_ext4

from dalil.app.forensics import services
from dalil.app.forensics.models import Bookmark, FileRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def exhibit(case, tmp_path):
    exhibit = add_image_exhibit(case, build_ext4(tmp_path))
    services.ingest_exhibit(exhibit, actor="examiner")
    return exhibit


def _url(exhibit, path, what=""):
    record = FileRecord.objects.get(exhibit=exhibit, path=path)
    return f"/forensics/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/files/{record.pk}/{what}"


def test_the_file_view_shows_metadata_hashes_hex_and_text(as_examiner, exhibit):
    page = as_examiner.get(_url(exhibit, "docs/note.txt")).content.decode()
    assert hashlib.sha256(b"meet at dawn\n").hexdigest() in page
    assert hashlib.md5(b"meet at dawn\n").hexdigest() in page
    assert "2017-07-14 02:40:00" in page  # mtime, UTC
    assert "6d 65 65 74 20 61 74 20 64 61 77 6e 0a" in page  # hex view
    assert "meet at dawn" in page
    assert "Extract (download)" in page


def test_hostile_names_and_content_are_escaped(as_examiner, exhibit):
    page = as_examiner.get(_url(exhibit, HOSTILE)).content.decode()
    assert "<img src=x onerror" not in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert 'id="preview"' not in page
    # never served as something a browser would render
    assert as_examiner.get(_url(exhibit, HOSTILE, "preview/")).status_code == 404


def test_a_jpeg_is_previewed_sandboxed(as_examiner, exhibit, tmp_path):
    page = as_examiner.get(_url(exhibit, "pictures/photo.jpg")).content.decode()
    assert 'id="preview"' in page
    response = as_examiner.get(_url(exhibit, "pictures/photo.jpg", "preview/"))
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    expected = (tmp_path / "tree" / "pictures" / "photo.jpg").read_bytes()
    assert b"".join(response.streaming_content) == expected
    # the type comes from the content: a PNG named report.pdf is previewed as a PNG
    png = as_examiner.get(_url(exhibit, "docs/report.pdf", "preview/"))
    assert png["Content-Type"] == "image/png"


def test_extracting_a_deleted_file_records_custody(as_examiner, exhibit):
    response = as_examiner.post(_url(exhibit, "secret.txt", "export/"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="secret.txt"'
    body = b"".join(response.streaming_content)
    assert body == b"the wallet seed is in the safe\n" * 100
    entry = exhibit.custody.filter(action="exported").get()
    assert entry.details["path"] == "secret.txt" and entry.details["deleted"] is True
    assert entry.details["hashes"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert "examiner" in entry.actor and "web download" in entry.details["destination"]
    assert as_examiner.get(_url(exhibit, "secret.txt", "export/")).status_code == 405


def test_a_hostile_name_is_made_safe_for_the_download(as_examiner, exhibit):
    response = as_examiner.post(_url(exhibit, HOSTILE, "export/"))
    assert b"".join(response.streaming_content) == HOSTILE_CONTENT
    disposition = response["Content-Disposition"]
    assert "<" not in disposition and ">" not in disposition and "/" not in disposition
    assert "onerror=alert(1)" in disposition


def test_directories_have_no_content_to_extract(as_examiner, exhibit):
    page = as_examiner.get(_url(exhibit, "docs")).content.decode()
    assert "Extract (download)" not in page
    assert as_examiner.post(_url(exhibit, "docs", "export/")).status_code == 404
    assert not exhibit.custody.filter(action="exported").exists()


def test_bookmarks_with_notes(as_examiner, exhibit):
    response = as_examiner.post(_url(exhibit, "secret.txt", "bookmark/"),
                                {"note": "seed phrase <b>here</b>"})
    assert response.status_code == 302
    mark = Bookmark.objects.get()
    assert mark.case == exhibit.case and mark.record.path == "secret.txt"
    page = as_examiner.get(response["Location"]).content.decode()
    assert "seed phrase &lt;b&gt;here&lt;/b&gt;" in page
    listing = as_examiner.get(f"/forensics/cases/{exhibit.case_id}/bookmarks/").content.decode()
    assert "secret.txt" in listing and "seed phrase &lt;b&gt;" in listing


def test_permissions(client, prosecutor, outsider, exhibit):
    client.force_login(prosecutor)
    assert client.get(_url(exhibit, "docs/note.txt")).status_code == 200
    assert client.post(_url(exhibit, "docs/note.txt", "bookmark/"),
                       {"note": "x"}).status_code == 403
    client.force_login(outsider)
    for what in ("", "preview/"):
        assert client.get(_url(exhibit, "pictures/photo.jpg", what)).status_code == 404
    assert client.post(_url(exhibit, "docs/note.txt", "export/")).status_code == 404
    assert not exhibit.custody.filter(action="exported").exists()
    assert not Bookmark.objects.exists()
