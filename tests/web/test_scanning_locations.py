"""Findings of a disk image show the file that holds them (with a link to the ingested
file's page) or "unallocated"; the block map is computed once, after the first scan."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dalil.app.cases import services as cases
from dalil.app.forensics import services as forensics
from dalil.app.forensics.models import FileRecord
from dalil.app.scanning import queries, services
from dalil.app.scanning.models import BlockMap, Finding

pytestmark = pytest.mark.django_db

IN_FILE = "inside.file@mail-example.kz"
LOOSE = "loose.bytes@unalloc-example.kz"


def _disk(folder: Path) -> bytes:
    if not shutil.which("mke2fs"):
        pytest.skip("needs mke2fs")
    tree = folder / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "docs" / "letter.txt").write_bytes(b"x" * 5000 + f" {IN_FILE} ".encode())
    image = folder / "disk.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-b", "1024", "-d", str(tree), str(image),
                    "4M"], check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    data = bytearray(image.read_bytes())
    at = len(data) - 40_000
    data[at:at + len(LOOSE) + 2] = f" {LOOSE} ".encode()
    return bytes(data)


def test_findings_show_their_file_or_unallocated(case, as_examiner, tmp_path):
    exhibit = cases.add_exhibit(case, number="E7", actor="examiner", type="storage",
                                description="ext4 disk", content=io.BytesIO(_disk(tmp_path)),
                                content_name="disk.img")
    forensics.ingest_exhibit(exhibit, actor="examiner")
    run = services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                options={"jobs": 1, "scanners": "email"})
    block_map = BlockMap.objects.get(exhibit=exhibit)
    assert block_map.extents > 0 and block_map.volumes[0]["fs_type"] == "ext4"
    inside = Finding.objects.get(run=run, feature=IN_FILE)
    loose = Finding.objects.get(run=run, feature=LOOSE)
    where = queries.locations(exhibit, [inside.offset, loose.offset])
    assert where is not None and where[loose.offset] == {}
    assert where[inside.offset]["run"].path == "docs/letter.txt"
    assert where[inside.offset]["file_offset"] == 5001
    record = FileRecord.objects.get(exhibit=exhibit, path="docs/letter.txt")
    assert where[inside.offset]["record"] == record
    html = as_examiner.get(f"/scanning/cases/{case.pk}/exhibits/{exhibit.pk}/findings/",
                           {"run": run.pk}).content.decode()
    link = f"/forensics/cases/{case.pk}/exhibits/{exhibit.pk}/files/{record.pk}/"
    assert f'href="{link}"' in html and "docs/letter.txt" in html
    assert "offset 5001 in the file" in html and "unallocated" in html
    # Scanned again: the map is not computed twice.
    services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                          options={"jobs": 1, "scanners": "email"})
    assert BlockMap.objects.get(exhibit=exhibit).pk == block_map.pk


def test_no_map_no_column(case, as_examiner):
    from scanning_helpers import add_bytes_exhibit

    exhibit = add_bytes_exhibit(case)
    run = services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                options={"jobs": 1, "scanners": "email"})
    assert BlockMap.objects.get(exhibit=exhibit).volumes == []  # no file system in it
    html = as_examiner.get(f"/scanning/cases/{case.pk}/exhibits/{exhibit.pk}/findings/",
                           {"run": run.pk}).content.decode()
    assert 'class="location"' not in html
