"""Findings inside the LVM2 logical volumes of a disk image show their file with the LV's
name, and link to the file ingested from that LV (an LVM disk from
:mod:`dalil.engine.scenarios.lvm`: ``root`` ext4 in two segments, ``exchange`` FAT32)."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime

import pytest
from forensics_disk import add_image_exhibit

from dalil.app.forensics import services as forensics
from dalil.app.forensics.models import FileRecord
from dalil.app.scanning import queries, services
from dalil.app.scanning.models import BlockRun, Finding
from dalil.engine.scenarios.lvm import (
    MIB,
    PE_START,
    BuiltPhysicalVolume,
    PlantedFile,
    build_lvm_image,
    default_volumes,
    tools_missing,
)

pytestmark = pytest.mark.django_db

SEED = 71
PV_INDEX = 2  # mmls slot of the MBR's only partition
IN_ROOT = "courier.drop@warehouse-example.kz"
IN_EXCHANGE = "ledger.keeper@exchange-example.kz"
DUMP = "var/dump.bin"
DUMP_SIZE = 3 * MIB + 4321  # runs past root's first segment (4 MiB of its 8)
AT_IN_DUMP = DUMP_SIZE - 2000  # near its end: in root's second segment
WHEN = datetime(2024, 3, 4, 7, 0, tzinfo=UTC)


def _volumes() -> list:
    root, exchange = default_volumes(SEED)
    dump = bytearray(random.Random(SEED).randbytes(DUMP_SIZE))
    dump[AT_IN_DUMP - 1:AT_IN_DUMP + len(IN_ROOT) + 1] = f" {IN_ROOT} ".encode()
    memo = b"pay the courier\ncontact " + IN_EXCHANGE.encode() + b" before friday\n"
    return [dataclasses.replace(root, files=(*root.files, PlantedFile(DUMP, bytes(dump), WHEN))),
            dataclasses.replace(exchange, files=(*exchange.files,
                                                 PlantedFile("MEMO.TXT", memo, WHEN)))]


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> BuiltPhysicalVolume:
    volumes = _volumes()
    missing = tools_missing(volumes, mbr=True)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    return build_lvm_image(tmp_path_factory.mktemp("scan-lvm") / "server.img", seed=SEED,
                           volumes=volumes, mbr=True)


def test_findings_in_logical_volumes_name_the_lv_and_link_its_file(case, as_examiner, disk):
    exhibit = add_image_exhibit(case, disk.path)
    assert forensics.ingest_exhibit(exhibit, actor="examiner").status == "succeeded"
    run = services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                options={"jobs": 1, "scanners": "email"})
    in_root = Finding.objects.get(run=run, feature=IN_ROOT)
    in_exchange = Finding.objects.get(run=run, feature=IN_EXCHANGE)
    _, count, physical = disk.volumes[0].segments[1]
    second = disk.pv_offset + PE_START + physical * disk.extent_size
    assert second <= in_root.offset < second + count * disk.extent_size
    assert BlockRun.objects.filter(block_map__exhibit=exhibit, logical_volume="root").exists()

    where = queries.locations(exhibit, [in_root.offset, in_exchange.offset])
    assert where is not None
    root_file = FileRecord.objects.get(exhibit=exhibit, logical_volume="root", path=DUMP)
    memo = FileRecord.objects.get(exhibit=exhibit, logical_volume="exchange",
                                  path__iexact="MEMO.TXT")
    for finding, record, logical, file_offset in (
            (in_root, root_file, "root", AT_IN_DUMP),
            (in_exchange, memo, "exchange", len(b"pay the courier\ncontact "))):
        found = where[finding.offset]
        assert (found["run"].logical_volume, found["run"].volume_index, found["run"].inode,
                found["file_offset"], found["record"]) == (
            logical, PV_INDEX, record.inode, file_offset, record)

    page = as_examiner.get(f"/scanning/cases/{case.pk}/exhibits/{exhibit.pk}/findings/",
                           {"run": run.pk}).content.decode()
    for record, logical, file_offset in ((root_file, "root", AT_IN_DUMP),
                                         (memo, "exchange", 24)):
        link = f"/forensics/cases/{case.pk}/exhibits/{exhibit.pk}/files/{record.pk}/"
        assert f'href="{link}"' in page
        assert (f"volume {PV_INDEX} / LV {logical}, inode {record.inode}, offset "
                f"{file_offset} in the file") in page


def test_a_block_map_made_before_lvs_were_mapped_is_made_again(case, disk):
    """A map stored by older code (its volumes do not name an LV, the LV's files absent)
    would place hits inside LVs nowhere for ever: the next request maps the image again."""
    exhibit = add_image_exhibit(case, disk.path)
    old = services.BlockMap.objects.create(exhibit=exhibit, tool_version="0.0.9",
                                           volumes=[{"index": PV_INDEX, "offset": 0,
                                                     "fs_type": "lvm", "extents": 0}])
    fresh = services.ensure_block_map(exhibit)
    assert fresh is not None and fresh.pk != old.pk
    assert not services.BlockMap.objects.filter(pk=old.pk).exists()
    assert {v["logical_volume"] for v in fresh.volumes} == {"root", "exchange"}
    assert BlockRun.objects.filter(block_map=fresh, logical_volume="exchange").exists()
    assert services.ensure_block_map(exhibit).pk == fresh.pk  # a current map is kept
