"""The artifact step of the ingest: a generated suspect's disk is examined, the artifacts
page lists the planted Chrome searches and the photo's GPS position, the timeline merges
the artifact events with the MACB times, and a second run parses nothing twice."""

from __future__ import annotations

import html
import re
import shutil

import pytest
from forensics_disk import add_image_exhibit, build_ext4

from dalil.app.forensics import services
from dalil.app.forensics.artifacts import candidates
from dalil.app.forensics.models import ArtifactRecord, FileRecord, ParsedFile
from dalil.engine.forensics.artifacts import select_parsers
from dalil.engine.scenarios.disk import build_disk

pytestmark = pytest.mark.django_db


@pytest.fixture
def suspect(case, tmp_path):
    if not shutil.which("mke2fs") or not shutil.which("debugfs"):
        pytest.skip("needs e2fsprogs")
    key = build_disk(tmp_path / "suspect.img", seed=11, filesystem="ext4", size_mib=36)
    exhibit = add_image_exhibit(case, tmp_path / "suspect.img")
    services.ingest_exhibit(exhibit, actor="examiner")
    return exhibit, key


def _url(exhibit, page: str) -> str:
    return f"/forensics/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/{page}/"


def _get(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_ingest_stores_artifact_records_with_their_source(suspect):
    exhibit, key = suspect
    history = key.item("browser-history")
    visits = ArtifactRecord.objects.filter(exhibit=exhibit, kind="browser-visit")
    assert visits.count() >= len(key.facts["searches"])
    visit = visits.first()
    assert visit.parser == "chrome.history" and visit.event == "web-visit"
    assert visit.record.path == history["path"] and visit.record.inode == history["inode"]
    assert visit.time is not None and visit.data["url"].startswith("http")
    assert "source" not in visit.data
    gps = ArtifactRecord.objects.filter(exhibit=exhibit, kind="exif").exclude(
        data__gps_latitude=None).get()
    assert gps.data["gps_latitude"] == pytest.approx(key.facts["photo_gps"]["latitude"])
    assert gps.record.path == key.item("photo-gps")["path"]
    assert ArtifactRecord.objects.filter(exhibit=exhibit, kind="telegram-message").exists()
    # only the files a parser applies to were read
    parsed = set(ParsedFile.objects.filter(exhibit=exhibit).values_list("record__name",
                                                                        flat=True))
    assert "History" in parsed and "result.json" in parsed
    assert not any(name.endswith((".docx", ".txt", ".log")) for name in parsed)


def test_a_second_run_parses_nothing_again(suspect):
    exhibit, _ = suspect
    before = ArtifactRecord.objects.filter(exhibit=exhibit).count()
    assert not candidates(exhibit, select_parsers()).exists()
    services.ingest_exhibit(exhibit, actor="examiner")
    assert ArtifactRecord.objects.filter(exhibit=exhibit).count() == before


def test_an_interrupted_artifact_step_resumes(suspect):
    exhibit, _ = suspect
    total = ArtifactRecord.objects.filter(exhibit=exhibit).count()
    history = FileRecord.objects.get(exhibit=exhibit, name="History")
    ArtifactRecord.objects.filter(record=history).delete()
    ParsedFile.objects.filter(record=history).delete()  # as if stopped before this file
    assert list(candidates(exhibit, select_parsers())) == [history]
    services.ingest_exhibit(exhibit, actor="examiner")
    assert ArtifactRecord.objects.filter(exhibit=exhibit).count() == total


def test_artifacts_page_lists_searches_and_gps(as_examiner, suspect):
    exhibit, key = suspect
    page = _get(as_examiner, _url(exhibit, "artifacts"))
    for term in key.facts["searches"]:
        assert f"{term} - Google Search" in page
    gps = key.facts["photo_gps"]
    assert re.search(rf"{gps['latitude']}\d*, {gps['longitude']}\d*", page)
    assert "Web history" in page and "Photos (EXIF, GPS)" in page and "Messages" in page
    assert "https://maps" not in page and "openstreetmap" not in page  # no external map
    only_gps = _get(as_examiner, _url(exhibit, "artifacts") + "?gps=on")
    assert only_gps.count('class="mono gps"') == 1
    visits = _get(as_examiner, _url(exhibit, "artifacts") + "?kind=browser-visit")
    assert 'data-kind="browser-visit"' in visits and 'data-kind="exif"' not in visits


def test_timeline_merges_artifact_events_and_filters_by_kind(as_examiner, suspect):
    exhibit, key = suspect
    page = _get(as_examiner, _url(exhibit, "timeline") + "?kinds=web-visit")
    for term in key.facts["searches"]:
        assert f"{term} - Google Search" in page
    assert 'data-kind="web-visit"' in page and 'class="macb"' not in page
    assert 'data-kind="message-sent"' not in page
    both = _get(as_examiner, _url(exhibit, "timeline") + "?kinds=web-visit&kinds=m")
    assert 'data-kind="web-visit"' in both and 'class="macb"' in both
    everything = _get(as_examiner, _url(exhibit, "timeline") + "?kinds=message-sent")
    assert 'data-kind="message-sent"' in everything


def test_outsiders_see_no_artifacts(client, outsider, suspect):
    exhibit, _ = suspect
    client.force_login(outsider)
    assert client.get(_url(exhibit, "artifacts")).status_code == 404


def test_photos_without_exif_are_not_read_again_for_it(case, tmp_path):
    exhibit = add_image_exhibit(case, build_ext4(tmp_path), number="E7")
    services.ingest_exhibit(exhibit, actor="examiner")
    photo = FileRecord.objects.get(exhibit=exhibit, path="pictures/photo.jpg")
    logo = FileRecord.objects.get(exhibit=exhibit, path="pictures/logo.png")
    # The JPEG's segments reach its image data, the PNG's chunks its end, with no EXIF:
    # both ruled out by the walk, neither read again by the artifact step.
    assert photo.file_type == "jpeg" and photo.artifacts_ruled_out
    assert logo.file_type == "png" and logo.artifacts_ruled_out
    assert not ParsedFile.objects.filter(exhibit=exhibit, record__in=[photo, logo]).exists()
    assert not FileRecord.objects.filter(exhibit=exhibit, path="docs/note.txt",
                                         artifacts_ruled_out=True).exists()
