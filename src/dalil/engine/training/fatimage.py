"""A small, byte-for-byte reproducible FAT12 image: the "USB stick" of a training scene.

Written in pure Python rather than with ``mkfs.vfat`` + ``mcopy`` so that one seed gives
the same bytes on every machine whatever the version of dosfstools or mtools (their
layout defaults and time stamps differ between releases). The layout is the classic one
that every FAT driver, ``fsck.fat``, mtools and The Sleuth Kit read: one reserved sector,
two FATs, a fixed root directory of 8.3 entries, files stored in contiguous clusters, and
free clusters filled with the seed's random bytes (a used stick is never blank).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from datetime import datetime

SECTOR = 512
SECTORS_PER_CLUSTER = 4
RESERVED = 1
FATS = 2
ROOT_ENTRIES = 224
MEDIA = 0xF8


class FatImageError(ValueError):
    """The files do not fit, or a name is not a valid 8.3 name."""


@dataclass(frozen=True)
class FatFile:
    """One file of the root directory: an 8.3 name (``NOTES.TXT``), bytes and local time."""

    name: str
    data: bytes
    modified: datetime  # naive local time, as FAT stores it


def _short_name(name: str) -> bytes:
    base, _, ext = name.upper().partition(".")
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-~!#$%&'()@^{}")
    if not base or len(base) > 8 or len(ext) > 3 or not set(base + ext) <= allowed:
        raise FatImageError(f"{name!r} is not an 8.3 file name")
    return base.ljust(8).encode("ascii") + ext.ljust(3).encode("ascii")


def _fat_time(moment: datetime) -> tuple[int, int]:
    if not 1980 <= moment.year <= 2107:
        raise FatImageError(f"FAT cannot store the year {moment.year}")
    date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return date, time


def _set_fat12(fat: bytearray, cluster: int, value: int) -> None:
    offset = cluster * 3 // 2
    if cluster % 2 == 0:
        fat[offset] = value & 0xFF
        fat[offset + 1] = (fat[offset + 1] & 0xF0) | ((value >> 8) & 0x0F)
    else:
        fat[offset] = (fat[offset] & 0x0F) | ((value & 0x0F) << 4)
        fat[offset + 1] = (value >> 4) & 0xFF


def build_fat12(
    files: list[FatFile],
    *,
    rng: random.Random,
    label: str = "EVIDENCE",
    size_kib: int = 2048,
) -> bytes:
    """The bytes of a FAT12 volume holding ``files`` in its root directory.

    The volume serial number and the free-space filler come from ``rng``; nothing reads
    the clock.
    """
    total = size_kib * 1024 // SECTOR
    if not 256 <= total <= 8192:
        raise FatImageError("a training FAT12 image is between 128 KiB and 4 MiB")
    if len(files) > ROOT_ENTRIES - 1:
        raise FatImageError(f"at most {ROOT_ENTRIES - 1} files fit in the root directory")
    root_sectors = ROOT_ENTRIES * 32 // SECTOR
    clusters_guess = total // SECTORS_PER_CLUSTER
    fat_sectors = -(-((clusters_guess + 2) * 3 // 2 + 1) // SECTOR)
    data_start = RESERVED + FATS * fat_sectors + root_sectors
    clusters = (total - data_start) // SECTORS_PER_CLUSTER
    cluster_bytes = SECTOR * SECTORS_PER_CLUSTER
    serial = rng.getrandbits(32)

    image = bytearray(total * SECTOR)
    volume_label = label.upper().ljust(11)[:11].encode("ascii")
    boot = struct.pack(
        "<3s8sHBHBHHBHHHII",
        b"\xeb\x3c\x90", b"DALIL1.0", SECTOR, SECTORS_PER_CLUSTER, RESERVED, FATS,
        ROOT_ENTRIES, total, MEDIA, fat_sectors, 32, 64, 0, 0,
    ) + struct.pack("<BBBI11s8s", 0x80, 0, 0x29, serial, volume_label, b"FAT12   ")
    image[: len(boot)] = boot
    image[len(boot): len(boot) + 2] = b"\xf4\xeb"  # hlt; jmp $-2: not bootable
    image[510:512] = b"\x55\xaa"

    fat = bytearray(fat_sectors * SECTOR)
    _set_fat12(fat, 0, 0xF00 | MEDIA)
    _set_fat12(fat, 1, 0xFFF)
    root = bytearray(root_sectors * SECTOR)
    root[0:11] = volume_label
    root[11] = 0x08
    used = [False] * clusters
    next_cluster = 2
    for index, item in enumerate(files, start=1):
        count = -(-len(item.data) // cluster_bytes)
        if next_cluster - 2 + count > clusters:
            raise FatImageError(f"{item.name} does not fit on a {size_kib} KiB volume")
        first = next_cluster if count else 0
        for n in range(count):
            cluster = next_cluster + n
            _set_fat12(fat, cluster, cluster + 1 if n < count - 1 else 0xFFF)
            used[cluster - 2] = True
            start = (data_start + (cluster - 2) * SECTORS_PER_CLUSTER) * SECTOR
            chunk = item.data[n * cluster_bytes:(n + 1) * cluster_bytes]
            image[start:start + len(chunk)] = chunk
        next_cluster += count
        date, time = _fat_time(item.modified)
        entry = _short_name(item.name) + struct.pack(
            "<BBBHHHHHHHI", 0x20, 0, 0, time, date, date, 0, time, date, first, len(item.data))
        root[index * 32:(index + 1) * 32] = entry
    for cluster in range(clusters):
        if not used[cluster]:
            start = (data_start + cluster * SECTORS_PER_CLUSTER) * SECTOR
            image[start:start + cluster_bytes] = rng.randbytes(cluster_bytes)
    for copy in range(FATS):
        start = (RESERVED + copy * fat_sectors) * SECTOR
        image[start:start + len(fat)] = fat
    start = (RESERVED + FATS * fat_sectors) * SECTOR
    image[start:start + len(root)] = root
    return bytes(image)
