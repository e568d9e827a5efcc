"""Files inside the LVM2 logical volumes of an examined exhibit on the web: the file view,
preview and extraction read them back through their LV, the custody ``exported`` entry and
the case report name the LV, and the file browser shows and filters "volume N / LV name"."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
from datetime import UTC, datetime

import pytest
from forensics_disk import add_image_exhibit, picture

from dalil.app.cases import reports
from dalil.app.forensics import services
from dalil.app.forensics.models import FileRecord
from dalil.engine.scenarios.lvm import (
    BuiltPhysicalVolume,
    PlantedFile,
    build_lvm_image,
    default_volumes,
    tools_missing,
)

pytestmark = pytest.mark.django_db

SEED = 57
PHOTO = picture("JPEG")
PV_INDEX = 2  # mmls slot of the MBR's only partition


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> BuiltPhysicalVolume:
    """An MBR disk whose LVM PV holds ``root`` (ext4, with a JPEG added) and ``exchange``
    (FAT32)."""
    root, exchange = default_volumes(SEED)
    photo = PlantedFile("home/azamat/photo.jpg", PHOTO, datetime(2024, 3, 4, 8, 0, tzinfo=UTC))
    volumes = [dataclasses.replace(root, files=(*root.files, photo)), exchange]
    missing = tools_missing(volumes, mbr=True)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    return build_lvm_image(tmp_path_factory.mktemp("lvm-web") / "server.img", seed=SEED,
                           volumes=volumes, mbr=True)


@pytest.fixture
def exhibit(case, disk):
    exhibit = add_image_exhibit(case, disk.path)
    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.status == "succeeded", run.error
    return exhibit


def _record(exhibit, logical: str, path: str) -> FileRecord:
    return FileRecord.objects.get(exhibit=exhibit, logical_volume=logical, path=path)


def _url(exhibit, record: FileRecord | None = None, what: str = "") -> str:
    base = f"/forensics/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/files/"
    return f"{base}{record.pk}/{what}" if record is not None else base


def test_the_file_view_reads_a_file_inside_a_logical_volume(as_examiner, exhibit, disk):
    planted = disk.volumes[1].files[0]  # REPORTS/march.txt in exchange (FAT32)
    record = _record(exhibit, "exchange", planted.path)
    page = html.unescape(as_examiner.get(_url(exhibit, record)).content.decode())
    assert planted.data.decode()[:200] in page  # the text view, read through the LV
    assert record.sha256 == planted.sha256 and planted.sha256 in page
    assert re.search(r'<dd id="logical-volume">exchange</dd>', page)
    assert f"volume {PV_INDEX} / LV exchange" in page
    assert f"?vol={PV_INDEX}&lv=exchange&dir=REPORTS/" in page  # breadcrumbs stay in the LV


def test_extraction_returns_the_bytes_and_custody_names_the_lv(as_examiner, exhibit, disk):
    planted = disk.volumes[1].files[1]  # scan0001.bin
    record = _record(exhibit, "exchange", planted.path)
    response = as_examiner.post(_url(exhibit, record, "export/"))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == planted.data
    entry = exhibit.custody.filter(action="exported").get()
    assert entry.details["logical_volume"] == "exchange"
    assert (entry.details["volume"], entry.details["volume_offset"]) == (PV_INDEX,
                                                                         disk.pv_offset)
    assert entry.details["path"] == planted.path
    assert entry.details["hashes"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_photo_inside_a_logical_volume_is_previewed(as_examiner, exhibit):
    record = _record(exhibit, "root", "home/azamat/photo.jpg")
    page = as_examiner.get(_url(exhibit, record)).content.decode()
    assert 'id="preview"' in page
    response = as_examiner.get(_url(exhibit, record, "preview/"))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == PHOTO


def _rows(page: str) -> set[str]:
    return set(re.findall(r'data-path="([^"]*)"', html.unescape(page)))


def test_the_browser_shows_and_filters_each_logical_volume(as_examiner, exhibit, disk):
    page = html.unescape(as_examiner.get(_url(exhibit)).content.decode())
    offset = disk.pv_offset
    assert f"volume {PV_INDEX} / LV root (ext4, offset {offset})" in page
    assert f"volume {PV_INDEX} / LV exchange (fat32, offset {offset})" in page
    assert f'href="?vol={PV_INDEX}&lv=root"' in page

    root = as_examiner.get(_url(exhibit), {"vol": PV_INDEX, "lv": "root"}).content.decode()
    assert {"etc", "home", "lost+found"} <= _rows(root)
    assert "REPORTS" not in _rows(root) and "scan0001.bin" not in _rows(root)
    assert 'aria-current="page">volume 2 / LV root' in html.unescape(root)
    assert f'href="?vol={PV_INDEX}&lv=root&dir=home%2F"' in html.unescape(root)

    reports_dir = as_examiner.get(_url(exhibit), {"vol": PV_INDEX, "lv": "exchange",
                                                  "dir": "REPORTS/"}).content.decode()
    assert _rows(reports_dir) == {"REPORTS/march.txt"}
    # A search across the exhibit says which LV each hit is in.
    found = html.unescape(as_examiner.get(_url(exhibit), {"q": "notes", "sub": "on"})
                          .content.decode())
    assert _rows(found) == {"home/azamat/notes.txt"}
    assert f"volume {PV_INDEX} / LV root: home/azamat/notes.txt" in found


def test_the_report_names_the_logical_volume_of_a_bookmarked_file(exhibit, examiner):
    record = _record(exhibit, "root", "home/azamat/keys/wallet.dat")
    services.add_bookmark(record, "wallet file", user=examiner, actor="Examiner")
    section = reports.render_html(exhibit.case).split("Bookmarked items", 1)[1]
    assert "home/azamat/keys/wallet.dat" in section and record.sha256 in section
    assert '<span class="muted">logical volume (LVM): root</span>' in section
