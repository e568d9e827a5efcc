"""The block map of a two-volume APFS container (the generator's system volume and its
"Data" volume): a byte of any planted file, found in the raw image by its content, is
placed in that file of that volume, under the name the ingest stores the volume by."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dalil.engine.forensics.blockmap import BlockMap, map_image
from dalil.engine.forensics.image import open_image
from dalil.engine.scenarios.apfs import (
    DATA_VOLUME,
    DEFAULT_PLANTS,
    ApfsAnswerKey,
    build_apfs_image,
)

pytest.importorskip("pyfsapfs", reason="needs libfsapfs-python (pip install libfsapfs-python)")
if shutil.which("mkapfs") is None:
    pytest.skip("needs mkapfs (Debian apfsprogs)", allow_module_level=True)

SYSTEM = "Macintosh HD"


@pytest.fixture(scope="module")
def mac(tmp_path_factory: pytest.TempPathFactory) -> ApfsAnswerKey:
    return build_apfs_image(tmp_path_factory.mktemp("blockmap-apfs") / "mac.img",
                            label=SYSTEM, more_volumes=(DATA_VOLUME,))


@pytest.fixture(scope="module")
def mapped(mac: ApfsAnswerKey) -> BlockMap:
    with open_image(mac.image) as image:
        return map_image(image)


def test_every_volume_is_mapped_under_its_unit_name(mapped: BlockMap) -> None:
    assert [v["logical_volume"] for v in mapped.volumes] == [SYSTEM, DATA_VOLUME.name]
    assert all(v["fs_type"] == "apfs" and v["extents"] > 0 for v in mapped.volumes)
    assert mapped.problems == []


def test_a_byte_of_each_planted_file_is_placed_in_its_file_and_volume(
        mac: ApfsAnswerKey, mapped: BlockMap) -> None:
    raw = Path(mac.image).read_bytes()
    checked = set()
    for volume, plants in ((SYSTEM, DEFAULT_PLANTS), (DATA_VOLUME.name, DATA_VOLUME.plants)):
        for plant in plants:
            at = raw.find(plant.data)
            if len(plant.data) < 32 or at < 0 or raw.find(plant.data, at + 1) >= 0:
                continue  # too short to be unique, or the same bytes in both volumes
            answer = mac.entry(plant.path, volume)
            hit = mapped.locate(at + 17)
            assert hit is not None, (volume, plant.path)
            extent, file_offset = hit
            assert (extent.logical_volume, extent.path, extent.inode, file_offset) == (
                volume, answer.path, answer.inode, 17)
            checked.add(volume)
    assert checked == {SYSTEM, DATA_VOLUME.name}  # each volume had a file to check
