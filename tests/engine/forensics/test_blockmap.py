"""Which file holds an offset of a disk image: ext4 and FAT images with a known email in a
known file and another in unallocated space."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dalil.engine.forensics.blockmap import Extent, flatten, map_image
from dalil.engine.forensics.image import open_image

IN_FILE = b"inside.file@mail-example.kz"
LOOSE = b"loose.bytes@unalloc-example.kz"


def _need(*tools: str) -> None:
    if missing := [t for t in tools if not shutil.which(t)]:
        pytest.skip(f"needs {', '.join(missing)}")


def _plant_loose(image: Path) -> int:
    """The loose email near the end of the image (free space in these small images)."""
    data = bytearray(image.read_bytes())
    at = len(data) - 40_000
    data[at:at + len(LOOSE)] = LOOSE
    image.write_bytes(bytes(data))
    return at


def _content() -> bytes:
    return b"x" * 5000 + b" mail " + IN_FILE + b" soon\n" + b"y" * 3000


def build_ext4(folder: Path) -> Path:
    _need("mke2fs")
    tree = folder / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "docs" / "letter.txt").write_bytes(_content())
    (tree / "other.txt").write_bytes(b"nothing here\n" * 50)
    image = folder / "disk.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-b", "1024", "-d", str(tree), str(image),
                    "4M"], check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    return image


def build_fat(folder: Path) -> Path:
    _need("mkfs.vfat", "mcopy")
    image = folder / "fat.img"
    subprocess.run(["mkfs.vfat", "-C", str(image), "4096"], check=True, capture_output=True)
    (folder / "letter.txt").write_bytes(_content())
    subprocess.run(["mmd", "-i", str(image), "::docs"], check=True)
    subprocess.run(["mcopy", "-i", str(image), str(folder / "letter.txt"), "::docs/letter.txt"],
                   check=True)
    return image


@pytest.mark.parametrize("build", [build_ext4, build_fat], ids=["ext4", "fat"])
def test_offsets_map_to_the_file_or_unallocated(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    path = build(tmp_path)
    loose = _plant_loose(path)
    data = path.read_bytes()
    inside = data.index(IN_FILE)
    image = open_image(str(path))
    try:
        blocks = map_image(image)
    finally:
        image.close()
    assert blocks.volumes and not blocks.problems
    hit = blocks.locate(inside)
    assert hit is not None
    extent, file_offset = hit
    assert extent.path.lower() == "docs/letter.txt" and not extent.slack
    assert file_offset == _content().index(IN_FILE)
    assert blocks.locate(loose) is None
    bulk = blocks.locate_many([loose, inside, inside + 3])
    assert bulk[loose] is None
    assert bulk[inside] == hit
    assert bulk[inside + 3] == (extent, file_offset + 3)


def test_flatten_prefers_live_files_and_merges() -> None:
    live = Extent(100, 200, 0, "ext4", 12, "12", "a", 0)
    dead = Extent(150, 300, 0, "ext4", 13, "13", "b", 0, deleted=True)
    flat = flatten([dead, live])
    assert [(e.start, e.end, e.path, e.file_offset) for e in flat] == [
        (100, 200, "a", 0), (200, 300, "b", 50)]
    assert flatten([Extent(0, 10, 0, "fat", 5, "5", "c", 0),
                    Extent(10, 20, 0, "fat", 5, "5", "c", 10)]) == [
        Extent(0, 20, 0, "fat", 5, "5", "c", 0)]
