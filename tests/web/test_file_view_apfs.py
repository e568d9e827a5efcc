"""Files in the second APFS volume (Data) of an examined Mac image on the web: the file
view, preview and extraction read them back from their own volume (not the first, which
holds a file of the same path), the custody ``exported`` entry and the case report name
the APFS volume, and the file browser shows and filters "volume N / APFS volume NAME"
(in Russian too)."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
import shutil
from pathlib import Path

import pytest
from forensics_disk import add_image_exhibit, picture

from dalil.app.cases import reports
from dalil.app.forensics import services
from dalil.app.forensics.models import FileRecord
from dalil.engine.scenarios.apfs import (
    DATA_LABEL,
    DATA_VOLUME,
    ApfsAnswerKey,
    ApfsPlant,
    build_apfs_image,
)

pytest.importorskip("pyfsapfs", reason="needs libfsapfs-python (pip install libfsapfs-python)")
if shutil.which("mkapfs") is None:
    pytest.skip("needs mkapfs (Debian apfsprogs)", allow_module_level=True)

pytestmark = pytest.mark.django_db

SYSTEM = "Macintosh HD"
PHOTO = picture("JPEG")
PHOTO_PATH = "Users/azamat/Pictures/photo.jpg"


@pytest.fixture(scope="module")
def mac(tmp_path_factory: pytest.TempPathFactory) -> ApfsAnswerKey:
    """A bare APFS container: ``Macintosh HD`` and ``Data`` (with a JPEG added)."""
    data = dataclasses.replace(DATA_VOLUME, plants=(*DATA_VOLUME.plants,
                                                    ApfsPlant(PHOTO_PATH, PHOTO)))
    return build_apfs_image(tmp_path_factory.mktemp("apfs-web") / "mac.img", label=SYSTEM,
                            more_volumes=(data,))


@pytest.fixture
def exhibit(case, mac):
    exhibit = add_image_exhibit(case, Path(mac.image))
    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.status == "succeeded", run.error
    return exhibit


def _record(exhibit, volume: str, path: str) -> FileRecord:
    return FileRecord.objects.get(exhibit=exhibit, logical_volume=volume, path=path)


def _url(exhibit, record: FileRecord | None = None, what: str = "") -> str:
    base = f"/forensics/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/files/"
    return f"{base}{record.pk}/{what}" if record is not None else base


def _planted(path: str) -> bytes:
    """The content planted at ``path`` in the Data volume."""
    return next(plant.data for plant in DATA_VOLUME.plants if plant.path == path)


def test_the_file_view_reads_a_file_of_the_data_volume(as_examiner, exhibit, mac):
    # Both volumes hold ransom_note.txt; the page must show Data's.
    record = _record(exhibit, DATA_LABEL, "ransom_note.txt")
    answer = mac.entry("ransom_note.txt", DATA_LABEL)
    assert record.sha256 == answer.sha256 != mac.entry("ransom_note.txt", SYSTEM).sha256
    page = html.unescape(as_examiner.get(_url(exhibit, record)).content.decode())
    assert _planted("ransom_note.txt").decode() in page
    assert "Send 0.5 BTC" not in page  # the first volume's note
    assert answer.sha256 in page
    assert re.search(r"<dt>APFS volume</dt><dd id=\"logical-volume\">Data</dd>", page)
    assert "volume 0 / APFS volume Data" in page
    assert "?vol=0&lv=Data" in page  # breadcrumbs stay in the volume

    contacts = _record(exhibit, DATA_LABEL, "Users/azamat/Documents/contacts.vcf")
    page = html.unescape(as_examiner.get(_url(exhibit, contacts)).content.decode())
    assert "FN:Courier" in page and "?vol=0&lv=Data&dir=Users/azamat/Documents/" in page


def test_extraction_returns_the_bytes_and_custody_names_the_volume(as_examiner, exhibit, mac):
    path = "Users/azamat/Desktop/wallet.txt"
    record = _record(exhibit, DATA_LABEL, path)
    response = as_examiner.post(_url(exhibit, record, "export/"))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == _planted(path)
    entry = exhibit.custody.filter(action="exported").get()
    assert entry.details["logical_volume"] == DATA_LABEL
    assert (entry.details["volume"], entry.details["volume_offset"]) == (0, 0)
    assert entry.details["hashes"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_photo_in_the_data_volume_is_previewed(as_examiner, exhibit):
    record = _record(exhibit, DATA_LABEL, PHOTO_PATH)
    response = as_examiner.get(_url(exhibit, record, "preview/"))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == PHOTO


def _rows(page: str) -> set[str]:
    return set(re.findall(r'data-path="([^"]*)"', html.unescape(page)))


def test_the_browser_shows_and_filters_each_apfs_volume(as_examiner, exhibit):
    page = html.unescape(as_examiner.get(_url(exhibit)).content.decode())
    assert "volume 0 / APFS volume Macintosh HD (offset 0)" in page
    assert "volume 0 / APFS volume Data (offset 0)" in page
    data = as_examiner.get(_url(exhibit), {"vol": 0, "lv": DATA_LABEL}).content.decode()
    assert _rows(data) == {"ransom_note.txt", "Users"}
    system = as_examiner.get(_url(exhibit), {"vol": 0, "lv": SYSTEM}).content.decode()
    assert _rows(system) == {"ransom_note.txt", "Documents"}
    found = html.unescape(as_examiner.get(_url(exhibit), {"q": "wallet", "sub": "on"})
                          .content.decode())
    assert "volume 0 / APFS volume Data: Users/azamat/Desktop/wallet.txt" in found

    as_examiner.post("/i18n/setlang/", {"language": "ru"})
    russian = html.unescape(as_examiner.get(_url(exhibit)).content.decode())
    assert "том 0 / APFS-том Data (смещение 0)" in russian


def test_the_report_names_the_apfs_volume_of_a_bookmarked_file(exhibit, examiner):
    record = _record(exhibit, DATA_LABEL, "Users/azamat/Documents/plan.txt")
    services.add_bookmark(record, "meeting plan", user=examiner, actor="Examiner")
    section = reports.render_html(exhibit.case).split("Bookmarked items", 1)[1]
    assert "Users/azamat/Documents/plan.txt" in section and record.sha256 in section
    assert '<span class="muted">APFS volume: Data</span>' in section
