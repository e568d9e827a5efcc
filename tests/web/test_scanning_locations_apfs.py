"""Findings inside the Data volume of an APFS container show their file with the APFS
volume's name (not as an LVM LV) and link to the file ingested from that volume; the
first volume holds a file of the same path, which must not be the one linked."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from forensics_disk import add_image_exhibit

from dalil.app.forensics import services as forensics
from dalil.app.forensics.models import FileRecord
from dalil.app.scanning import queries, services
from dalil.app.scanning.models import Finding
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
NOTE = "ransom_note.txt"  # in both volumes, with other content
ADDRESS = "payments.desk@courier-example.kg"
MEMO = b"Second copy: write to " + ADDRESS.encode() + b" for the key\n"


@pytest.fixture(scope="module")
def mac(tmp_path_factory: pytest.TempPathFactory) -> ApfsAnswerKey:
    plants = tuple(ApfsPlant(NOTE, MEMO) if p.path == NOTE else p for p in DATA_VOLUME.plants)
    return build_apfs_image(tmp_path_factory.mktemp("scan-apfs") / "mac.img", label=SYSTEM,
                            more_volumes=(dataclasses.replace(DATA_VOLUME, plants=plants),))


def test_a_finding_in_the_data_volume_names_it_and_links_its_file(case, as_examiner, mac):
    exhibit = add_image_exhibit(case, Path(mac.image))
    assert forensics.ingest_exhibit(exhibit, actor="examiner").status == "succeeded"
    run = services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                options={"jobs": 1, "scanners": "email"})
    finding = Finding.objects.get(run=run, feature=ADDRESS)
    where = queries.locations(exhibit, [finding.offset])
    assert where is not None
    found = where[finding.offset]
    record = FileRecord.objects.get(exhibit=exhibit, logical_volume=DATA_LABEL, path=NOTE)
    assert (found["run"].logical_volume, found["run"].fs_type, found["record"],
            found["file_offset"]) == (DATA_LABEL, "apfs", record, MEMO.index(b"payments"))

    page = as_examiner.get(f"/scanning/cases/{case.pk}/exhibits/{exhibit.pk}/findings/",
                           {"run": run.pk}).content.decode()
    link = f"/forensics/cases/{case.pk}/exhibits/{exhibit.pk}/files/{record.pk}/"
    assert f'href="{link}"' in page
    assert (f"volume 0 / APFS volume {DATA_LABEL}, inode {record.inode}, offset "
            f"{MEMO.index(b'payments')} in the file") in page
    assert "/ LV " not in page
