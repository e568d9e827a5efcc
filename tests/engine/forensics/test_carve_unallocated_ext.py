"""Unallocated space of ext2/3/4 and exFAT: the free blocks equal those of The Sleuth Kit
(``blkls -l -A``) and e2fsprogs (``dumpe2fs``) on generated images, and files deleted from
them are carved from it, allocated ones not."""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from dalil.engine.forensics.carve import CarveError, CarveOptions, carve
from dalil.engine.forensics.carve.samples import make_sample
from dalil.engine.forensics.carve.space import free_extents
from dalil.engine.forensics.filesystem import open_file_system, select_volume
from dalil.engine.forensics.image import open_image

MIB = 1024 * 1024
ENV = {"PATH": "/usr/sbin:/sbin:/usr/bin:/bin", "E2FSPROGS_FAKE_TIME": "1700000000",
       "LC_ALL": "C", "TZ": "UTC"}


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")


def our_free_units(image_path: Path, unit: int | None = None) -> tuple[set[int], int]:
    """Our free space as a set of TSK block numbers (units of ``unit`` or the fs block)."""
    with open_image(image_path) as image:
        fs = open_file_system(image, select_volume(image, None))
        size = unit or fs.block_size
        units: set[int] = set()
        for extent in free_extents(fs):
            assert extent.offset % size == 0 and extent.length % size == 0
            units.update(range(extent.offset // size, (extent.offset + extent.length) // size))
        return units, size


def tsk_unallocated(image_path: Path) -> set[int]:
    out = subprocess.run(["blkls", "-l", "-A", str(image_path)], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[2] == "addr|alloc"
    return {int(line.split("|")[0]) for line in out[3:] if line.endswith("|f")}


def _ranges(text: str) -> set[int]:
    blocks: set[int] = set()
    for part in text.split(","):
        if part.strip():
            first, _, last = part.strip().partition("-")
            blocks.update(range(int(first), int(last or first) + 1))
    return blocks


def dumpe2fs_view(image_path: Path) -> tuple[set[int], set[int]]:
    """(free blocks, metadata blocks of BLOCK_UNINIT groups) as e2fsprogs reports them."""
    out = subprocess.run(["dumpe2fs", str(image_path)], capture_output=True, text=True,
                         env=ENV, check=True).stdout
    free: set[int] = set()
    uninit_meta: set[int] = set()
    for group in re.split(r"\n(?=Group \d+:)", out)[1:]:
        free |= _ranges(re.search(r"^  Free blocks: (.*)$", group, re.M).group(1))
        if "BLOCK_UNINIT" not in group.splitlines()[0]:
            continue
        for match in re.finditer(r"(?:superblock|Group descriptors?|Reserved GDT blocks|"
                                 r"Block bitmap|Inode bitmap|Inode table) at (\d+(?:-\d+)?)",
                                 group):
            uninit_meta |= _ranges(match.group(1))
    return free, uninit_meta


def ext_image(tmp_path: Path, options: list[str], files: dict[str, bytes],
              delete: list[str], size_mib: int = 96) -> tuple[Path, dict[str, int]]:
    """An ext image made by mke2fs -d, then ``delete`` removed with debugfs -w (the content
    stays in the freed blocks); returns it and each deleted file's first block."""
    stage = tmp_path / "stage"
    stage.mkdir()
    for name, data in files.items():
        (stage / name).write_bytes(data)
    image = tmp_path / "ext.img"
    with open(image, "wb") as handle:
        handle.truncate(size_mib * MIB)
    subprocess.run(["mke2fs", "-q", "-F", *options, "-E", "nodiscard", "-d", str(stage),
                    str(image)], check=True, capture_output=True, env=ENV)
    first_blocks = {}
    for name in delete:
        out = subprocess.run(["debugfs", "-R", f"blocks /{name}", str(image)],
                             capture_output=True, text=True, env=ENV, check=True).stdout
        first_blocks[name] = int(out.split()[0])
    if delete:
        script = tmp_path / "rm.cmd"
        script.write_text("".join(f"rm /{name}\n" for name in delete))
        subprocess.run(["debugfs", "-w", "-f", str(script), str(image)], check=True,
                       capture_output=True, env=ENV)
    return image, first_blocks


def sample_files(seed: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {"kept.jpg": make_sample("jpg", rng), "kept.png": make_sample("png", rng),
            "gone.jpg": make_sample("jpg", rng), "gone.pdf": make_sample("pdf", rng),
            "notes.txt": rng.randbytes(300_000)}


EXT_LAYOUTS = {
    "ext2-1k": ["-t", "ext2", "-b", "1024"],
    "ext3-4k": ["-t", "ext3", "-b", "4096", "-g", "4096"],
    "ext4-4k-flex-64bit": ["-t", "ext4", "-b", "4096", "-g", "4096"],
    "ext4-4k-32bit": ["-t", "ext4", "-b", "4096", "-g", "4096", "-O", "^64bit"],
    "ext4-4k-no-flex": ["-t", "ext4", "-b", "4096", "-g", "4096", "-O", "^flex_bg"],
    "ext4-1k-flex": ["-t", "ext4", "-b", "1024"],
    "ext4-meta-bg": ["-t", "ext4", "-b", "1024", "-O", "meta_bg,^resize_inode"],
    "ext4-uninit-bg": ["-t", "ext4", "-b", "4096", "-g", "4096", "-O",
                       "^metadata_csum,uninit_bg"],
    "ext4-sparse-super2": ["-t", "ext4", "-b", "4096", "-g", "4096", "-O", "sparse_super2"],
}


@pytest.mark.parametrize("layout", sorted(EXT_LAYOUTS))
def test_ext_free_blocks_match_tsk_and_e2fsprogs(tmp_path: Path, layout: str) -> None:
    need("mke2fs", "debugfs", "dumpe2fs", "blkls")
    image, _ = ext_image(tmp_path, EXT_LAYOUTS[layout], sample_files(7),
                         ["gone.jpg", "gone.pdf"])
    ours, _ = our_free_units(image)
    free, uninit_meta = dumpe2fs_view(image)
    tsk = tsk_unallocated(image)
    assert ours == free  # e2fsprogs' own view, BLOCK_UNINIT groups computed
    # TSK reads the never-written bitmap of a BLOCK_UNINIT group (zeros), so it also calls
    # that group's superblock, descriptor and table copies free; nothing else differs.
    assert ours <= tsk
    assert tsk - ours <= uninit_meta
    if layout.startswith(("ext2", "ext3")):  # no BLOCK_UNINIT without descriptor checksums
        assert ours == tsk
    else:
        assert uninit_meta and tsk - ours  # the layouts above do have BLOCK_UNINIT groups


@pytest.mark.parametrize("layout", ["ext4-4k-flex-64bit", "ext4-4k-no-flex", "ext4-1k-flex"])
def test_files_deleted_from_ext4_are_carved_from_unallocated_space(tmp_path: Path,
                                                                   layout: str) -> None:
    need("mke2fs", "debugfs")
    files = sample_files(11)
    image, first_blocks = ext_image(tmp_path, EXT_LAYOUTS[layout], files,
                                    ["gone.jpg", "gone.pdf"])
    block = 1024 if "1k" in layout else 4096
    report = carve(image, tmp_path / "unalloc", CarveOptions(unallocated=True))
    assert report.space["mode"] == "unallocated" and report.complete
    found = sorted((f.type, f.offset, f.sha256) for f in report.valid)
    expected = sorted((name[-3:], first_blocks[name] * block,
                       hashlib.sha256(files[name]).hexdigest())
                      for name in ("gone.jpg", "gone.pdf"))
    assert found == expected  # the allocated kept.jpg and kept.png are not carved
    for item in report.valid:
        carved = (tmp_path / "unalloc" / item.name).read_bytes()
        assert carved == files[f"gone.{item.type}"]
    everything = carve(image, tmp_path / "all", CarveOptions(volume=0))
    assert {f.sha256 for f in everything.valid} == {
        hashlib.sha256(files[n]).hexdigest() for n in files if not n.endswith(".txt")}


def test_ext_bad_layout_names_the_image_and_place(tmp_path: Path) -> None:
    need("mke2fs")
    image, _ = ext_image(tmp_path, EXT_LAYOUTS["ext4-4k-no-flex"], sample_files(3), [])
    original = image.read_bytes()
    raw = bytearray(original)
    # Group 2's descriptor (64 bytes each, table in block 1) points its bitmap far away.
    struct.pack_into("<I", raw, 4096 + 2 * 64, 0x7FFFFFF0)
    broken = tmp_path / "broken.img"
    broken.write_bytes(bytes(raw))
    with pytest.raises(CarveError, match=r"broken\.img.*block 2147483632 lies past the end"):
        carve(broken, tmp_path / "out", CarveOptions(unallocated=True))
    # Cut just inside group 3 (16 MiB groups), whose bitmap follows its superblock copy and
    # descriptor blocks there, without flex_bg.
    cut = tmp_path / "cut.img"
    cut.write_bytes(original[:3 * 16 * MIB + 8192])
    with pytest.raises(CarveError, match=r"cut\.img.*offset \d+ .*truncated image"):
        carve(cut, tmp_path / "out2", CarveOptions(unallocated=True))


# --- exFAT ----------------------------------------------------------------------------------


def _rotating_sum(data: bytes, skip: tuple[int, ...] = ()) -> int:
    value = 0
    for index, byte in enumerate(data):
        if index not in skip:
            value = ((((value & 1) << 15) | (value >> 1)) + byte) & 0xFFFF
    return value


class ExfatWriter:
    """Adds files to (and deletes them from) the root directory of an image made by
    mkfs.exfat. Written by hand because exfatprogs has no population tool and no
    maintained library writes exFAT; files are contiguous (NoFatChain, as Windows writes
    them), entry sets carry their SetChecksum and NameHash, so fsck.exfat calls it clean."""

    def __init__(self, path: Path) -> None:
        self.path = path
        boot = path.read_bytes()[:512]
        self.cluster = (1 << boot[108]) << boot[109]
        self.heap = struct.unpack_from("<I", boot, 88)[0] << boot[108]
        self.count = struct.unpack_from("<I", boot, 92)[0]
        self.root = struct.unpack_from("<I", boot, 96)[0]
        root = self._read(self.root)
        at = next(a for a in range(0, self.cluster, 32) if root[a] == 0x81)
        self.bitmap_cluster = struct.unpack_from("<I", root, at + 20)[0]

    def offset(self, cluster: int) -> int:
        return self.heap + (cluster - 2) * self.cluster

    def _read(self, cluster: int, size: int | None = None) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset(cluster))
            return handle.read(size or self.cluster)

    def _write(self, offset: int, data: bytes) -> None:
        with open(self.path, "r+b") as handle:
            handle.seek(offset)
            handle.write(data)

    def _set_bits(self, first: int, count: int, value: bool) -> None:
        bitmap = bytearray(self._read(self.bitmap_cluster, (self.count + 7) // 8))
        for index in range(first - 2, first - 2 + count):
            if value:
                bitmap[index // 8] |= 1 << (index % 8)
            else:
                bitmap[index // 8] &= ~(1 << (index % 8)) & 0xFF
        self._write(self.offset(self.bitmap_cluster), bytes(bitmap))

    def add(self, name: str, data: bytes, gap: int = 0) -> int:
        """Write ``data`` after ``gap`` free clusters; returns its offset in the image."""
        bitmap = self._read(self.bitmap_cluster, (self.count + 7) // 8)
        used = [bitmap[i // 8] >> (i % 8) & 1 for i in range(self.count)]
        need_clusters = max(1, -(-len(data) // self.cluster))
        first = next(i for i in range(self.count - need_clusters - gap)
                     if not any(used[i:i + need_clusters + gap])) + gap + 2
        self._set_bits(first, need_clusters, True)
        self._write(self.offset(first), data)
        stamp = (44 << 25) | (1 << 21) | (1 << 16)  # 2024-01-01 00:00:00
        units = name.encode("utf-16-le")
        entries = bytearray(struct.pack("<BBHHHIII", 0x85, 1 + -(-len(name) // 15), 0, 0x20,
                                        0, stamp, stamp, stamp) + bytes(12))
        entries += struct.pack("<BBBBHHQIIQ", 0xC0, 0x03, 0, len(name),
                               _rotating_sum(name.upper().encode("utf-16-le")), 0, len(data),
                               0, first, len(data))
        for at in range(0, len(units), 30):
            entries += b"\xc1\x00" + units[at:at + 30].ljust(30, b"\x00")
        struct.pack_into("<H", entries, 2, _rotating_sum(bytes(entries), skip=(2, 3)))
        root = self._read(self.root)
        slot = next(a for a in range(0, self.cluster, 32) if root[a] == 0)
        self._write(self.offset(self.root) + slot, bytes(entries))
        return self.offset(first)

    def delete(self, name: str) -> None:
        """What a driver does: clear the InUse bit of the entry set and free the clusters."""
        root = bytearray(self._read(self.root))
        for at in range(0, self.cluster, 32):
            if root[at] != 0x85:
                continue
            stream = root[at + 32:at + 64]
            units = b"".join(root[at + 66 + 32 * i:at + 96 + 32 * i]
                             for i in range(root[at + 1] - 1))
            if units[:2 * stream[3]].decode("utf-16-le") != name:
                continue
            for entry in range(root[at + 1] + 1):
                root[at + 32 * entry] &= 0x7F
            self._write(self.offset(self.root), bytes(root))
            first, size = struct.unpack_from("<I", stream, 20)[0], struct.unpack_from(
                "<Q", stream, 24)[0]
            self._set_bits(first, max(1, -(-size // self.cluster)), False)
            return
        raise KeyError(name)


def exfat_image(tmp_path: Path, size: str, cluster: str | None,
                files: dict[str, bytes], delete: list[str]) -> tuple[Path, dict[str, int]]:
    image = tmp_path / "exfat.img"
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    subprocess.run(["mkfs.exfat", *(["-c", cluster] if cluster else []), str(image)],
                   check=True, capture_output=True)
    writer = ExfatWriter(image)
    offsets = {name: writer.add(name, data, gap=index % 3)
               for index, (name, data) in enumerate(files.items())}
    for name in delete:
        writer.delete(name)
    fsck = subprocess.run(["fsck.exfat", "-n", str(image)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    return image, offsets


# 10003K leaves sectors past the last cluster: TSK calls them unallocated, and so do we.
@pytest.mark.parametrize(("size", "cluster"), [("9M", None), ("10003K", "32K"),
                                               ("10003K", None), ("40M", "1K")])
def test_exfat_free_space_matches_tsk(tmp_path: Path, size: str, cluster: str | None) -> None:
    need("mkfs.exfat", "fsck.exfat", "blkls", "fls")
    image, _ = exfat_image(tmp_path, size, cluster, sample_files(5), ["gone.jpg", "gone.pdf"])
    listing = subprocess.run(["fls", "-r", str(image)], capture_output=True, text=True,
                             check=True).stdout
    assert re.search(r"\* \d+:\tgone\.jpg", listing) and re.search(r"\d+:\tkept\.png", listing)
    ours, _ = our_free_units(image, 512)  # TSK counts exFAT space in 512-byte sectors
    assert ours == tsk_unallocated(image)


def test_files_deleted_from_exfat_are_carved_from_unallocated_space(tmp_path: Path) -> None:
    need("mkfs.exfat", "fsck.exfat")
    files = sample_files(13)
    image, offsets = exfat_image(tmp_path, "16M", None, files, ["gone.jpg", "gone.pdf"])
    report = carve(image, tmp_path / "unalloc", CarveOptions(unallocated=True))
    found = sorted((f.type, f.offset, f.sha256) for f in report.valid)
    assert found == sorted((name[-3:], offsets[name], hashlib.sha256(files[name]).hexdigest())
                           for name in ("gone.jpg", "gone.pdf"))
    everything = carve(image, tmp_path / "all", CarveOptions())
    assert len(everything.valid) == 4


def test_exfat_without_its_bitmap_entry_is_a_clear_error(tmp_path: Path) -> None:
    need("mkfs.exfat", "fsck.exfat")
    image, _ = exfat_image(tmp_path, "9M", None, {"a.jpg": sample_files(1)["kept.jpg"]}, [])
    writer = ExfatWriter(image)
    raw = bytearray(image.read_bytes())
    root = writer.offset(writer.root)
    at = next(a for a in range(root, root + writer.cluster, 32) if raw[a] == 0x81)
    raw[at] = 0x01  # the bitmap entry marked unused
    image.write_bytes(bytes(raw))
    with pytest.raises(CarveError, match=r"exfat\.img.*no allocation bitmap entry"):
        carve(image, tmp_path / "out", CarveOptions(unallocated=True))


# --- the command a user types ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ext4", "exfat"])
def test_dalil_carve_unallocated_command(tmp_path: Path, kind: str) -> None:
    files = sample_files(17)
    if kind == "ext4":
        need("mke2fs", "debugfs")
        image, blocks = ext_image(tmp_path, EXT_LAYOUTS["ext4-4k-flex-64bit"], files,
                                  ["gone.jpg", "gone.pdf"])
        offsets = {name: block * 4096 for name, block in blocks.items()}
    else:
        need("mkfs.exfat", "fsck.exfat")
        image, offsets = exfat_image(tmp_path, "16M", None, files, ["gone.jpg", "gone.pdf"])
    out = tmp_path / "carved"
    done = subprocess.run([sys.executable, "-m", "dalil.cli", "carve", str(image), str(out),
                           "--unallocated", "--json"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest["space"]["mode"] == "unallocated"
    assert sorted((f["offset"], f["sha256"]) for f in manifest["files"]) == sorted(
        (offsets[n], hashlib.sha256(files[n]).hexdigest()) for n in ("gone.jpg", "gone.pdf"))
    for row in manifest["files"]:
        assert hashlib.sha256((out / row["name"]).read_bytes()).hexdigest() == row["sha256"]
