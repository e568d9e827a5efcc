"""Which file holds an offset of a disk whose LVM2 physical volume holds logical volumes:
``root`` (ext4, two segments with ``exchange``'s extents between them) and ``exchange``
(FAT32), images from :mod:`dalil.engine.scenarios.lvm`. Where each planted file's bytes
are is found by searching the raw image for them, not through the block map."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dalil.engine.forensics.blockmap import BlockMap, Extent, in_media, map_image
from dalil.engine.forensics.filesystem import select_file_system
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.lvmtext import Segment
from dalil.engine.scenarios.lvm import (
    MIB,
    PE_START,
    BuiltPhysicalVolume,
    PlantedFile,
    build_lvm_image,
    default_volumes,
    rewrite_metadata,
    tools_missing,
    with_volume_blanked,
)

SEED = 67
PV_INDEX = 2  # mmls slot of the MBR's only partition (0: the table, 1: the gap before it)
DUMP = "var/dump.bin"
DUMP_SIZE = 3 * MIB + 4321  # in an 8 MiB ext4 LV: runs past its first segment (4 MiB)
PROBE = 64  # bytes of random content: found once in the image


def _volumes() -> list:
    root, exchange = default_volumes(SEED)
    dump = PlantedFile(DUMP, random.Random(SEED).randbytes(DUMP_SIZE),
                       datetime(2024, 3, 4, 7, 0, tzinfo=UTC))
    return [dataclasses.replace(root, files=(*root.files, dump)), exchange]


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> BuiltPhysicalVolume:
    volumes = _volumes()
    missing = tools_missing(volumes, mbr=True)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    return build_lvm_image(tmp_path_factory.mktemp("blockmap-lvm") / "disk.img", seed=SEED,
                           volumes=volumes, mbr=True)


@pytest.fixture(scope="module")
def mapped(disk: BuiltPhysicalVolume) -> BlockMap:
    with open_image(disk.path) as image:
        return map_image(image)


def _segments_in_media(built: BuiltPhysicalVolume, name: str) -> list[tuple[int, int]]:
    """[start, end) in the image of each segment of LV ``name``, in the LV's order, from
    the generator's answer key."""
    volume = next(v for v in built.volumes if v.name == name)
    return [(built.pv_offset + PE_START + physical * built.extent_size,
             built.pv_offset + PE_START + (physical + count) * built.extent_size)
            for _first, count, physical in volume.segments]


def _inode(path: Path, logical: str, name: str) -> int:
    with open_image(path) as image:
        fs = select_file_system(image, PV_INDEX, logical)
        return int(fs.tsk.open("/" + name).info.meta.addr)


def _probes(raw: bytes, data: bytes) -> list[tuple[int, int]]:
    """(offset in the file, offset in the image) of bytes of ``data``: the whole file when
    small, else a window every 128 KiB and the last one; each found exactly once."""
    if len(data) <= 32 * 1024:
        assert raw.count(data) == 1
        at = raw.find(data)
        return [(k, at + k) for k in (0, len(data) // 2, len(data) - 1)]
    found = []
    for k in [*range(0, len(data) - PROBE, 128 * 1024), len(data) - PROBE]:
        window = data[k:k + PROBE]
        assert raw.count(window) == 1
        found.append((k, raw.find(window)))
    return found


def test_planted_files_of_both_lvs_are_located(disk: BuiltPhysicalVolume,
                                               mapped: BlockMap) -> None:
    assert mapped.problems == []
    assert sorted((v["index"], v["logical_volume"], v["fs_type"]) for v in mapped.volumes) \
        == [(PV_INDEX, "exchange", "fat32"), (PV_INDEX, "root", "ext4")]
    raw = disk.path.read_bytes()
    for volume in disk.volumes:
        for planted in volume.files:
            inode = _inode(disk.path, volume.name, planted.path)
            for file_offset, media in _probes(raw, planted.data):
                hit = mapped.locate(media)
                assert hit is not None, (volume.name, planted.path, file_offset)
                extent, at = hit
                assert extent.path.lower() == planted.path.lower()
                assert (extent.inode, extent.logical_volume, extent.volume_index, at,
                        extent.slack, extent.deleted) == (
                    inode, volume.name, PV_INDEX, file_offset, False, False)
                assert extent.to_dict()["logical_volume"] == volume.name


def test_a_file_across_the_segments_is_placed_on_both_sides(disk: BuiltPhysicalVolume,
                                                             mapped: BlockMap) -> None:
    (first_start, first_end), (second_start, second_end) = _segments_in_media(disk, "root")
    assert first_end < second_start  # exchange's extents lie between
    dump = next(f for f in disk.volumes[0].files if f.path == DUMP).data
    probes = _probes(disk.path.read_bytes(), dump)
    assert any(first_start <= m < first_end for _, m in probes)
    assert any(second_start <= m < second_end for _, m in probes)
    # The file's last bytes of the first segment and first of the second: consecutive in
    # the file, a gap apart in the image.
    pieces = sorted((e for e in mapped.extents if e.path == DUMP and not e.slack),
                    key=lambda e: e.file_offset)
    end_of_first = next(e for e in pieces if e.end == first_end)
    start_of_second = next(e for e in pieces if e.start == second_start)
    assert start_of_second.file_offset == end_of_first.file_offset + \
        end_of_first.end - end_of_first.start
    last = mapped.locate(first_end - 1)
    following = mapped.locate(second_start)
    assert last is not None and following is not None
    assert last[0].path == following[0].path == DUMP
    assert following[1] == last[1] + 1
    assert dump[last[1]] == disk.path.read_bytes()[first_end - 1]


def test_the_gap_between_segments_is_not_placed_in_the_lv(disk: BuiltPhysicalVolume,
                                                          mapped: BlockMap) -> None:
    (_, first_end), (second_start, _) = _segments_in_media(disk, "root")
    allowed = _segments_in_media(disk, "root")
    for extent in mapped.extents:
        if extent.logical_volume == "root":
            assert any(lo <= extent.start and extent.end <= hi for lo, hi in allowed), extent
    # Where root's bytes past its first segment would be without the segment table.
    for offset in range(first_end, second_start, 64 * 1024):
        hit = mapped.locate(offset)
        assert hit is None or hit[0].logical_volume == "exchange"
    # The free extents after the last LV hold nothing.
    assert mapped.locate(disk.pv_offset + disk.pv_size - 1) is None


def test_an_unreadable_lv_is_a_problem_and_the_other_is_mapped(
        disk: BuiltPhysicalVolume, tmp_path: Path) -> None:
    damaged = with_volume_blanked(disk, 1, tmp_path / "damaged.img")  # exchange's FAT gone
    with open_image(damaged) as image:
        blocks = map_image(image)
    [problem] = blocks.problems
    assert problem.startswith(f"{damaged}, volume {PV_INDEX} at offset {disk.pv_offset}, "
                              "LVM logical volume exchange: ")
    assert "no readable file system" in problem
    assert [v["logical_volume"] for v in blocks.volumes] == ["root"]
    assert {e.logical_volume for e in blocks.extents} == {"root"}
    notes = disk.volumes[0].files[0]
    hit = blocks.locate(damaged.read_bytes().find(notes.data) + 5)
    assert hit is not None and (hit[0].path, hit[1]) == (notes.path, 5)


def test_an_lv_of_another_segment_type_is_a_problem(disk: BuiltPhysicalVolume,
                                                    tmp_path: Path) -> None:
    copy = dataclasses.replace(disk, path=tmp_path / "thin.img")
    copy.path.write_bytes(disk.path.read_bytes())
    physical = disk.volumes[1].segments[0][2]
    text = disk.metadata.replace(
        f'type = "striped"\nstripe_count = 1\n\nstripes = [\n"pv0", {physical}\n]',
        'type = "thin"\nthin_pool = "pool0"\ntransaction_id = 1\ndevice_id = 1')
    assert text != disk.metadata
    rewrite_metadata(copy, text)
    with open_image(copy.path) as image:
        blocks = map_image(image)
    assert blocks.problems == [
        f"{copy.path}, volume {PV_INDEX} at offset {disk.pv_offset}, LVM logical volume "
        "exchange: segment1 of type thin with 0 stripes is not supported"]
    assert [v["logical_volume"] for v in blocks.volumes] == ["root"]


def test_lv_extents_are_cut_at_segment_boundaries_and_holes() -> None:
    segments = [Segment(300, 100, 200), Segment(0, 100, 1000), Segment(100, 100, 5000)]
    extent = Extent(50, 350, 0, "ext4", 12, "12", "a", 10)
    pieces = list(in_media([extent], segments, 1_000_000, 2, "root"))
    assert [(p.start, p.end, p.file_offset, p.volume_index, p.logical_volume)
            for p in pieces] == [
        (1_001_050, 1_001_100, 10, 2, "root"),
        (1_005_000, 1_005_100, 60, 2, "root"),
        (1_000_200, 1_000_250, 260, 2, "root"),  # LV bytes 200-300: no segment, no place
    ]
