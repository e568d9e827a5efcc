"""XFS file systems, read through libyal's libfsxfs (``pyfsxfs``): The Sleuth Kit has none.

:func:`~dalil.engine.forensics.filesystem.open_file_system` comes here when TSK cannot
open a volume that starts with the XFS superblock magic ``XFSB``. The returned
:class:`~dalil.engine.forensics.filesystem.FileSystem` has ``kind == "xfs"`` and, in
place of the TSK handle, an :class:`XfsVolume` that offers the two calls the content
readers use (``open_meta(inode=...)`` and the file's ``read_random(offset, size)``), so
that :func:`~dalil.engine.forensics.extract.read_content` and the hashing stream read XFS
files unchanged; the walk and the block map dispatch here on ``fs.kind``. What the
XFS and APFS readers share (walk, entries, error messages) is in
:mod:`~dalil.engine.forensics.libyal`.

Limits: libfsxfs reads the live directory tree only. It does not recover deleted entries
(a removed XFS name stays in a directory block's free space until reused, but libfsxfs
does not look there), so every entry is allocated (``deleted=False``) and a listing of
deleted files is empty on XFS. Times are kept to the microsecond (``datetime``), as on
the TSK path, from XFS's nanosecond timestamps; ``epoch_times`` are whole seconds.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dalil.engine.forensics import libyal
from dalil.engine.forensics.blockmap import Extent
from dalil.engine.forensics.filesystem import FileSystem, FileSystemError, describe
from dalil.engine.forensics.image import Image, ImageError
from dalil.engine.forensics.libyal import SPARSE, LibyalVolume, Source, SourceReader
from dalil.engine.forensics.volume import Volume

XFS_MAGIC = b"XFSB"


def is_xfs(image: Image, offset: int) -> bool:
    """The volume at ``offset`` starts with the XFS superblock magic."""
    return image.read(offset, 4) == XFS_MAGIC


@dataclass(frozen=True)
class Superblock:
    """The geometry fields of the primary superblock that Dalil reports and checks."""

    block_size: int  # bytes
    blocks: int  # data blocks of the file system
    ag_blocks: int  # blocks per allocation group
    ag_count: int
    root_inode: int
    inode_size: int  # bytes
    ag_block_log: int
    inodes_per_block_log: int
    label: str
    version: int  # 4 or 5 (v5: metadata checksums)

    @property
    def size(self) -> int:
        """Bytes the file system spans."""
        return self.blocks * self.block_size

    @property
    def last_inode(self) -> int:
        """The highest inode number the geometry allows (XFS numbers are sparse: the
        allocation group, then the block in it, then the inode in the block)."""
        shift = self.ag_block_log + self.inodes_per_block_log
        return ((self.ag_count - 1) << shift) | ((self.ag_blocks << self.inodes_per_block_log)
                                                 - 1)


def _power_of_two(value: int, low: int, high: int) -> bool:
    return low <= value <= high and value & (value - 1) == 0


def read_superblock(image: Image, volume: Volume) -> Superblock:
    """Parse and check the primary superblock; :class:`FileSystemError` names the place.

    Parsed by hand (big-endian fields at fixed offsets, from the XFS on-disk format)
    because pyfsxfs exposes no geometry, and a bad value is better named here than as a
    libfsxfs error chain.
    """
    where = f"{describe(image, volume)}: XFS superblock at offset {volume.offset}"
    raw = image.read(volume.offset, 512)
    if len(raw) < 512:
        raise FileSystemError(f"{where}: only {len(raw)} of its 512 bytes are in the image "
                              f"({image.size} bytes): truncated image?")
    block_size, blocks = struct.unpack_from(">IQ", raw, 4)
    root_inode, = struct.unpack_from(">Q", raw, 56)
    ag_blocks, ag_count = struct.unpack_from(">II", raw, 84)
    version, sector_size, inode_size, inodes_per_block = struct.unpack_from(">HHHH", raw, 100)
    label = raw[108:120].split(b"\0", 1)[0].decode("utf-8", "replace")
    block_log, _, inode_log, per_block_log, ag_block_log = raw[120:125]
    problems = []
    if not _power_of_two(block_size, 512, 65536) or 1 << block_log != block_size:
        problems.append(f"block size {block_size} (log {block_log}) is not a power of two "
                        "from 512 to 65536")
    if not _power_of_two(sector_size, 512, 32768):
        problems.append(f"sector size {sector_size} is not a power of two from 512 to 32768")
    if not _power_of_two(inode_size, 256, 2048) or 1 << inode_log != inode_size:
        problems.append(f"inode size {inode_size} is not a power of two from 256 to 2048")
    elif not problems and (inodes_per_block != block_size // inode_size
                           or 1 << per_block_log != inodes_per_block):
        problems.append(f"{inodes_per_block} inodes per block do not fit block size "
                        f"{block_size} and inode size {inode_size}")
    if not ag_count or not ag_blocks or ag_blocks > 1 << ag_block_log:
        problems.append(f"{ag_count} allocation groups of {ag_blocks} blocks "
                        f"(log {ag_block_log}) is no valid layout")
    elif not blocks or blocks > ag_count * ag_blocks:
        problems.append(f"{blocks} blocks do not fit {ag_count} allocation groups of "
                        f"{ag_blocks} blocks")
    if version & 0xF not in (4, 5):
        problems.append(f"version {version & 0xF} (only 4 and 5 exist)")
    if problems:
        raise FileSystemError(f"{where}: corrupt: {'; '.join(problems)}")
    block = Superblock(block_size, blocks, ag_blocks, ag_count, root_inode, inode_size,
                       ag_block_log, per_block_log, label, version & 0xF)
    if not 0 < root_inode <= block.last_inode:
        raise FileSystemError(f"{where}: corrupt: root inode {root_inode} is outside the "
                              f"file system (inodes up to {block.last_inode})")
    return block


XfsFile = libyal.LibyalFile  # one inode, opened through libfsxfs


class XfsVolume(SourceReader, LibyalVolume):
    """The opened libfsxfs volume of one XFS file system (``FileSystem.tsk`` for XFS)."""

    library = "libfsxfs"
    spans = "the file system"

    def __init__(self, image: Image, volume: Volume, superblock: Superblock) -> None:
        pyfsxfs = self.binding(f"{describe(image, volume)}: XFS file system")
        self.superblock = superblock
        super().__init__(Source(image, volume.offset, superblock.size), pyfsxfs.volume())

    def open_meta(self, inode: int) -> XfsFile:
        """The file with inode number ``inode`` (``OSError`` if there is none)."""
        return XfsFile(self, self.call(self.handle.get_file_entry_by_inode, inode))

    def number(self, handle: Any) -> int:
        return int(self.call(handle.get_inode_number))

    def size(self, handle: Any, inode: int, kind: str) -> int:
        size = super().size(handle, inode, kind)
        if kind == "directory":
            return self.directory_size(inode) or size
        return size

    def directory_size(self, inode: int) -> int | None:
        """``di_size`` of a directory's inode, read from the inode core: libfsxfs gives 0
        for directories, fls gives this. None where the inode is not where its number says
        (then the walk keeps libfsxfs's size)."""
        block = self.superblock
        ag_shift = block.ag_block_log + block.inodes_per_block_log
        ag, rest = inode >> ag_shift, inode & ((1 << ag_shift) - 1)
        ag_block, slot = rest >> block.inodes_per_block_log, rest & (
            (1 << block.inodes_per_block_log) - 1)
        at = ((ag * block.ag_blocks + ag_block) * block.block_size
              + slot * block.inode_size)
        try:
            core = self.source.image.read(self.source.offset + at, 64)
        except ImageError:
            return None
        if len(core) < 64 or core[:2] != b"IN":  # di_magic; di_size is at byte 56
            return None
        size: int = struct.unpack_from(">Q", core, 56)[0]
        return size


def open_xfs(image: Image, volume: Volume) -> FileSystem:
    """Open the XFS file system of ``volume`` through libfsxfs, or raise
    :class:`FileSystemError` naming the image, the volume and the offset."""
    superblock = read_superblock(image, volume)
    try:
        backend = XfsVolume(image, volume, superblock)
        root = backend.root()
        backend.call(root.handle.get_number_of_sub_file_entries)
    except OSError as exc:
        hint = ""
        if volume.offset + superblock.size > image.size and "truncated" not in str(exc):
            hint = (f" (the image is {image.size} bytes; the file system spans "
                    f"{superblock.size} bytes from offset {volume.offset}: truncated image?)")
        raise FileSystemError(f"{describe(image, volume)}: XFS file system at offset "
                              f"{volume.offset} cannot be read: {exc}{hint}") from exc
    return FileSystem(image, volume, backend, "xfs", superblock.block_size,
                      superblock.root_inode, superblock.root_inode, superblock.last_inode,
                      superblock.size)


walk_xfs = libyal.walk  # every name under the root (or start_inode), with its XfsFile
bare_entry = libyal.bare_entry  # an entry ($inode-N) for an inode no name reaches


def file_extents(fs: FileSystem, problems: list[str] | None = None) -> Iterator[Extent]:
    """The data extents of every regular file, as media offsets (see
    :func:`~dalil.engine.forensics.blockmap.file_extents`).

    libfsxfs gives each extent's place on the volume but not its offset in the file:
    the offsets are the running sum, which is right only when the extents cover the file
    without holes or preallocation. A file where they do not is left out and named in
    ``problems``; directories and symlinks are not mapped.
    """
    block = fs.block_size
    for entry, runs in libyal.file_runs(fs, problems):
        allocated = -(-entry.size // block) * block
        # LIBFSXFS_EXTENT_FLAG_IS_SPARSE: a hole or an unwritten (preallocated) extent
        if any(flags & SPARSE for _, _, flags in runs) or \
                sum(size for _, size, _ in runs) != allocated:
            if problems is not None:
                problems.append(f"{fs.where()}: {entry.path} (inode {entry.inode}): not "
                                "mapped: sparse or preallocated extents, whose offsets in "
                                "the file libfsxfs does not give")
            continue
        yield from libyal.mapped_runs(fs, entry, runs)
