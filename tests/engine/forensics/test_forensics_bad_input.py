"""Bad input: generated ext2 and FAT images corrupted in chosen places. Every failure names
the image, the volume and the offset; the walk goes on past a damaged directory and lists
it among its problems; nothing crashes or runs for ever."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.forensics.extract import ExtractError, extract_all, find_by_path, read_content
from dalil.engine.forensics.filesystem import FileSystemError, open_file_system, select_volume
from dalil.engine.forensics.image import ImageError, open_image
from dalil.engine.forensics.walk import Walk, _time

MIB = 1024 * 1024


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")


@pytest.fixture
def ext2(tmp_path: Path) -> bytes:
    """ext2, 1 KiB blocks: a/{f1,f2,f3}.txt, a/sub/deep.txt, b/{f1,f2,f3}.txt, c/..."""
    need("mke2fs")
    tree = tmp_path / "tree"
    for folder in ("a", "b", "c"):
        (tree / folder).mkdir(parents=True)
        for number in (1, 2, 3):
            (tree / folder / f"f{number}.txt").write_text(f"file {folder}{number}\n")
    (tree / "a" / "sub").mkdir()
    (tree / "a" / "sub" / "deep.txt").write_text("deep\n")
    image = tmp_path / "clean.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext2", "-b", "1024", "-d", str(tree), str(image),
                    "2M"], check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    return image.read_bytes()


def inode_of(data: bytes, tmp_path: Path, path: str) -> int:
    clean = tmp_path / "lookup.img"
    clean.write_bytes(data)
    with open_image(clean) as image:
        fs = open_file_system(image, select_volume(image, None))
        return find_by_path(fs, path).inode


def inode_offset(data: bytes, inode: int) -> tuple[int, int]:
    """Byte offset of an ext2 inode in the image, and the block size."""
    block_size = 1024 << struct.unpack_from("<I", data, 1024 + 24)[0]
    per_group = struct.unpack_from("<I", data, 1024 + 40)[0]
    inode_size = struct.unpack_from("<H", data, 1024 + 88)[0]
    descriptors = (2 if block_size == 1024 else 1) * block_size
    group, index = divmod(inode - 1, per_group)
    table = struct.unpack_from("<I", data, descriptors + 32 * group + 8)[0]
    return table * block_size + index * inode_size, block_size


def first_block(data: bytes, inode: int) -> int:
    """Byte offset of the first data block of ``inode``."""
    at, block_size = inode_offset(data, inode)
    return struct.unpack_from("<I", data, at + 40)[0] * block_size


def walk_image(path: Path) -> tuple[list[str], Walk]:
    with open_image(path) as image:
        walker = Walk(open_file_system(image, select_volume(image, None)))
        return [e.path for e in walker], walker


def save(tmp_path: Path, name: str, data: bytes | bytearray) -> Path:
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


def test_corrupt_superblock_names_image_volume_and_offset(ext2: bytes, tmp_path: Path) -> None:
    data = bytearray(ext2)
    data[1024 + 56:1024 + 58] = b"\0\0"  # the ext2 magic 0xEF53
    bare = save(tmp_path, "bad-sb.img", data)
    with open_image(bare) as image, pytest.raises(FileSystemError) as caught:
        open_file_system(image, select_volume(image, None))
    assert str(bare) in str(caught.value) and "offset 0" in str(caught.value)
    assert "no readable file system" in str(caught.value)

    need("sfdisk")
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as handle:
        handle.truncate(4 * MIB)
    subprocess.run(["sfdisk", "-q", str(disk)], input=b"label: dos\nstart=2048, size=4096\n",
                   check=True, capture_output=True)
    with open(disk, "r+b") as handle:
        handle.seek(MIB)
        handle.write(data)
    with open_image(disk) as image, pytest.raises(FileSystemError) as caught:
        open_file_system(image, select_volume(image, None))
    assert f"volume 2 at offset {MIB} (sector 2048)" in str(caught.value)


def test_bad_block_pointer_skips_that_directory_and_reports_it(ext2: bytes,
                                                               tmp_path: Path) -> None:
    b_inode = inode_of(ext2, tmp_path, "b")
    data = bytearray(ext2)
    at, _ = inode_offset(data, b_inode)
    struct.pack_into("<I", data, at + 40, 0x0FFFFFF0)  # i_block[0] far past the end
    paths, walker = walk_image(save(tmp_path, "bad-ptr.img", data))
    assert "b" in paths and not any(p.startswith("b/") for p in paths)
    assert {"a/f1.txt", "a/sub/deep.txt", "c/f3.txt"} <= set(paths)  # the rest comes back
    [problem] = walker.problems
    assert problem.path == "b" and problem.inode == b_inode
    assert "bad-ptr.img, whole media (offset 0): directory /b" in problem.message


@pytest.mark.parametrize("rec_len", [0, 3, 0xFFFC])
def test_bad_rec_len_never_stops_the_walk(ext2: bytes, tmp_path: Path, rec_len: int) -> None:
    block = first_block(ext2, inode_of(ext2, tmp_path, "b"))
    data = bytearray(ext2)
    # Third entry of b's directory block (after "." and ".."), the first real name.
    struct.pack_into("<H", data, block + 24 + 4, rec_len)
    path = save(tmp_path, "bad-reclen.img", data)
    paths, _ = walk_image(path)
    assert {"a/f1.txt", "a/sub/deep.txt", "c/f1.txt", "c/f3.txt", "b"} <= set(paths)
    expected = subprocess.run(["fls", "-r", "-p", str(path)], capture_output=True,
                              text=True).stdout
    assert [line.split("\t", 1)[1] for line in expected.splitlines()] == paths


def test_directory_loop_is_not_entered_and_is_reported(ext2: bytes, tmp_path: Path) -> None:
    a_inode = inode_of(ext2, tmp_path, "a")
    block = first_block(ext2, a_inode)
    data = bytearray(ext2)
    at = data.index(b"sub", block, block + 1024) - 8  # the entry's inode field
    struct.pack_into("<I", data, at, a_inode)  # a/sub now points back to a
    paths, walker = walk_image(save(tmp_path, "loop.img", data))
    assert paths.count("a/sub") == 1 and "a/sub/f1.txt" not in paths
    assert {"b/f1.txt", "c/f3.txt"} <= set(paths)
    [problem] = walker.problems
    assert problem.path == "a/sub" and "directory loop" in problem.message


def test_absurd_size_is_refused_not_read_for_ever(ext2: bytes, tmp_path: Path) -> None:
    inode = inode_of(ext2, tmp_path, "c/f1.txt")
    data = bytearray(ext2)
    at, _ = inode_offset(data, inode)
    struct.pack_into("<I", data, at + 4, 64 * MIB)  # i_size, 32 times the file system
    struct.pack_into("<I", data, at + 108, 0)  # i_size_high (TSK is slow on 2**48)
    path = save(tmp_path, "huge.img", data)
    with open_image(path) as image:
        fs = open_file_system(image, select_volume(image, None))
        entry = find_by_path(fs, "c/f1.txt")
        assert entry.size == 64 * MIB
        with pytest.raises(ExtractError, match=r"f1.txt \(inode \d+\): size \d+ bytes .* "
                                               r"absurd size"):
            list(read_content(fs, entry))
        records = list(extract_all(fs, tmp_path / "out"))
    by_path = {r.path: r for r in records}
    assert not by_path["c/f1.txt"].complete and "absurd" in (by_path["c/f1.txt"].error or "")
    assert by_path["c/f2.txt"].complete  # the others are extracted


def test_truncated_partitioned_image_says_so(ext2: bytes, tmp_path: Path) -> None:
    need("sfdisk")
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as handle:
        handle.truncate(4 * MIB)
    subprocess.run(["sfdisk", "-q", str(disk)], input=b"label: dos\nstart=2048, size=4096\n",
                   check=True, capture_output=True)
    cut = save(tmp_path, "cut.img", disk.read_bytes()[:MIB + 512])
    with open_image(cut) as image, pytest.raises(FileSystemError) as caught:
        open_file_system(image, select_volume(image, None))
    assert f"offset {MIB}" in str(caught.value) and "truncated" in str(caught.value)


def test_fat_cluster_chain_loop_ends(tmp_path: Path) -> None:
    need("mkfs.vfat", "mmd", "mcopy")
    image = tmp_path / "fat.img"
    subprocess.run(["mkfs.vfat", "-C", "-F", "16", "-S", "512", "-s", "1", str(image),
                    "4096"], check=True, capture_output=True)
    subprocess.run(["mmd", "-i", str(image), "::/DIRA", "::/DIRB"], check=True)
    for folder in ("DIRA", "DIRB"):
        source = tmp_path / folder
        source.mkdir()
        for number in range(40):  # 40 names: the directory spans several clusters
            (source / f"F{number}.TXT").write_text(f"{folder} {number}\n")
        subprocess.run(["mcopy", "-i", str(image), *sorted(map(str, source.iterdir())),
                        f"::/{folder}/"], check=True)
    data = bytearray(image.read_bytes())
    reserved = struct.unpack_from("<H", data, 14)[0]
    sector = struct.unpack_from("<H", data, 11)[0]
    fats, fat_sectors = data[16], struct.unpack_from("<H", data, 22)[0]
    root = (reserved + fats * fat_sectors) * sector
    entry = data.index(b"DIRA       ", root)
    chain = [struct.unpack_from("<H", data, entry + 26)[0]]
    while (following := struct.unpack_from("<H", data, reserved * sector
                                           + 2 * chain[-1])[0]) < 0xFFF8:
        chain.append(following)
    assert len(chain) > 1
    for fat in range(fats):  # the last cluster points back to the first: a loop
        struct.pack_into("<H", data, (reserved + fat * fat_sectors) * sector + 2 * chain[-1],
                         chain[0])
    looped = save(tmp_path, "fat-loop.img", data)
    paths, _ = walk_image(looped)
    assert sum(p.startswith("DIRB/") for p in paths) == 40
    assert "DIRA/F0.TXT" in paths
    expected = subprocess.run(["fls", "-r", "-p", str(looped)], capture_output=True,
                              text=True).stdout
    assert [line.split("\t", 1)[1] for line in expected.splitlines()] == paths


@pytest.fixture
def ewf_set(tmp_path: Path) -> Path:
    """A 4 MiB ext2 acquired by ewfacquire into five 1 MiB segments."""
    need("ewfacquire", "mke2fs")
    tree = tmp_path / "big"
    tree.mkdir()
    (tree / "rand.bin").write_bytes(os.urandom(3_000_000))
    raw = tmp_path / "ew.raw"
    subprocess.run(["mke2fs", "-q", "-t", "ext2", "-d", str(tree), str(raw), "4M"], check=True)
    target = tmp_path / "set" / "ew"
    target.parent.mkdir()
    subprocess.run(["ewfacquire", "-u", "-t", str(target), "-c", "none", "-S", "1MiB",
                    "-f", "encase6", str(raw)], check=True, capture_output=True)
    return target.with_suffix(".E01")


def test_ewf_missing_segment_is_named(ewf_set: Path) -> None:
    segments = sorted(ewf_set.parent.glob("ew.E*"))
    assert len(segments) >= 3
    segments[1].unlink()  # ew.E02
    with pytest.raises(ImageError) as caught:
        open_image(ewf_set)
    assert str(ewf_set) in str(caught.value) and "ew.E02 is missing" in str(caught.value)


def test_ewf_bad_segment_never_crashes(ewf_set: Path) -> None:
    segments = sorted(ewf_set.parent.glob("ew.E*"))
    segments[-1].write_bytes(segments[-1].read_bytes()[:100])  # last segment cut short
    try:
        image = open_image(ewf_set)
    except ImageError as exc:
        assert str(ewf_set) in str(exc)
        return
    with image:
        try:
            fs = open_file_system(image, select_volume(image, None))
        except FileSystemError as exc:
            assert str(ewf_set) in str(exc)
            return
        for entry in Walk(fs):
            if entry.type == "file":
                try:
                    b"".join(read_content(fs, entry))
                except ExtractError as exc:
                    assert str(ewf_set) in str(exc) and entry.path in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**63), 2**63 - 1), st.integers(0, 999_999_999))
def test_any_inode_time_gives_a_time_or_none(seconds: int, nano: int) -> None:
    # NTFS stores 64-bit FILETIMEs: a damaged MFT entry can hold year 30828, which no
    # datetime holds; the entry is listed without that time, the walk goes on.
    value = _time(seconds, nano)
    assert value is None or (value.tzinfo is UTC and value.year <= 9999)


def test_inode_times_before_1970_and_beyond_9999() -> None:
    assert _time(-1, 0) == datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert _time(2**40, 0) is None
    assert _time(1_700_000_000, 999_999_999) == datetime(2023, 11, 14, 22, 13, 20, 999_999,
                                                         tzinfo=UTC)
