"""The exhibit file browser: folders, filters, pages, hostile names, who may see it."""

from __future__ import annotations

import hashlib

import pytest
from forensics_disk import HOSTILE, add_image_exhibit, build_ext4, picture

from dalil.app.forensics import services
from dalil.app.forensics.models import FileRecord
from dalil.engine.forensics.hashsets import HashEntry, HashSetStore

pytestmark = pytest.mark.django_db


@pytest.fixture
def exhibit(case, tmp_path, dalil_home):
    with HashSetStore(dalil_home / "hashsets") as store:
        store.add("bad-pictures", "bad", [HashEntry(hashlib.md5(picture("PNG")).hexdigest(),
                                                    "md5")], kind="list", source="test")
    exhibit = add_image_exhibit(case, build_ext4(tmp_path, extra_files=130))
    services.ingest_exhibit(exhibit, actor="examiner")
    return exhibit


def _get(client, exhibit, query=""):
    response = client.get(f"/forensics/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/files/"
                          f"{query}")
    assert response.status_code == 200
    return response.content.decode()


def _paths(page: str) -> set[str]:
    import re

    return set(re.findall(r'data-path="([^"]*)"', page))


def test_the_root_folder_lists_its_entries_and_leads_into_folders(as_examiner, exhibit):
    page = _get(as_examiner, exhibit)
    assert {"docs", "pictures", "many", "secret.txt"} <= _paths(page)
    assert "docs/note.txt" not in _paths(page)
    assert "dir=docs%2F" in page  # a folder is a link into it
    inside = _get(as_examiner, exhibit, "?vol=0&dir=docs/")
    assert _paths(inside) == {"docs/note.txt", "docs/report.pdf"}
    assert 'dir=docs/">docs</a>' in inside or ">docs</a> /" in inside  # breadcrumbs


def test_filters(as_examiner, exhibit):
    deleted = _paths(_get(as_examiner, exhibit, "?sub=on&deleted=yes"))
    assert deleted == {"secret.txt"}
    assert "secret.txt" not in _paths(_get(as_examiner, exhibit, "?sub=on&deleted=no"))
    folders = _paths(_get(as_examiner, exhibit, "?sub=on&type=directory"))
    assert {"docs", "pictures", "many"} <= folders and "docs/note.txt" not in folders
    assert _paths(_get(as_examiner, exhibit, "?sub=on&mismatch=on")) == {"docs/report.pdf"}
    assert _paths(_get(as_examiner, exhibit, "?sub=on&known_bad=on")) == {
        "docs/report.pdf", "pictures/logo.png"}
    assert _paths(_get(as_examiner, exhibit, "?sub=on&ftype=jpeg")) == {"pictures/photo.jpg"}
    assert _paths(_get(as_examiner, exhibit, "?sub=on&q=NOTE")) == {"docs/note.txt"}
    old = _paths(_get(as_examiner, exhibit,
                      "?sub=on&type=file&start=2017-07-01T00:00&end=2017-08-01T00:00"))
    assert old == {"docs/note.txt"}
    page = _get(as_examiner, exhibit, "?sub=on&start=2020-01-01T00:00&end=2019-01-01T00:00")
    assert "before its start" in page


def test_large_folders_are_paginated(as_examiner, exhibit):
    first = _paths(_get(as_examiner, exhibit, "?vol=0&dir=many/"))
    second = _paths(_get(as_examiner, exhibit, "?vol=0&dir=many/&page=2"))
    assert len(first) == 100 and len(second) == 30 and not first & second
    assert "page 1 of 2" in _get(as_examiner, exhibit, "?vol=0&dir=many/")


def test_a_hostile_file_name_is_shown_as_text(as_examiner, exhibit):
    page = _get(as_examiner, exhibit)
    assert "<img src=x onerror=alert(1)>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in page
    record = FileRecord.objects.get(exhibit=exhibit, path=HOSTILE)
    assert f"/files/{record.pk}/" in page


def test_only_the_case_institution_sees_the_files(client, outsider, prosecutor, exhibit):
    client.force_login(outsider)
    url = f"/forensics/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/files/"
    assert client.get(url).status_code == 404
    client.force_login(prosecutor)
    assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_before_any_examination_the_browser_says_so(as_examiner, case, tmp_path):
    exhibit = add_image_exhibit(case, build_ext4(tmp_path))
    assert "Nothing examined yet" in _get(as_examiner, exhibit)
