"""Free blocks of an ext2/3/4 file system, from its superblock, group descriptors and block
bitmaps, read by hand through the image at the volume's offset.

Why by hand: pytsk3's ``FS_Info`` exposes ``open``, ``open_dir``, ``open_meta`` and
``info`` only; TSK's ``tsk_fs_block_walk``/``tsk_fs_block_getflags`` (the calls behind
``blkls``) are not wrapped, so the ``TSK_FS_BLOCK_FLAG_UNALLOC`` constants it exports
cannot be used, and a per-block Python callback over a multi-GB volume would be far too
slow anyway. TSK 4.11 also reads the on-disk bitmap of a ``BLOCK_UNINIT`` group, which
e2fsprogs never writes (zeros on a fresh image, stale bytes on a reused disk), so it calls
that group's backup superblock and descriptor blocks free; the kernel and e2fsprogs
compute such a bitmap instead, and so does this module.

Layout (ext4 disk layout, e2fsprogs ``lib/ext2fs``): the superblock sits 1024 bytes into
the volume; the descriptor table follows it (in the block after ``s_first_data_block``),
or with ``meta_bg`` one descriptor block per meta group at that group's start. Each
descriptor gives its group's block bitmap (32-bit, or 64-bit with ``INCOMPAT_64BIT`` and
``s_desc_size`` >= 64); a set bit is an allocated block (a cluster with ``bigalloc``).
With ``flex_bg`` the bitmaps of several groups sit together, so runs of consecutive
bitmap blocks are read in one go.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from dalil.engine.forensics.carve.space import Extent, SpaceError, _runs
from dalil.engine.forensics.filesystem import FileSystem

_MAGIC = 0xEF53
_COMPAT_SPARSE_SUPER2 = 0x0200
_INCOMPAT_META_BG = 0x0010
_INCOMPAT_64BIT = 0x0080
_RO_COMPAT_SPARSE_SUPER = 0x0001
_RO_COMPAT_GDT_CSUM = 0x0010
_RO_COMPAT_BIGALLOC = 0x0200
_RO_COMPAT_METADATA_CSUM = 0x0400
_BG_BLOCK_UNINIT = 0x0002
_GROUPS_PER_BATCH = 256  # bitmaps turned into runs at a time (8 Mi bits with 4 KiB blocks)


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 2], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 4], "little")


@dataclass(frozen=True)
class _Geometry:
    block_size: int  # bytes
    blocks: int  # s_blocks_count (with the high half on 64-bit file systems)
    first_data_block: int
    blocks_per_group: int
    clusters_per_group: int  # bits in one group's bitmap
    ratio_bits: int  # log2(blocks per cluster), 0 without bigalloc
    groups: int
    desc_size: int  # bytes per group descriptor
    inode_table_blocks: int  # blocks of one group's inode table
    gdt_csum: bool  # BLOCK_UNINIT is honoured only with group descriptor checksums
    meta_bg: bool
    first_meta_bg: int
    reserved_gdt: int
    sparse_super: bool
    sparse_super2: bool
    backup_groups: tuple[int, int]

    @property
    def desc_per_block(self) -> int:
        return self.block_size // self.desc_size

    @property
    def desc_blocks(self) -> int:
        return -(-self.groups // self.desc_per_block)

    def first_block(self, group: int) -> int:
        return self.first_data_block + group * self.blocks_per_group

    def has_super(self, group: int) -> bool:
        """Does ``group`` hold a superblock copy (ext2fs_bg_has_super)."""
        if group == 0:
            return True
        if self.sparse_super2:
            return group in self.backup_groups
        if group <= 1 or not self.sparse_super:
            return True
        if not group & 1:
            return False
        for root in (3, 5, 7):
            power = root
            while power < group:
                power *= root
            if power == group:
                return True
        return False


def _geometry(fs: FileSystem) -> _Geometry:
    where = fs.where()
    sb = fs.image.read(fs.offset + 1024, 1024)
    if len(sb) < 1024:
        raise SpaceError(f"{where}: truncated ext superblock at offset {fs.offset + 1024}")
    if _u16(sb, 56) != _MAGIC:
        raise SpaceError(f"{where}: no ext superblock magic at offset {fs.offset + 1024 + 56}")
    compat, incompat, ro_compat = _u32(sb, 92), _u32(sb, 96), _u32(sb, 100)
    log_block = _u32(sb, 24)
    if log_block > 6:
        raise SpaceError(f"{where}: ext block size 2^{10 + log_block} bytes is not valid")
    block_size = 1024 << log_block
    is_64 = bool(incompat & _INCOMPAT_64BIT)
    blocks = _u32(sb, 4) | ((_u32(sb, 0x150) << 32) if is_64 else 0)
    first_data_block = _u32(sb, 20)
    blocks_per_group = _u32(sb, 32)
    ratio_bits = 0
    if ro_compat & _RO_COMPAT_BIGALLOC:
        ratio_bits = _u32(sb, 28) - log_block
    clusters_per_group = _u32(sb, 36) if ratio_bits else blocks_per_group
    inodes_per_group = _u32(sb, 40)
    inode_size = _u16(sb, 88) if _u32(sb, 76) >= 1 else 128
    desc_size = _u16(sb, 254) if is_64 else 32
    if (not blocks_per_group or not 0 <= ratio_bits <= 16
            or clusters_per_group << ratio_bits != blocks_per_group
            or clusters_per_group > 8 * block_size or first_data_block >= blocks
            or desc_size < 32 or desc_size > block_size or desc_size & (desc_size - 1)
            or not inode_size):
        raise SpaceError(f"{where}: inconsistent ext superblock at offset {fs.offset + 1024} "
                         f"(block size {block_size}, {blocks} blocks, {blocks_per_group} "
                         f"per group, descriptor size {desc_size})")
    return _Geometry(
        block_size=block_size, blocks=blocks, first_data_block=first_data_block,
        blocks_per_group=blocks_per_group, clusters_per_group=clusters_per_group,
        ratio_bits=ratio_bits,
        groups=-(-(blocks - first_data_block) // blocks_per_group), desc_size=desc_size,
        inode_table_blocks=-(-(inodes_per_group * inode_size) // block_size),
        gdt_csum=bool(ro_compat & (_RO_COMPAT_GDT_CSUM | _RO_COMPAT_METADATA_CSUM)),
        meta_bg=bool(incompat & _INCOMPAT_META_BG), first_meta_bg=_u32(sb, 260),
        reserved_gdt=_u16(sb, 206), sparse_super=bool(ro_compat & _RO_COMPAT_SPARSE_SUPER),
        sparse_super2=bool(compat & _COMPAT_SPARSE_SUPER2),
        backup_groups=(_u32(sb, 0x24C), _u32(sb, 0x250)))


def _descriptor_block(geo: _Geometry, index: int) -> int:
    """Where descriptor block ``index`` lives (ext2fs_descriptor_block_loc2)."""
    adjust = 1 if index == 0 and geo.block_size == 1024 and geo.ratio_bits else 0
    if not geo.meta_bg or index < geo.first_meta_bg:
        return geo.first_data_block + 1 + index + adjust
    group = index * geo.desc_per_block
    return geo.first_block(group) + int(geo.has_super(group)) + adjust


def _read(fs: FileSystem, geo: _Geometry, block: int, count: int, what: str) -> bytes:
    offset = fs.offset + block * geo.block_size
    if block + count > geo.blocks:
        raise SpaceError(f"{fs.where()}: {what} at block {block} lies past the end of the "
                         f"file system ({geo.blocks} blocks)")
    data = fs.image.read(offset, count * geo.block_size)
    if len(data) < count * geo.block_size:
        raise SpaceError(f"{fs.where()}: {what} at offset {offset} ({count * geo.block_size} "
                         f"bytes) is cut short by the end of the image: truncated image?")
    return data


def _consecutive(blocks: list[int]) -> list[tuple[int, int]]:
    """``(first, count)`` runs of the sorted distinct block numbers in ``blocks``."""
    runs: list[tuple[int, int]] = []
    for block in sorted(set(blocks)):
        if runs and runs[-1][0] + runs[-1][1] == block:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((block, 1))
    return runs


def _descriptors(fs: FileSystem, geo: _Geometry) -> np.ndarray:
    """The descriptor table as a ``(groups, desc_size)`` array of bytes."""
    locations = [_descriptor_block(geo, i) for i in range(geo.desc_blocks)]
    chunks: dict[int, bytes] = {}
    for first, count in _consecutive(locations):
        data = _read(fs, geo, first, count, "the group descriptor table")
        for i in range(count):
            chunks[first + i] = data[i * geo.block_size:(i + 1) * geo.block_size]
    table = b"".join(chunks[block] for block in locations)
    return np.frombuffer(table, dtype=np.uint8)[: geo.groups * geo.desc_size].reshape(
        geo.groups, geo.desc_size)


def _field(table: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
    """A 32-bit descriptor field, widened with its high half on 64-byte descriptors."""
    value = np.ascontiguousarray(table[:, lo:lo + 4]).view("<u4")[:, 0].astype(np.uint64)
    if hi is not None and table.shape[1] >= 64:
        high = np.ascontiguousarray(table[:, hi:hi + 4]).view("<u4")[:, 0].astype(np.uint64)
        value |= high << np.uint64(32)
    return value


def _uninit_metadata(geo: _Geometry, group: int, block_bitmap: int, inode_bitmap: int,
                     inode_table: int) -> list[tuple[int, int]]:
    """Blocks a ``BLOCK_UNINIT`` group still uses: ``(first, count)`` runs, as e2fsprogs
    marks them (ext2fs_reserve_super_and_bgd plus the group's own bitmaps and table)."""
    used: list[tuple[int, int]] = []
    start = geo.first_block(group)
    if start == 0 and geo.block_size == 1024:
        start = 1  # 1 KiB blocks with bigalloc: block 0 is outside ext4
    has_super = geo.has_super(group)
    if has_super:
        used.append((start, 1))
    if not geo.meta_bg or group // geo.desc_per_block < geo.first_meta_bg:
        if has_super:
            old = geo.first_meta_bg if geo.meta_bg else geo.desc_blocks + geo.reserved_gdt
            used.append((start + 1, min(old, geo.blocks - start - 1)))
    elif group % geo.desc_per_block in (0, 1, geo.desc_per_block - 1):
        used.append((start + int(has_super), 1))
    for block, count in ((block_bitmap, 1), (inode_bitmap, 1),
                         (inode_table, geo.inode_table_blocks)):
        if block:
            used.append((block, count))
    return used


def ext_free_extents(fs: FileSystem) -> list[Extent]:
    """The free blocks of the ext2/3/4 file system ``fs`` as image extents (bytes from the
    start of the media), in block order; a run may be split every 256 groups (the caller
    merges adjacent extents).

    A group flagged ``BLOCK_UNINIT`` (on a file system with group-descriptor checksums)
    has no bitmap on disk: all of it is free except its superblock and descriptor copies
    and its own bitmaps and inode table. Descriptor checksums are not verified.
    """
    geo = _geometry(fs)
    table = _descriptors(fs, geo)
    block_bitmaps = _field(table, 0x00, 0x20)
    inode_bitmaps = _field(table, 0x04, 0x24)
    inode_tables = _field(table, 0x08, 0x28)
    flags = np.ascontiguousarray(table[:, 0x12:0x14]).view("<u2")[:, 0]
    uninit = (flags & _BG_BLOCK_UNINIT).astype(bool) if geo.gdt_csum else np.zeros(
        geo.groups, dtype=bool)
    reserved: list[tuple[int, int]] = []
    for group in np.flatnonzero(uninit).tolist():
        reserved.extend(_uninit_metadata(geo, group, int(block_bitmaps[group]),
                                         int(inode_bitmaps[group]),
                                         int(inode_tables[group])))
    reserved.sort()
    reserved_starts = [first for first, _ in reserved]
    longest_reserved = max((count for _, count in reserved), default=0)

    total_clusters = (geo.blocks - geo.first_data_block + (1 << geo.ratio_bits) - 1
                      ) >> geo.ratio_bits
    bitmap_bytes = -(-geo.clusters_per_group // 8)
    cluster_bytes = geo.block_size << geo.ratio_bits
    base = fs.offset + geo.first_data_block * geo.block_size
    end = fs.offset + geo.blocks * geo.block_size
    extents: list[Extent] = []
    for first_group in range(0, geo.groups, _GROUPS_PER_BATCH):
        groups = range(first_group, min(first_group + _GROUPS_PER_BATCH, geo.groups))
        first_cluster = first_group * geo.clusters_per_group
        span = min(len(groups) * geo.clusters_per_group, total_clusters - first_cluster)
        used = np.zeros(len(groups) * geo.clusters_per_group, dtype=bool)
        wanted = [int(block_bitmaps[g]) for g in groups if not uninit[g]]
        if 0 in wanted:
            group = next(g for g in groups if not uninit[g] and not block_bitmaps[g])
            raise SpaceError(f"{fs.where()}: the descriptor of group {group} gives no block "
                             "bitmap (block 0): damaged group descriptor table")
        bitmaps: dict[int, bytes] = {}
        for block, count in _consecutive(wanted):
            data = _read(fs, geo, block, count,
                         f"a block bitmap of groups {groups.start}-{groups.stop - 1}")
            for i in range(count):
                bitmaps[block + i] = data[i * geo.block_size:i * geo.block_size + bitmap_bytes]
        for i, group in enumerate(groups):
            if uninit[group]:
                continue
            bits = np.unpackbits(np.frombuffer(bitmaps[int(block_bitmaps[group])],
                                               dtype=np.uint8), bitorder="little")
            at = i * geo.clusters_per_group
            used[at:at + geo.clusters_per_group] = bits[: geo.clusters_per_group].astype(bool)
        # Metadata of BLOCK_UNINIT groups that falls in this batch (from any group).
        low = geo.first_data_block + (first_cluster << geo.ratio_bits)
        high = low + (span << geo.ratio_bits)
        index = bisect.bisect_left(reserved_starts, low - longest_reserved)
        while index < len(reserved) and reserved[index][0] < high:
            block, count = reserved[index]
            index += 1
            a, b = max(block, low), min(block + count, high)
            if a < b:
                used[(a - low) >> geo.ratio_bits:((b - 1 - low) >> geo.ratio_bits) + 1] = True
        for run, count in _runs(~used[:span]):
            offset = base + (first_cluster + run) * cluster_bytes
            extents.append(Extent(offset, min(count * cluster_bytes, end - offset)))
    return extents
