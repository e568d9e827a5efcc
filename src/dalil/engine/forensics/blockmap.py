"""Which file holds a byte of a disk image: the data runs of every file, as intervals.

A feature scan reports offsets in the image's (logical) media; an examiner wants to know
the file each hit is in. :func:`map_image` walks every file system of the image and reads
each file's data attributes' runs (``for attr in f: for run in attr``: ``run.addr`` and
``run.len`` in blocks, ``run.offset`` in blocks from the start of the file), turning each
into an :class:`Extent` of media offsets. Where runs overlap (a deleted file whose blocks a
live file reuses, hard links), the live file wins, then the deleted one; the result is a
sorted list of intervals that do not overlap, so that an offset is answered with one
binary search (:class:`BlockMap`, :meth:`BlockMap.locate_many` for offsets in bulk).

The file systems of the linear logical volumes of an LVM2 physical volume are walked too:
their runs are in bytes of the LV, which each segment of the LV (a run of the PV's extents,
see :mod:`dalil.engine.forensics.lvmtext`) places somewhere in the PV, so an extent is
translated segment by segment and split where it crosses from one segment to the next
(``logical_volume`` names the LV). Bytes of the PV that no segment of an LV covers (free
extents, another LV's) are never placed in that LV. Every volume of an APFS container is
mapped (its extents are the image's offsets already), ``logical_volume`` naming it as the
ingest does (:func:`dalil.engine.forensics.apfs.unit_names`).

The bytes between a file's end and the end of its last block (slack) are mapped to the
file with ``slack`` set. An offset no interval holds is in unallocated space, file-system
metadata, or a volume or logical volume whose file system cannot be read (those are listed
in ``problems``). Resident NTFS data (inside the MFT record), encrypted volumes and LVs of
other segment types (thin, RAID, several stripes) are not mapped.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import pytsk3

from dalil.engine.forensics.filesystem import (
    FileSystem,
    FileSystemError,
    open_file_system,
    open_volume_file_system,
)
from dalil.engine.forensics.image import Image, ImageError, TskImage
from dalil.engine.forensics.logical import LogicalVolumeError, is_lvm, linear_logical_volumes
from dalil.engine.forensics.lvmtext import Segment
from dalil.engine.forensics.volume import Volume, file_system_volumes
from dalil.engine.forensics.walk import walk_files

_DATA_TYPES = {int(pytsk3.TSK_FS_ATTR_TYPE_DEFAULT), int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA),
               int(pytsk3.TSK_FS_ATTR_TYPE_HFS_DATA), int(pytsk3.TSK_FS_ATTR_TYPE_APFS_DATA)}
_NONRES = int(pytsk3.TSK_FS_ATTR_NONRES)
_NO_BYTES = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)


@dataclass(frozen=True)
class Extent:
    """Bytes ``[start, end)`` of the media belong to a file, from ``file_offset`` on."""

    start: int
    end: int
    volume_index: int
    fs_type: str
    inode: int
    address: str  # as fls prints it: 13 or, on NTFS, 4-128-4
    path: str  # fls -p form, no leading slash
    file_offset: int
    deleted: bool = False
    slack: bool = False  # past the file's size, in its last block
    logical_volume: str = ""  # the LVM LV or APFS volume; "" for a file system right in it

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "volume_index": self.volume_index,
                "logical_volume": self.logical_volume, "fs_type": self.fs_type,
                "inode": self.inode, "address": self.address, "path": self.path,
                "file_offset": self.file_offset, "deleted": self.deleted,
                "slack": self.slack}


@dataclass
class BlockMap:
    """Non-overlapping extents sorted by start, looked up by binary search."""

    extents: list[Extent]
    volumes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._starts = [e.start for e in self.extents]

    def locate(self, offset: int) -> tuple[Extent, int] | None:
        """The extent holding ``offset`` and the offset within its file, or ``None``."""
        at = bisect_right(self._starts, offset) - 1
        if at < 0:
            return None
        extent = self.extents[at]
        if offset >= extent.end:
            return None
        return extent, extent.file_offset + offset - extent.start

    def locate_many(self, offsets: Iterable[int]) -> dict[int, tuple[Extent, int] | None]:
        """:meth:`locate` for many offsets: sorted, then answered in one pass."""
        found: dict[int, tuple[Extent, int] | None] = {}
        at = 0
        n = len(self.extents)
        for offset in sorted(set(offsets)):
            while at < n and self.extents[at].end <= offset:
                at += 1
            if at < n and self.extents[at].start <= offset:
                extent = self.extents[at]
                found[offset] = (extent, extent.file_offset + offset - extent.start)
            else:
                found[offset] = None
        return found


def file_extents(fs: FileSystem, problems: list[str] | None = None) -> Iterator[Extent]:
    """The data runs of every file and directory of ``fs``, as media offsets (unsorted,
    possibly overlapping)."""
    if fs.kind == "xfs":
        # Imported here: the xfs module builds on this one (Extent).
        from dalil.engine.forensics.xfs import file_extents as xfs_extents

        yield from xfs_extents(fs, problems)
        return
    if fs.kind == "apfs":
        # Imported here: the apfs module builds on this one (Extent).
        from dalil.engine.forensics.apfs import file_extents as apfs_extents

        yield from apfs_extents(fs, problems)
        return
    block = fs.block_size
    base = fs.offset
    on_problem = (lambda p: problems.append(p.message)) if problems is not None else None
    for entry, tsk_file in walk_files(fs, on_problem=on_problem):
        if tsk_file is None or entry.meta_allocated is None:
            continue
        try:
            attributes = list(tsk_file)
        except (OSError, RuntimeError):
            continue
        for attr in attributes:
            info = attr.info
            if int(info.type) not in _DATA_TYPES or not int(info.flags) & _NONRES:
                continue
            if entry.attr_type is not None and (int(info.type) != entry.attr_type or
                                                 int(info.id) != entry.attr_id):
                continue
            size = max(0, int(info.size))
            try:
                runs = [(int(r.addr), int(r.len), int(r.offset), int(r.flags)) for r in attr]
            except (OSError, RuntimeError):
                continue
            for addr, length, offset, flags in runs:
                if flags & _NO_BYTES or length <= 0:
                    continue
                start = base + addr * block
                file_offset = offset * block
                end = start + length * block
                inside = max(0, min(end, start + size - file_offset))
                whose = Extent(start, end, fs.volume.index, fs.kind, entry.inode,
                               entry.address, entry.path, file_offset, entry.deleted)
                if inside > start:
                    yield replace(whose, end=inside)
                if end > max(start, inside):
                    slack_start = max(start, inside)
                    yield replace(whose, start=slack_start, slack=True,
                                  file_offset=file_offset + slack_start - start)


def _rank(extent: Extent) -> tuple[bool, bool, int, str]:
    return (extent.deleted, extent.slack, extent.inode, extent.path)


def flatten(extents: Iterable[Extent]) -> list[Extent]:
    """Sorted, non-overlapping extents: where several cover a byte, the best ranked one
    (live before deleted, content before slack) holds it."""
    items = sorted(extents, key=lambda e: e.start)
    if not items:
        return []
    points = sorted({e.start for e in items} | {e.end for e in items})
    heap: list[tuple[tuple[bool, bool, int, str], int]] = []
    result: list[Extent] = []
    at = 0
    for here, following in pairwise(points):
        while at < len(items) and items[at].start <= here:
            heapq.heappush(heap, (_rank(items[at]), at))
            at += 1
        while heap and items[heap[0][1]].end <= here:
            heapq.heappop(heap)
        if not heap:
            continue
        best = items[heap[0][1]]
        piece = replace(best, start=here, end=following,
                        file_offset=best.file_offset + here - best.start)
        last = result[-1] if result else None
        if last is not None and last.end == here and \
                replace(last, start=0, end=0, file_offset=0) == \
                replace(piece, start=0, end=0, file_offset=0) and \
                last.file_offset + last.end - last.start == piece.file_offset:
            result[-1] = replace(last, end=following)
        else:
            result.append(piece)
    return result


def in_media(extents: Iterable[Extent], segments: Sequence[Segment], pv_offset: int,
             volume_index: int, logical_volume: str) -> Iterator[Extent]:
    """``extents`` of a file system inside a linear logical volume (offsets in the LV) as
    media offsets: each piece that a segment holds moves to where that segment lies in the
    physical volume at ``pv_offset``; a piece no segment holds has no place and is left
    out."""
    ordered = sorted(segments, key=lambda s: s.start)
    starts = [s.start for s in ordered]
    for extent in extents:
        at = max(0, bisect_right(starts, extent.start) - 1)
        while at < len(ordered) and ordered[at].start < extent.end:
            segment = ordered[at]
            low = max(extent.start, segment.start)
            high = min(extent.end, segment.start + segment.length)
            if low < high:
                start = pv_offset + segment.pv_offset + low - segment.start
                yield replace(extent, start=start, end=start + high - low,
                              file_offset=extent.file_offset + low - extent.start,
                              volume_index=volume_index, logical_volume=logical_volume)
            at += 1


def _lv_problem(image: Image, volume: Volume, name: str, detail: str) -> str:
    """A logical volume's problem: the image, the PV's volume and offset, the LV, then what
    went wrong (without the places the engine's message repeats)."""
    where = image.where()
    for said in (f"{where}, LVM logical volume {name} in volume at offset {volume.offset}, "
                 "whole media (offset 0): ",
                 f"{where}: LVM physical volume at offset {volume.offset}, logical volume "
                 f"{name}: ",
                 f"{where}: LVM physical volume at offset {volume.offset}: "):
        detail = detail.removeprefix(said)
    return (f"{where}, volume {volume.index} at offset {volume.offset}, LVM logical volume "
            f"{name}: {detail}")


def _map_lvm(image: Image, volume: Volume, extents: list[Extent],
             volumes: list[dict[str, Any]], problems: list[str]) -> None:
    """Map the file system of each linear logical volume of the PV ``volume``; an LV that
    cannot be read is a problem and the next one is mapped."""
    size = volume.size or image.size - volume.offset
    try:
        logical_volumes = linear_logical_volumes(image, volume.offset, size)
    except LogicalVolumeError as exc:
        problems.append(str(exc))
        return
    for logical in logical_volumes:
        if logical.problem:
            problems.append(_lv_problem(image, volume, logical.name, logical.problem))
            continue
        try:
            fs = open_volume_file_system(image, volume, logical.name)
        except FileSystemError as exc:
            problems.append(_lv_problem(image, volume, logical.name, str(exc)))
            continue
        _add(extents, volumes, volume, logical.name, fs.kind,
             in_media(file_extents(fs, problems), logical.segments, volume.offset,
                      volume.index, logical.name))


def _add(extents: list[Extent], volumes: list[dict[str, Any]], volume: Volume, unit: str,
         fs_type: str, found: Iterable[Extent]) -> None:
    """Keep a mapped file system's extents and describe it in ``volumes``."""
    before = len(extents)
    extents.extend(found)
    volumes.append({"index": volume.index, "offset": volume.offset, "logical_volume": unit,
                    "fs_type": fs_type, "extents": len(extents) - before})


def _holds(image: Image, volume: Volume, probe: Callable[[Image, int], bool]) -> bool:
    """Whether ``probe`` (is_lvm, is_apfs) finds its magic at the volume's start."""
    try:
        return volume.offset < image.size and probe(image, volume.offset)
    except ImageError:
        return False  # opening its file system says what cannot be read


def _map_apfs(image: Image, volume: Volume, extents: list[Extent],
              volumes: list[dict[str, Any]], problems: list[str]) -> None:
    """Map every APFS volume of the container in ``volume``, each under the name the ingest
    stores its files by (its extents are already the image's offsets); a volume that
    cannot be read (encrypted, damaged) is a problem and the next one is mapped."""
    # Imported here: the apfs module builds on this one (Extent).
    from dalil.engine.forensics.apfs import container_info, unit_names

    try:
        names = unit_names(container_info(image, volume).volumes)
    except FileSystemError as exc:
        problems.append(str(exc))
        return
    for name in names:
        try:
            fs = open_volume_file_system(image, volume, name)
        except FileSystemError as exc:
            problems.append(str(exc))
            continue
        _add(extents, volumes, volume, name, fs.kind,
             (replace(extent, logical_volume=name) for extent in file_extents(fs, problems)))


def map_image(image: Image) -> BlockMap:
    """The block map of every readable file system of ``image`` (partitioned or bare), those
    in the linear logical volumes of an LVM2 physical volume and every volume of an APFS
    container included."""
    tsk_image = TskImage(image)
    problems: list[str] = []
    volumes: list[dict[str, Any]] = []
    extents: list[Extent] = []
    # Imported here: the apfs module builds on this one (Extent).
    from dalil.engine.forensics.apfs import is_apfs

    for volume in file_system_volumes(image, tsk_image):
        if _holds(image, volume, is_lvm):
            _map_lvm(image, volume, extents, volumes, problems)
            continue
        if _holds(image, volume, is_apfs):
            _map_apfs(image, volume, extents, volumes, problems)
            continue
        try:
            fs = open_file_system(image, volume, tsk_image)
        except FileSystemError as exc:
            problems.append(str(exc))
            continue
        if fs.image is not image:
            continue  # inside a decrypted layer: its offsets are not the media's
        _add(extents, volumes, volume, "", fs.kind, file_extents(fs, problems))
    return BlockMap(flatten(extents), volumes, problems)
