"""A byte-for-byte reproducible FAT32 writer with long names, folders and deleted files.

Pure Python, like :mod:`dalil.engine.training.fatimage` (FAT12), so that a seed gives the
same bytes on every machine whatever the version of dosfstools or mtools (``mmd`` stamps
folders with the clock and has no option to pin it). The layout is the one ``mkfs.fat``
writes: 32 reserved sectors with the FSInfo sector and a backup boot sector, two FATs,
the root directory as a cluster chain from cluster 2. Every file and folder is stored in
contiguous clusters in pre-order (a folder, then its files, then its sub-folders), as a
copy onto a fresh stick lays them out.

A *deleted* file is deleted the way Windows does it: the first byte of its short entry and
of its long-name entries becomes 0xE5 and its FAT chain is zeroed; its clusters keep the
content, so a forensic tool recovers it from the start cluster and the size.

The image file is created sparse: only the boot sectors, the FATs, directories and file
data are written.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SECTOR = 512
RESERVED = 32
FATS = 2
EOC = 0x0FFFFFFF
MIN_CLUSTERS = 65525
_SHORT_ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-~!#$%&'()@^{}")


class Fat32Error(ValueError):
    """The files do not fit, the size is too small for FAT32, or a time is out of range."""


@dataclass(frozen=True)
class Fat32File:
    """A file to store: its path (``/``-separated, no leading slash) and local times."""

    path: str
    data: bytes
    modified: datetime  # naive local time, as FAT stores it (2-second resolution)
    created: datetime  # naive local time (10 ms resolution; whole seconds here)
    accessed: datetime  # naive local time (FAT keeps the date only)
    deleted: bool = False


@dataclass
class Placed:
    """Where a file ended up: first cluster, byte offset of its data, its entry's offset."""

    path: str
    first_cluster: int
    data_offset: int
    entry_offset: int
    size: int


@dataclass
class _Dir:
    name: str
    path: str
    modified: datetime
    children: list[_Dir | Fat32File] = field(default_factory=list)
    cluster: int = 0
    clusters: int = 0


@dataclass
class Fat32Layout:
    """The geometry of the image, for callers that place data into free clusters."""

    size: int
    sectors_per_cluster: int
    fat_sectors: int
    data_start: int  # byte offset of cluster 2
    cluster_count: int
    next_free: int  # the first cluster after everything written
    placed: dict[str, Placed]

    @property
    def cluster_size(self) -> int:
        return self.sectors_per_cluster * SECTOR

    def cluster_offset(self, cluster: int) -> int:
        return self.data_start + (cluster - 2) * self.cluster_size


def _fat_datetime(moment: datetime) -> tuple[int, int]:
    if not 1980 <= moment.year <= 2107:
        raise Fat32Error(f"FAT cannot store the year {moment.year}")
    date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return date, time


def _lfn_checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _short_name(name: str, used: set[bytes]) -> bytes:
    """A unique 8.3 entry name (the long name is always stored too, in LFN entries)."""
    base, dot, ext = name.rpartition(".")
    if not dot:
        base, ext = name, ""
    if (name == name.upper() and 0 < len(base) <= 8 and len(ext) <= 3
            and set(base + ext) <= _SHORT_ALLOWED):
        short = base.ljust(8).encode("ascii") + ext.ljust(3).encode("ascii")
        if short not in used:
            used.add(short)
            return short
    clean = "".join(c for c in base.upper() if c in _SHORT_ALLOWED) or "FILE"
    ext_clean = "".join(c for c in ext.upper() if c in _SHORT_ALLOWED)[:3]
    for number in range(1, 1_000_000):
        tail = f"~{number}"
        short = (clean[: 8 - len(tail)] + tail).ljust(8).encode("ascii") + \
            ext_clean.ljust(3).encode("ascii")
        if short not in used:
            used.add(short)
            return short
    raise Fat32Error(f"no free short name for {name!r}")


def _lfn_entries(name: str, checksum: int) -> list[bytearray]:
    units = name.encode("utf-16-le")
    chars = [units[i:i + 2] for i in range(0, len(units), 2)]
    if not chars or len(chars) > 255:
        raise Fat32Error(f"not a valid FAT long name: {name!r}")
    if len(chars) % 13:
        chars.append(b"\x00\x00")
        while len(chars) % 13:
            chars.append(b"\xff\xff")
    count = len(chars) // 13
    entries = []
    for seq in range(count, 0, -1):
        part = chars[(seq - 1) * 13: seq * 13]
        entry = bytearray(32)
        entry[0] = seq | (0x40 if seq == count else 0)
        entry[1:11] = b"".join(part[0:5])
        entry[11] = 0x0F
        entry[13] = checksum
        entry[14:26] = b"".join(part[5:11])
        entry[28:32] = b"".join(part[11:13])
        entries.append(entry)
    return entries


def _short_entry(short: bytes, attr: int, cluster: int, size: int, modified: datetime,
                 created: datetime, accessed: datetime) -> bytearray:
    entry = bytearray(32)
    entry[0:11] = short
    entry[11] = attr
    cdate, ctime = _fat_datetime(created)
    mdate, mtime = _fat_datetime(modified)
    adate, _ = _fat_datetime(accessed)
    entry[13] = (created.second % 2) * 100
    struct.pack_into("<HHHHHHHI", entry, 14, ctime, cdate, adate, cluster >> 16, mtime, mdate,
                     cluster & 0xFFFF, size)
    return entry


def _slots(name: str) -> int:
    """Directory slots of one name: its long-name entries and its short entry."""
    return 1 + -(-(len(name.encode("utf-16-le")) // 2) // 13)


def _tree(files: list[Fat32File], when: datetime) -> _Dir:
    root = _Dir("", "", when)
    folders: dict[str, _Dir] = {"": root}
    for f in files:
        parts = f.path.strip("/").split("/")
        parent = root
        for depth in range(len(parts) - 1):
            key = "/".join(parts[: depth + 1])
            folder = folders.get(key)
            if folder is None:
                folder = _Dir(parts[depth], key, f.modified)
                folders[key] = folder
                parent.children.append(folder)
            folder.modified = min(folder.modified, f.modified)
            parent = folder
        parent.children.append(f)
    return root


def geometry(size: int) -> tuple[int, int, int]:
    """(sectors per cluster, sectors per FAT, cluster count) for an image of ``size`` bytes."""
    total = size // SECTOR
    for spc in (8, 4, 2, 1):
        # Size the FAT for every cluster the area could hold: a few sectors spare, never
        # too few entries (fsck.fat checks that the FAT covers every cluster).
        fat = -(-(((total - RESERVED) // spc + 2) * 4) // SECTOR)
        clusters = (total - RESERVED - FATS * fat) // spc
        if clusters >= MIN_CLUSTERS + 16:
            return spc, fat, min(clusters, 0x0FFFFFF5)
    raise Fat32Error(f"{size} bytes is too small for FAT32 (at least 34 MiB)")


def build_fat32(path: Path, files: list[Fat32File], *, size: int, volume_id: int,
                label: str, formatted: datetime) -> Fat32Layout:
    """Write a FAT32 image of ``size`` bytes at ``path`` holding ``files``."""
    spc, fat_sectors, cluster_count = geometry(size)
    cluster_size = spc * SECTOR
    data_start = (RESERVED + FATS * fat_sectors) * SECTOR
    root = _tree(files, formatted)
    fat = bytearray(fat_sectors * SECTOR)
    struct.pack_into("<II", fat, 0, 0x0FFFFFF8, EOC)
    next_cluster = 2
    writes: list[tuple[int, bytes]] = []
    placed: dict[str, Placed] = {}
    in_use = 0  # clusters in a chain; a deleted file's clusters count as free

    # The volume label also lives as the first entry of the root directory.
    label_entry = bytearray(32)
    label_entry[0:11] = label.upper().encode("ascii", "replace")[:11].ljust(11)
    label_entry[11] = 0x08
    ldate, ltime = _fat_datetime(formatted)
    struct.pack_into("<HH", label_entry, 22, ltime, ldate)


    def allocate(byte_count: int, keep_chain: bool) -> int:
        nonlocal next_cluster, in_use
        count = max(1, -(-byte_count // cluster_size))
        first = next_cluster
        if first + count - 2 > cluster_count:
            raise Fat32Error(f"the files do not fit in a {size}-byte FAT32 image")
        if keep_chain:
            in_use += count
            for c in range(first, first + count):
                struct.pack_into("<I", fat, c * 4, c + 1 if c < first + count - 1 else EOC)
        next_cluster += count
        return first

    def layout(folder: _Dir, parent_cluster: int) -> None:
        slots = (1 if folder is root else 2) + sum(
            _slots(c.name if isinstance(c, _Dir) else c.path.rsplit("/", 1)[-1])
            for c in folder.children)
        folder.cluster = allocate(max(1, slots) * 32, True)
        table = bytearray(-(-max(1, slots) * 32 // cluster_size) * cluster_size)
        pos = 0
        used: set[bytes] = set()
        if folder is root:
            table[0:32] = label_entry
            pos = 32
        else:
            for short, target in ((b".          ", folder.cluster),
                                  (b"..         ", parent_cluster)):
                table[pos:pos + 32] = _short_entry(short, 0x10, target, 0, folder.modified,
                                                   folder.modified, folder.modified)
                pos += 32
        base = folder.cluster
        subfolders: list[_Dir] = []
        entry_at: list[tuple[_Dir | Fat32File, int, int]] = []  # child, first slot, short slot
        for child in folder.children:
            name = child.name if isinstance(child, _Dir) else child.path.rsplit("/", 1)[-1]
            short = _short_name(name, used)
            first_slot = pos
            for lfn in _lfn_entries(name, _lfn_checksum(short)):
                table[pos:pos + 32] = lfn
                pos += 32
            entry_at.append((child, first_slot, pos))
            table[pos:pos + 11] = short
            pos += 32
        for child, first_slot, short_slot in entry_at:
            if isinstance(child, _Dir):
                subfolders.append(child)
                continue
            cluster = allocate(len(child.data), not child.deleted) if child.data else 0
            entry = _short_entry(bytes(table[short_slot:short_slot + 11]), 0x20, cluster,
                                 len(child.data), child.modified, child.created,
                                 child.accessed)
            if child.deleted:
                entry[0] = 0xE5
                for slot in range(first_slot, short_slot, 32):
                    table[slot] = 0xE5
            table[short_slot:short_slot + 32] = entry
            offset = data_start + (cluster - 2) * cluster_size
            if child.data:
                writes.append((offset, child.data))
            placed[child.path] = Placed(child.path, cluster, offset if cluster else 0,
                                        data_start + (base - 2) * cluster_size + short_slot,
                                        len(child.data))
        directory_offset = data_start + (folder.cluster - 2) * cluster_size
        for child, _first_slot, short_slot in entry_at:
            if not isinstance(child, _Dir):
                continue
            layout(child, 0 if folder is root else folder.cluster)
            table[short_slot:short_slot + 32] = _short_entry(
                bytes(table[short_slot:short_slot + 11]), 0x10, child.cluster, 0,
                child.modified, child.modified, child.modified)
        writes.append((directory_offset, bytes(table)))

    layout(root, 0)
    free = cluster_count - in_use

    boot = bytearray(SECTOR)
    boot[0:3] = b"\xeb\x58\x90"
    boot[3:11] = b"MSWIN4.1"
    struct.pack_into("<HBHBHHBHHHII", boot, 11, SECTOR, spc, RESERVED, FATS, 0, 0, 0xF8, 0,
                     32, 64, 0, size // SECTOR)
    struct.pack_into("<IHHIHH", boot, 36, fat_sectors, 0, 0, 2, 1, 6)
    boot[64] = 0x80
    boot[66] = 0x29
    struct.pack_into("<I", boot, 67, volume_id & 0xFFFFFFFF)
    boot[71:82] = label.upper().encode("ascii", "replace")[:11].ljust(11)
    boot[82:90] = b"FAT32   "
    boot[510:512] = b"\x55\xaa"
    fsinfo = bytearray(SECTOR)
    struct.pack_into("<I", fsinfo, 0, 0x41615252)
    struct.pack_into("<III", fsinfo, 484, 0x61417272, free, next_cluster)
    struct.pack_into("<I", fsinfo, 508, 0xAA550000)
    with open(path, "wb") as handle:
        handle.truncate(size)
        fd = handle.fileno()
        for sector, block in ((0, boot), (1, fsinfo), (6, boot), (7, fsinfo)):
            os.pwrite(fd, bytes(block), sector * SECTOR)
        for copy in range(FATS):
            os.pwrite(fd, bytes(fat), (RESERVED + copy * fat_sectors) * SECTOR)
        for offset, data in writes:
            os.pwrite(fd, data, offset)
    return Fat32Layout(size, spc, fat_sectors, data_start, cluster_count, next_cluster, placed)
