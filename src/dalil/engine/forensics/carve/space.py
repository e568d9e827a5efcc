"""The space to carve: the whole media, one volume, or unallocated space only.

Whatever the choice, carving sees one flat *virtual* space: the concatenation of the
chosen extents of the image (``blkls`` style), so that a deleted file whose clusters sit
on either side of an allocated file is still carved in one piece. Every virtual offset
maps back to an offset in the image, which is what the carved files record.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from dalil.engine.forensics.filesystem import (
    FileSystem,
    FileSystemError,
    open_file_system,
    select_file_system,
    select_volume,
)
from dalil.engine.forensics.image import Image, ImageError, TskImage
from dalil.engine.forensics.logical import (
    LogicalVolumeError,
    choose_logical_volume,
    open_logical_volume,
)
from dalil.engine.forensics.volume import Volume, list_volumes


class SpaceError(Exception):
    """The space to carve cannot be determined; the message names image, volume, offset."""


@dataclass(frozen=True)
class Extent:
    offset: int  # bytes from the start of the media
    length: int


@dataclass
class Space:
    """A list of image extents read as one flat space."""

    image: Image
    extents: list[Extent]
    mode: str  # whole, volume, unallocated, logical
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._starts: list[int] = []
        total = 0
        for extent in self.extents:
            self._starts.append(total)
            total += extent.length
        self.size = total

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at virtual ``offset`` (short only at the end)."""
        if offset < 0 or size <= 0 or offset >= self.size:
            return b""
        size = min(size, self.size - offset)
        index = bisect.bisect_right(self._starts, offset) - 1
        parts: list[bytes] = []
        while size > 0 and index < len(self.extents):
            extent = self.extents[index]
            inner = offset - self._starts[index]
            take = min(size, extent.length - inner)
            data = self.image.read(extent.offset + inner, take)
            parts.append(data)
            if len(data) < take:  # a truncated image: stop there
                break
            offset += take
            size -= take
            index += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def to_image(self, offset: int, length: int) -> list[Extent]:
        """The image extents that hold virtual ``[offset, offset + length)``."""
        pieces: list[Extent] = []
        index = bisect.bisect_right(self._starts, offset) - 1
        while length > 0 and 0 <= index < len(self.extents):
            extent = self.extents[index]
            inner = offset - self._starts[index]
            take = min(length, extent.length - inner)
            pieces.append(Extent(extent.offset + inner, take))
            offset += take
            length -= take
            index += 1
        return pieces

    def to_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"mode": self.mode, "bytes": self.size,
                                    "extents": len(self.extents), "notes": list(self.notes)}
        if self.image.layer:
            found["layer"] = self.image.layer
        return found


def _merge(extents: list[Extent]) -> list[Extent]:
    merged: list[Extent] = []
    for extent in sorted((e for e in extents if e.length > 0), key=lambda e: e.offset):
        if merged and merged[-1].offset + merged[-1].length >= extent.offset:
            last = merged[-1]
            end = max(last.offset + last.length, extent.offset + extent.length)
            merged[-1] = Extent(last.offset, end - last.offset)
        else:
            merged.append(extent)
    return merged


def _runs(free: np.ndarray) -> list[tuple[int, int]]:
    """``(first, count)`` of every run of True in a boolean array."""
    if not free.size:
        return []
    padded = np.concatenate(([False], free, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b - a)) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def _fat_free(fs: FileSystem) -> list[Extent]:
    base = fs.offset
    boot = fs.image.read(base, 512)
    if len(boot) < 512:
        raise SpaceError(f"{fs.where()}: truncated FAT boot sector")
    bps = int.from_bytes(boot[11:13], "little")
    spc = boot[13]
    reserved = int.from_bytes(boot[14:16], "little")
    fats = boot[16]
    root_entries = int.from_bytes(boot[17:19], "little")
    total = int.from_bytes(boot[19:21], "little") or int.from_bytes(boot[32:36], "little")
    fat_sectors = int.from_bytes(boot[22:24], "little") or int.from_bytes(boot[36:40], "little")
    if not bps or not spc or not fats or not fat_sectors:
        raise SpaceError(f"{fs.where()}: FAT boot sector with zero geometry fields")
    root_sectors = (root_entries * 32 + bps - 1) // bps
    first_data = reserved + fats * fat_sectors + root_sectors
    clusters = max(0, (total - first_data) // spc)
    table = fs.image.read(base + reserved * bps, fat_sectors * bps)
    if fs.kind == "fat12":
        raw = np.frombuffer(table[: (clusters + 2) * 3 // 2 + 2], dtype=np.uint8).astype(np.uint16)
        index = np.arange(2, clusters + 2)
        lo = (index * 3) // 2
        pair = raw[lo] | (raw[np.minimum(lo + 1, raw.size - 1)] << 8)
        entries = np.where(index % 2 == 0, pair & 0x0FFF, pair >> 4)
    elif fs.kind == "fat16":
        entries = np.frombuffer(table[: (clusters + 2) * 2], dtype="<u2")[2:]
    else:
        entries = np.frombuffer(table[: (clusters + 2) * 4], dtype="<u4")[2:] & 0x0FFFFFFF
    free = entries[:clusters] == 0
    cluster_bytes = spc * bps
    data_start = base + first_data * bps
    return [Extent(data_start + first * cluster_bytes, count * cluster_bytes)
            for first, count in _runs(free)]


def _ntfs_free(fs: FileSystem) -> list[Extent]:
    try:
        handle = fs.tsk.open("/$Bitmap")
        size = int(handle.info.meta.size)
        bitmap = handle.read_random(0, size) if size else b""
    except OSError as exc:
        raise SpaceError(f"{fs.where()}: cannot read $Bitmap: {exc}") from exc
    clusters = int(fs.tsk.info.block_count)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")[:clusters]
    free = bits == 0
    cs = fs.block_size
    return [Extent(fs.offset + first * cs, count * cs) for first, count in _runs(free)]


def free_extents(fs: FileSystem) -> list[Extent]:
    """The unallocated clusters (blocks) of a file system, from its own allocation table or
    bitmaps, as image extents (bytes from the start of the media)."""
    # Imported here: those modules build on this one's Extent and SpaceError.
    from dalil.engine.forensics.carve.space_exfat import exfat_free_extents
    from dalil.engine.forensics.carve.space_ext import ext_free_extents

    if fs.kind in ("fat12", "fat16", "fat32"):
        return _fat_free(fs)
    if fs.kind == "ntfs":
        return _ntfs_free(fs)
    if fs.kind in ("ext2", "ext3", "ext4"):
        return ext_free_extents(fs)
    if fs.kind == "exfat":
        return exfat_free_extents(fs)
    raise SpaceError(f"{fs.where()}: unallocated-space carving supports FAT, NTFS, ext2/3/4 "
                     f"and exFAT, not {fs.kind}; carve the whole volume instead (without "
                     "--unallocated)")


def _unallocated_slot(volume: Volume) -> bool:
    return not volume.allocated and volume.description.lower().startswith("unalloc")


def whole_space(image: Image) -> Space:
    return Space(image, [Extent(0, image.size)], "whole")


def volume_space(image: Image, index: int) -> Space:
    try:
        volume = select_volume(image, index)
    except FileSystemError as exc:
        raise SpaceError(str(exc)) from exc
    end = min(volume.offset + volume.size, image.size)
    return Space(image, [Extent(volume.offset, max(0, end - volume.offset))], "volume")


def unallocated_space(image: Image, index: int | None = None) -> Space:
    """Unallocated clusters of one volume's file system, or of every volume plus the
    partition table's unallocated slots when ``index`` is None."""
    tsk = TskImage(image)
    notes: list[str] = []
    extents: list[Extent] = []
    try:
        if index is not None:
            volume = select_volume(image, index, tsk)
            extents = free_extents(open_file_system(image, volume, tsk))
            return Space(image, _merge(extents), "unallocated", notes)
        for volume in list_volumes(image, tsk):
            if volume.allocated:
                try:
                    fs = open_file_system(image, volume, tsk)
                except FileSystemError as exc:
                    notes.append(f"{exc}: the whole volume is carved")
                    extents.append(Extent(volume.offset, volume.size))
                    continue
                extents.extend(free_extents(fs))
            elif _unallocated_slot(volume):
                extents.append(Extent(volume.offset, volume.size))
    except (FileSystemError, OSError) as exc:
        raise SpaceError(str(exc)) from exc
    clipped = [Extent(e.offset, min(e.length, image.size - e.offset))
               for e in extents if e.offset < image.size]
    return Space(image, _merge(clipped), "unallocated", notes)


def logical_space(image: Image, index: int | None, logical: int | str,
                  unallocated: bool = False) -> Space:
    """An LVM logical volume (or VSS snapshot) of volume ``index``, whole or only its file
    system's unallocated clusters. Offsets in this space, and so the carved files'
    offsets, are bytes from the start of the logical volume (a note says so): its
    extents need not be contiguous in the image."""
    try:
        if unallocated:
            fs = select_file_system(image, index, logical)
            inner, extents = fs.image, _merge(free_extents(fs))
        else:
            volume = select_volume(image, index)
            size = volume.size or image.size - volume.offset
            chosen = choose_logical_volume(image, volume.offset, size, logical)
            inner = open_logical_volume(image, volume.offset, size, chosen.index)
            extents = [Extent(0, inner.size)]
    except (FileSystemError, LogicalVolumeError, ImageError) as exc:
        raise SpaceError(str(exc)) from exc
    note = f"offsets are bytes from the start of the {inner.layer}, not of the image"
    return Space(inner, extents, "unallocated" if unallocated else "logical", [note])
