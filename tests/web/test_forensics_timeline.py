"""The timeline of an examined exhibit: MACB events from the stored records, filtered by
time range and type, paginated, with hostile names escaped."""

from __future__ import annotations

import re

import pytest
from forensics_disk import add_image_exhibit, build_ext4

from dalil.app.forensics import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def exhibit(case, tmp_path):
    exhibit = add_image_exhibit(case, build_ext4(tmp_path, extra_files=60))
    services.ingest_exhibit(exhibit, actor="examiner")
    return exhibit


def _get(client, exhibit, query=""):
    response = client.get(f"/forensics/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/"
                          f"timeline/{query}")
    assert response.status_code == 200
    return response.content.decode()


def _rows(page: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<td class="mono">([0-9: -]+)</td>\s*<td class="macb">([macb.]{4})</td>'
                      r'\s*<td><a href="[^"]+">([^<]*)</a>', page)


def test_the_oldest_event_comes_first_with_its_macb_letters(as_examiner, exhibit):
    rows = _rows(_get(as_examiner, exhibit))
    assert rows[0] == ("2017-07-14 02:40:00", "ma..", "docs/note.txt")
    assert 25 <= len(rows) <= 100  # 100 time stamps a page, one row per file and moment
    times = [r[0] for r in rows]
    assert times == sorted(times)


def test_time_range_and_kinds(as_examiner, exhibit):
    rows = _rows(_get(as_examiner, exhibit, "?start=2017-01-01T00:00&end=2018-01-01T00:00"))
    assert rows == [("2017-07-14 02:40:00", "ma..", "docs/note.txt")]
    only_m = _rows(_get(as_examiner, exhibit,
                        "?kinds=m&start=2017-01-01T00:00&end=2018-01-01T00:00"))
    assert only_m == [("2017-07-14 02:40:00", "m...", "docs/note.txt")]
    assert _rows(_get(as_examiner, exhibit, "?kinds=b&start=2017-01-01T00:00")) and all(
        r[1] == "...b" for r in _rows(_get(as_examiner, exhibit, "?kinds=b")))
    deleted = _rows(_get(as_examiner, exhibit, "?deleted=yes"))
    assert {r[2] for r in deleted} == {"secret.txt"}


def test_pages(as_examiner, exhibit):
    first = _get(as_examiner, exhibit)
    assert "page 1 of" in first
    second = _rows(_get(as_examiner, exhibit, "?page=2"))
    assert second and second[0][0] >= _rows(first)[-1][0]


def test_hostile_names_are_escaped(as_examiner, exhibit):
    page = _get(as_examiner, exhibit, "?q=onerror")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.txt" in page


def test_outsiders_see_nothing(client, outsider, exhibit):
    client.force_login(outsider)
    url = f"/forensics/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/timeline/"
    assert client.get(url).status_code == 404
