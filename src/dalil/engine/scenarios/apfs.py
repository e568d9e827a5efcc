"""APFS container images with planted files and an answer key, built by apfsprogs.

``mkapfs`` (Debian's apfsprogs) makes an empty container with one volume in a regular
file, with no kernel driver and no root; nothing in Debian writes files into one
without mounting it. The planted files are therefore written here, into the volume's
file-system tree, by hand: mkapfs leaves that tree as a single root-and-leaf B-tree node
(the root directory and ``private-dir``), which is re-serialised with each plant's
directory record, inode (with its name and data-stream fields), data-stream reference
and file extent, in the order apfsck checks (object id, record type, then a directory
record's name hash and name), and re-checksummed (Fletcher-64). The content goes into
free blocks at the end of the container's first chunk (the container's end at
``DEFAULT_SIZE``), marked used in the space manager's bitmap and recorded as physical
extents in the volume's extent-reference tree. The volume superblock's next object id,
file and directory counts and allocated blocks follow. mkapfs stamps the format time
into the volume superblock and the two directories it makes: those are pinned to
``FORMATTED_AT``, so that the same arguments give the same bytes.

A container of several volumes (a Mac's system volume and its ``Data`` volume, where
the user's files are): mkapfs makes one, so each further volume is a clone of mkapfs's
empty one, made before anything is planted. Its volume superblock, object map (with its
B-tree node), file-system tree, extent-reference and snapshot trees are copied into free
blocks after mkapfs's (marked used); the physical objects get their new block numbers
as object ids, the volume superblock and its tree new virtual ids (from the container's
next object id) mapped in the volume's and the container's object maps (re-serialised,
re-checksummed); the clone gets its own name, UUID and index, and the container
superblock (block 0 and its checkpoint copy) lists it in ``nx_fs_oid``. A container
holds one volume per 512 MiB begun, so each further volume adds ``VOLUME_ROOM`` bytes.
Each volume is then planted as above. ``apfsck -cuw`` reports nothing on the result
(apfsprogs 0+git20230206); libfsapfs reads every volume.

Limits: each volume's node must hold every record (a dozen small plants), and the
content fits in the first chunk (some 46 MiB). The image is ``DEFAULT_SIZE`` bytes
(the smallest container mkapfs makes) plus ``VOLUME_ROOM`` per further volume, and
sparse on disk.
"""

from __future__ import annotations

import hashlib
import mmap
import shutil
import struct
import subprocess
import unicodedata
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dalil.engine.forensics.apfs import fletcher64

MIB = 1024 * 1024
DEFAULT_SIZE = 128 * MIB  # mkapfs: "small containers are not supported" below this
# A container holds one volume per 512 MiB begun (nx_max_file_systems, as Apple's
# reference and mkapfs compute it): each further volume makes the image this much larger.
VOLUME_ROOM = 512 * MIB
DEFAULT_LABEL = "Evidence Vol"
CONTAINER_UUID = "a9f50000-da11-4000-8000-0000000000a1"
VOLUME_UUID = "a9f50000-da11-4000-8000-0000000000b1"
DATA_LABEL = "Data"
DATA_UUID = "a9f50000-da11-4000-8000-0000000000b2"
FORMATTED_AT = 1_699_999_000_000_000_000  # nanoseconds since 1970: mkapfs's own times
BLOCK = 4096  # bytes: mkapfs's block size
FIRST_ID = 16  # the first object id APFS gives a user file
_BTREE_INFO = 40  # bytes at the end of a root node
_TOC = 56  # the table of contents starts after the node header
_PHYS_EXT, _INODE, _DSTREAM_ID, _EXTENT, _DREC = 2, 3, 6, 8, 9  # j_obj_types
_DT_DIR, _DT_REG = 4, 8
_NAME_FIELD, _DSTREAM_FIELD = 4, 8  # INO_EXT_TYPE_NAME, INO_EXT_TYPE_DSTREAM
_OWNER, _GROUP = 501, 20  # a macOS user's uid and the staff group
_NX_SUPERBLOCK = 0x80000001  # OBJ_EPHEMERAL | OBJECT_TYPE_NX_SUPERBLOCK
_OMAP_KV = 16  # bytes of an object-map key (oid, xid) and of its value (flags, size, paddr)


class ApfsScenarioError(ValueError):
    """A plant the generator cannot write, a missing tool, or a tool failure."""


@dataclass(frozen=True)
class ApfsPlant:
    """One file (with its parent directories) to put in the volume. Times are
    nanoseconds since 1970 (UTC)."""

    path: str  # "/"-separated, no leading slash
    data: bytes
    crtime: int = 1_700_000_000_123_456_789
    mtime: int = 1_700_000_100_234_567_891
    ctime: int = 1_700_000_200_345_678_912
    atime: int = 1_700_000_300_456_789_123


@dataclass(frozen=True)
class ApfsAnswer:
    """What the examiner should find for one planted name."""

    path: str
    inode: int
    type: str  # file, directory
    size: int  # bytes
    sha256: str  # of the content; "" for a directory
    crtime: int  # nanoseconds since 1970 (UTC), as planted
    mtime: int
    ctime: int
    atime: int
    volume: str  # the name of the APFS volume it is in


@dataclass(frozen=True)
class ApfsVolumePlan:
    """A further volume of the container (after mkapfs's): its name, UUID and plants."""

    name: str
    uuid: str
    plants: tuple[ApfsPlant, ...]


@dataclass(frozen=True)
class ApfsVolumeAnswer:
    """One volume of the container as an examiner should find it listed."""

    index: int  # its place in the container's nx_fs_oid (libfsapfs numbers them so)
    name: str
    uuid: str


@dataclass(frozen=True)
class ApfsAnswerKey:
    image: str
    label: str  # the first volume's name
    size: int  # bytes of the image (= the container)
    container_uuid: str
    volume_uuid: str  # the first volume's UUID
    entries: tuple[ApfsAnswer, ...]
    volumes: tuple[ApfsVolumeAnswer, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def entry(self, path: str, volume: str | None = None) -> ApfsAnswer:
        """The answer for ``path`` in ``volume`` (a name; None: the first volume)."""
        volume = self.label if volume is None else volume
        return next(answer for answer in self.entries
                    if answer.path == path and answer.volume == volume)

    def in_volume(self, volume: str) -> tuple[ApfsAnswer, ...]:
        """The answers of the volume named ``volume``."""
        return tuple(answer for answer in self.entries if answer.volume == volume)


DEFAULT_PLANTS = (
    ApfsPlant("ransom_note.txt", b"Send 0.5 BTC to bc1qexampleaddress0000000000000000000\n"),
    ApfsPlant("Documents/ledger.csv", b"date,amount\n2024-01-02,950.00\n" * 300,
              crtime=1_710_000_000_000_000_001, mtime=1_710_000_001_999_999_999,
              ctime=1_710_000_002_500_000_000, atime=1_710_000_003_000_000_007),
    ApfsPlant("Documents/empty.txt", b""),
)

# What a Mac keeps on its Data volume: the user's home. A name the first volume has
# too (ransom_note.txt, with other content) tells whether a reader mixes the two up.
DATA_PLANTS = (
    ApfsPlant("ransom_note.txt", b"Second copy: the key is in the Data volume\n"),
    ApfsPlant("Users/azamat/Desktop/wallet.txt",
              b"bc1qdatavolumeexample00000000000000000\nseed: (see paper)\n",
              crtime=1_711_000_000_000_000_000, mtime=1_711_000_100_000_000_001,
              ctime=1_711_000_200_000_000_002, atime=1_711_000_300_000_000_003),
    ApfsPlant("Users/azamat/Documents/contacts.vcf",
              b"BEGIN:VCARD\nFN:Courier\nTEL:+996555000111\nEND:VCARD\n" * 40),
    ApfsPlant("Users/azamat/Documents/plan.txt", b"meet at the border at 06:00\n"),
    ApfsPlant("Users/Shared/readme.txt", b""),
)
DATA_VOLUME = ApfsVolumePlan(DATA_LABEL, DATA_UUID, DATA_PLANTS)


def _name_hash(name: str) -> int:
    """The 22-bit hash of a directory record on a case-insensitive volume: CRC-32C of
    the case-folded, decomposed name as UTF-32 (no final complement, as mkapfs writes)."""
    data = unicodedata.normalize("NFD", name.casefold()).encode("utf-32-le")
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc & 0x3FFFFF


def _key(obj_id: int, kind: int) -> bytes:
    return struct.pack("<Q", obj_id | kind << 60)


def _drec(parent: int, name: str, child: int, kind: int, added: int) -> tuple[bytes, bytes]:
    encoded = name.encode("utf-8") + b"\0"
    key = _key(parent, _DREC) + struct.pack("<I", _name_hash(name) << 10 | len(encoded))
    return key + encoded, struct.pack("<QQH", child, added, kind)


def _pad8(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


def _inode(obj_id: int, parent: int, name: str, mode: int, links: int, times: ApfsPlant,
           size: int | None) -> tuple[bytes, bytes]:
    """An inode record: the fixed j_inode_val_t, then its name and, for a file, its data
    stream (size and allocated bytes) as extended fields."""
    fixed = struct.pack("<QQQQQQQiIIIIIHHQ", parent, obj_id, times.crtime, times.mtime,
                        times.ctime, times.atime, 0, links, 0, 0, 0, _OWNER, _GROUP, mode,
                        0, 0)
    name_bytes = name.encode("utf-8") + b"\0"
    fields = [(_NAME_FIELD, 0x2, name_bytes)]
    if size is not None:
        allocated = -(-size // BLOCK) * BLOCK
        fields.append((_DSTREAM_FIELD, 0x20, struct.pack("<QQQQQ", size, allocated, 0,
                                                         size, 0)))
    data = b"".join(_pad8(value) for _, _, value in fields)
    headers = b"".join(struct.pack("<BBH", kind, flags, len(value))
                       for kind, flags, value in fields)
    return _key(obj_id, _INODE), fixed + struct.pack("<HH", len(fields), len(data)) + \
        headers + data


def _read_records(node: bytes) -> list[tuple[bytes, bytes]]:
    count, = struct.unpack_from("<I", node, 36)
    table, = struct.unpack_from("<H", node, 42)  # btn_table_space.len
    keys, values = _TOC + table, len(node) - _BTREE_INFO
    records = []
    for i in range(count):
        key_at, key_len, value_at, value_len = struct.unpack_from("<4H", node, _TOC + 8 * i)
        records.append((node[keys + key_at:keys + key_at + key_len],
                        node[values - value_at:values - value_at + value_len]))
    return records


def _sort_key(record: tuple[bytes, bytes]) -> tuple[int, int, int, bytes]:
    """Where a file-system tree record goes: object id, record type, then a directory
    record's name hash (its length bits masked off) and name, or an extent's logical
    address, as numbers: their little-endian bytes do not sort as the numbers do."""
    key = record[0]
    header, = struct.unpack_from("<Q", key)
    kind = header >> 60
    if kind == _DREC:
        number, = struct.unpack_from("<I", key, 8)
        return header & ((1 << 60) - 1), kind, number & ~0x3FF, key[12:]
    if kind == _EXTENT:
        return header & ((1 << 60) - 1), kind, struct.unpack_from("<Q", key, 8)[0], b""
    return header & ((1 << 60) - 1), kind, 0, key[8:]


def _write_records(node: bytes, records: list[tuple[bytes, bytes]]) -> bytes:
    """The root-and-leaf node with ``records`` (sorted), its free space, B-tree info
    and checksum; :class:`ApfsScenarioError` if they do not fit."""
    records = sorted(records, key=_sort_key)
    table = max(128, -(-8 * len(records) // 64) * 64)
    keys_at, values_end = _TOC + table, len(node) - _BTREE_INFO
    toc, key_area, value_area = bytearray(), bytearray(), bytearray()
    for key, value in records:
        value_area[:0] = value
        toc += struct.pack("<4H", len(key_area), len(key), len(value_area), len(value))
        key_area += key
    free = values_end - len(value_area) - keys_at - len(key_area)
    if free < 0:
        raise ApfsScenarioError(f"the plants need {-free} bytes more than the volume's "
                                "single B-tree node holds: plant fewer or smaller names")
    out = bytearray(node)
    struct.pack_into("<I8H", out, 36, len(records), 0, table, len(key_area), free,
                     0xFFFF, 0, 0xFFFF, 0)
    out[_TOC:values_end] = bytes(values_end - _TOC)
    out[_TOC:_TOC + len(toc)] = toc
    out[keys_at:keys_at + len(key_area)] = key_area
    out[values_end - len(value_area):values_end] = value_area
    struct.pack_into("<IIQ", out, values_end + 16, max(len(k) for k, _ in records),
                     max(len(v) for _, v in records), len(records))
    struct.pack_into("<Q", out, 0, fletcher64(bytes(out)))
    return bytes(out)


def _mkapfs(path: Path, label: str, size: int) -> None:
    if shutil.which("mkapfs") is None:
        raise ApfsScenarioError("mkapfs not found: install Debian's apfsprogs")
    with path.open("xb") as handle:
        handle.truncate(size)
    result = subprocess.run(["mkapfs", "-L", label, "-U", CONTAINER_UUID, "-u", VOLUME_UUID,
                             str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        path.unlink()
        detail = " ".join((result.stderr or result.stdout).split())[:2000]
        raise ApfsScenarioError(f"{path}: mkapfs failed ({result.returncode}): {detail}")


def _u64(image: mmap.mmap, at: int) -> int:
    value: int = struct.unpack_from("<Q", image, at)[0]
    return value


def _seal(image: mmap.mmap, block: int) -> None:
    """Store the Fletcher-64 checksum of object ``block`` after its fields changed."""
    at = block * BLOCK
    struct.pack_into("<Q", image, at, fletcher64(bytes(image[at:at + BLOCK])))


def _omap_records(node: bytes) -> list[tuple[int, int, bytes]]:
    """The (oid, xid, value) records of a root-and-leaf object-map node, whose keys and
    values have a fixed size: its table of contents holds their offsets only."""
    flags, _, count = struct.unpack_from("<HHI", node, 32)
    if flags & 0x7 != 0x7:  # BTNODE_ROOT | BTNODE_LEAF | BTNODE_FIXED_KV_SIZE
        raise ApfsScenarioError(f"mkapfs made an object-map node of flags {flags:#x}: "
                                "only a single one of fixed-size records is edited here")
    table, = struct.unpack_from("<H", node, 42)
    keys, values = _TOC + table, len(node) - _BTREE_INFO
    found = []
    for i in range(count):
        key_at, value_at = struct.unpack_from("<2H", node, _TOC + 4 * i)
        oid, xid = struct.unpack_from("<QQ", node, keys + key_at)
        found.append((oid, xid, node[values - value_at:values - value_at + _OMAP_KV]))
    return found


def _write_omap(node: bytes, records: list[tuple[int, int, bytes]]) -> bytes:
    """The object-map node with ``records`` (sorted by oid, then xid), laid out as mkapfs
    lays out its own: keys from the start of the key area, values from the end."""
    records = sorted(records, key=lambda record: record[:2])
    table, = struct.unpack_from("<H", node, 42)
    keys_at, values_end = _TOC + table, len(node) - _BTREE_INFO
    if 4 * len(records) > table:
        raise ApfsScenarioError(f"{len(records)} volumes do not fit in mkapfs's object map")
    out = bytearray(node)
    out[_TOC:values_end] = bytes(values_end - _TOC)
    for i, (oid, xid, value) in enumerate(records):
        struct.pack_into("<2H", out, _TOC + 4 * i, _OMAP_KV * i, _OMAP_KV * (i + 1))
        struct.pack_into("<QQ", out, keys_at + _OMAP_KV * i, oid, xid)
        out[values_end - _OMAP_KV * (i + 1):values_end - _OMAP_KV * i] = value
    used = _OMAP_KV * len(records)
    struct.pack_into("<I8H", out, 36, len(records), 0, table, used,
                     values_end - keys_at - 2 * used, 0xFFFF, 0, 0xFFFF, 0)
    struct.pack_into("<Q", out, values_end + 24, len(records))  # bt_key_count
    struct.pack_into("<Q", out, 0, fletcher64(bytes(out)))
    return bytes(out)


def _lookup(image: mmap.mmap, omap: int, oid: int) -> int:
    """The block that object map ``omap`` (a block number) maps virtual ``oid`` to."""
    tree = _u64(image, omap * BLOCK + 48) * BLOCK  # omap_phys_t.om_tree_oid
    for found, _, value in _omap_records(bytes(image[tree:tree + BLOCK])):
        if found == oid:
            return int.from_bytes(value[8:16], "little")  # omap_val_t.ov_paddr
    raise ApfsScenarioError(f"mkapfs's object map at block {omap} has no object {oid:#x}")


def _tree_block(image: mmap.mmap, superblock: int) -> int:
    """The block of the file-system tree's root node of the volume at ``superblock``."""
    at = superblock * BLOCK
    return _lookup(image, _u64(image, at + 128), _u64(image, at + 136))


def _container_superblocks(image: mmap.mmap) -> list[int]:
    """Block 0 and the copies of the container superblock in the checkpoint area: a
    reader may take either, so every change goes into all of them."""
    count, = struct.unpack_from("<I", image, 104)  # nx_xp_desc_blocks
    base = _u64(image, 112)  # nx_xp_desc_base
    found = [0]
    for block in range(base, base + (count & 0x7FFFFFFF)):
        at = block * BLOCK
        if struct.unpack_from("<I", image, at + 24)[0] == _NX_SUPERBLOCK and \
                image[at + 32:at + 36] == b"NXSB":
            found.append(block)
    return found


def _pin_times(image: mmap.mmap, superblock: int) -> None:
    """mkapfs's clock readings (the volume's format time, its two directories' times and
    their records' dates added) set to ``FORMATTED_AT``."""
    struct.pack_into("<Q", image, superblock * BLOCK + 304, FORMATTED_AT)  # formatted_by
    _seal(image, superblock)
    tree = _tree_block(image, superblock) * BLOCK
    pinned = []
    for key, value in _read_records(bytes(image[tree:tree + BLOCK])):
        kind = int.from_bytes(key[:8], "little") >> 60
        if kind == _INODE:
            value = value[:16] + struct.pack("<4Q", *[FORMATTED_AT] * 4) + value[48:]
        elif kind == _DREC:
            value = value[:8] + struct.pack("<Q", FORMATTED_AT) + value[16:]
        pinned.append((key, value))
    image[tree:tree + BLOCK] = _write_records(bytes(image[tree:tree + BLOCK]), pinned)


def _free_after(image: mmap.mmap, block: int, count: int) -> list[int]:
    """The first ``count`` blocks in a row after ``block`` that nothing was written to."""
    blank = bytes(BLOCK)
    run: list[int] = []
    for candidate in range(block + 1, len(image) // BLOCK):
        if image[candidate * BLOCK:(candidate + 1) * BLOCK] != blank:
            run = []
            continue
        run.append(candidate)
        if len(run) == count:
            return run
    raise ApfsScenarioError(f"no {count} free blocks in a row after block {block}")


def _spaceman(image: mmap.mmap) -> int:
    """The block of the space manager: an ephemeral object, found through the
    checkpoint map in the checkpoint descriptor area."""
    oid = _u64(image, 152)  # nx_spaceman_oid
    count, = struct.unpack_from("<I", image, 104)
    base = _u64(image, 112)
    for block in range(base, base + (count & 0x7FFFFFFF)):
        at = block * BLOCK
        if struct.unpack_from("<I", image, at + 24)[0] != 0x4000000C:  # checkpoint map
            continue
        for i in range(struct.unpack_from("<I", image, at + 36)[0]):
            mapping = at + 40 + 40 * i  # checkpoint_mapping_t
            if _u64(image, mapping + 24) == oid:
                return _u64(image, mapping + 32)
    raise ApfsScenarioError("mkapfs's checkpoint maps no space manager")


def _chunk_blocks(image: mmap.mmap) -> int:
    """Blocks of a chunk: the blocks one bitmap block of the space manager covers."""
    blocks: int = struct.unpack_from("<I", image, _spaceman(image) * BLOCK + 36)[0]
    return blocks


def _allocate(image: mmap.mmap, blocks: list[int]) -> None:
    """Mark ``blocks`` used in the space manager's bitmap, its chunk's and the device's
    free counts: mkapfs keeps a bitmap for its first chunk only, where they must be."""
    manager = _spaceman(image) * BLOCK
    per_chunk, chunks_per_info = struct.unpack_from("<II", image, manager + 36)
    infos = manager + struct.unpack_from("<I", image, manager + 80)[0]  # sm_addr_offset
    for block in blocks:
        chunk = block // per_chunk
        info_block = _u64(image, infos + 8 * (chunk // chunks_per_info))
        info = info_block * BLOCK + 40 + 32 * (chunk % chunks_per_info)  # chunk_info_t
        bitmap = _u64(image, info + 24) * BLOCK
        if not bitmap:
            raise ApfsScenarioError(f"block {block}: mkapfs made no bitmap for its chunk")
        byte = bitmap + block % per_chunk // 8
        if image[byte] & 1 << block % 8:
            raise ApfsScenarioError(f"block {block} is free of content but in use")
        image[byte] |= 1 << block % 8
        struct.pack_into("<I", image, info + 20,
                         struct.unpack_from("<I", image, info + 20)[0] - 1)
        struct.pack_into("<Q", image, manager + 72, _u64(image, manager + 72) - 1)
        _seal(image, info_block)
    _seal(image, manager // BLOCK)


def _clone_volume(image: mmap.mmap, source: int, index: int, plan: ApfsVolumePlan) -> int:
    """Copy the (empty) volume whose superblock is at block ``source`` into free blocks
    as volume ``index`` named after ``plan`` (see the module's docstring); its new
    superblock's block."""
    name = plan.name.encode("utf-8")
    if len(name) > 255:
        raise ApfsScenarioError(f"volume name {plan.name!r}: {len(name)} bytes (255 at most)")
    if index >= struct.unpack_from("<I", image, 180)[0]:  # nx_max_file_systems
        raise ApfsScenarioError(f"volume {index}: the container holds fewer volumes")
    at = source * BLOCK
    omap, tree_oid = _u64(image, at + 128), _u64(image, at + 136)
    omap_tree, tree = _u64(image, omap * BLOCK + 48), _lookup(image, omap, tree_oid)
    extents, snapshots = _u64(image, at + 144), _u64(image, at + 152)
    parts = (source, omap, omap_tree, tree, extents, snapshots)
    blocks = _free_after(image, max(parts), len(parts))
    _allocate(image, blocks)
    for old, new in zip(parts, blocks, strict=True):
        image[new * BLOCK:(new + 1) * BLOCK] = image[old * BLOCK:(old + 1) * BLOCK]
    new_super, new_omap, new_omap_tree, new_tree, new_extents, new_snapshots = blocks
    next_oid = _u64(image, 88)  # nx_next_oid: virtual ids are unique in the container
    super_oid, new_tree_oid = next_oid, next_oid + 1
    # A physical object's id is its block; the tree is virtual, mapped by the object map.
    for block, oid in ((new_omap, new_omap), (new_extents, new_extents),
                       (new_snapshots, new_snapshots), (new_tree, new_tree_oid)):
        struct.pack_into("<Q", image, block * BLOCK + 8, oid)
        _seal(image, block)
    struct.pack_into("<Q", image, new_omap * BLOCK + 48, new_omap_tree)
    _seal(image, new_omap)
    node = bytes(image[new_omap_tree * BLOCK:(new_omap_tree + 1) * BLOCK])
    mapped = _omap_records(node)
    if [oid for oid, _, _ in mapped] != [tree_oid]:
        raise ApfsScenarioError(f"mkapfs's volume object map holds {len(mapped)} objects; "
                                "only its file-system tree is cloned")
    [(_, xid, value)] = mapped
    node = node[:8] + struct.pack("<Q", new_omap_tree) + node[16:]
    image[new_omap_tree * BLOCK:(new_omap_tree + 1) * BLOCK] = _write_omap(
        node, [(new_tree_oid, xid, value[:8] + struct.pack("<Q", new_tree))])
    at = new_super * BLOCK
    struct.pack_into("<Q", image, at + 8, super_oid)
    struct.pack_into("<I", image, at + 36, index)  # apfs_fs_index
    struct.pack_into("<4Q", image, at + 128, new_omap, new_tree_oid, new_extents,
                     new_snapshots)
    image[at + 240:at + 256] = uuid.UUID(plan.uuid).bytes
    image[at + 704:at + 960] = name.ljust(256, b"\0")
    _seal(image, new_super)
    container_omap = _u64(image, 160) * BLOCK + 48
    top = _u64(image, container_omap)
    records = _omap_records(bytes(image[top * BLOCK:(top + 1) * BLOCK]))
    xid, value = next((xid, value) for oid, xid, value in records
                      if oid == _u64(image, 184))  # how volume 0 is mapped
    image[top * BLOCK:(top + 1) * BLOCK] = _write_omap(
        bytes(image[top * BLOCK:(top + 1) * BLOCK]),
        [*records, (super_oid, xid, value[:8] + struct.pack("<Q", new_super))])
    for block in _container_superblocks(image):
        struct.pack_into("<Q", image, block * BLOCK + 88, next_oid + 2)
        struct.pack_into("<Q", image, block * BLOCK + 184 + 8 * index, super_oid)
        _seal(image, block)
    return new_super


def build_apfs_image(path: str | Path, plants: tuple[ApfsPlant, ...] = DEFAULT_PLANTS,
                     label: str = DEFAULT_LABEL,
                     more_volumes: tuple[ApfsVolumePlan, ...] = ()) -> ApfsAnswerKey:
    """Write an APFS container image at ``path`` (which must not exist) whose first
    volume, named ``label``, holds ``plants``, and whose further volumes (indexes 1, 2...)
    hold theirs (``more_volumes``: say ``(DATA_VOLUME,)``), and return what an examiner
    should find. The same arguments give the same bytes."""
    target = Path(path)
    if target.exists():
        raise ApfsScenarioError(f"{target}: already exists")
    plans = (ApfsVolumePlan(label, VOLUME_UUID, plants), *more_volumes)
    uuids = [str(uuid.UUID(plan.uuid)) for plan in plans]
    if len(set(uuids)) < len(uuids):
        raise ApfsScenarioError(f"two volumes share a UUID: {', '.join(uuids)}")
    size = DEFAULT_SIZE + VOLUME_ROOM * len(more_volumes)
    _mkapfs(target, label, size)
    answers: list[ApfsAnswer] = []
    try:
        # Changed in place through a map: the blocks never written stay holes in the file.
        with target.open("r+b") as handle, mmap.mmap(handle.fileno(), size) as image:
            first = _lookup(image, _u64(image, 160), _u64(image, 184))  # nx_fs_oid[0]
            _pin_times(image, first)
            superblocks = [first]
            for index, plan in enumerate(more_volumes, 1):  # clones of the empty volume
                superblocks.append(_clone_volume(image, first, index, plan))
            # The content goes at the end of the first chunk (the container's end at
            # DEFAULT_SIZE): the only one mkapfs gives an allocation bitmap.
            data_block = min(size // BLOCK, _chunk_blocks(image))
            for plan, superblock in zip(plans, superblocks, strict=True):
                data_block = _plant(image, superblock, plan, data_block, answers)
            image.flush()
    except BaseException:
        target.unlink()  # half an image would pass for a made one
        raise
    return ApfsAnswerKey(str(target), label, size, CONTAINER_UUID, VOLUME_UUID,
                         tuple(answers), tuple(ApfsVolumeAnswer(index, plan.name, uuids[index])
                                               for index, plan in enumerate(plans)))


def _plant(image: mmap.mmap, superblock: int, plan: ApfsVolumePlan, data_block: int,
           answers: list[ApfsAnswer]) -> int:
    """Write ``plan``'s plants into the volume at block ``superblock``, their content in
    the blocks below ``data_block``, adding their answers; the lowest block used."""
    tree = _tree_block(image, superblock) * BLOCK
    records = _read_records(bytes(image[tree:tree + BLOCK]))
    directories: dict[str, int] = {"": 2}
    children: dict[int, int] = {}
    next_id = FIRST_ID
    found: list[ApfsAnswer] = []
    extents: list[tuple[bytes, bytes]] = []  # the volume's physical extents
    used = 0  # blocks of content
    for plant in plan.plants:
        *parents, name = plant.path.split("/")
        parent, prefix = 2, ""
        for part in parents:  # the directories on the way, once each
            prefix = f"{prefix}{part}"
            if prefix not in directories:
                directories[prefix] = next_id
                records += [_drec(parent, part, next_id, _DT_DIR, plant.crtime),
                            _inode(next_id, parent, part, 0o040755, 0, plant, None)]
                children[parent] = children.get(parent, 0) + 1
                found.append(ApfsAnswer(prefix, next_id, "directory", 0, "", plant.crtime,
                                        plant.mtime, plant.ctime, plant.atime, plan.name))
                next_id += 1
            parent, prefix = directories[prefix], f"{prefix}/"
        blocks = -(-len(plant.data) // BLOCK)
        data_block -= blocks
        _allocate(image, list(range(data_block, data_block + blocks)))
        image[data_block * BLOCK:data_block * BLOCK + len(plant.data)] = plant.data
        used += blocks
        records += [_drec(parent, name, next_id, _DT_REG, plant.crtime),
                    _inode(next_id, parent, name, 0o100644, 1, plant, len(plant.data)),
                    (_key(next_id, _DSTREAM_ID), struct.pack("<I", 1))]
        if blocks:
            records.append((_key(next_id, _EXTENT) + struct.pack("<Q", 0),
                            struct.pack("<QQQ", blocks * BLOCK, data_block, 0)))
            extents.append((_key(data_block, _PHYS_EXT),  # APFS_KIND_NEW, one reference
                            struct.pack("<QQi", blocks | 1 << 60, next_id, 1)))
        children[parent] = children.get(parent, 0) + 1
        found.append(ApfsAnswer(plant.path, next_id, "file", len(plant.data),
                                hashlib.sha256(plant.data).hexdigest(), plant.crtime,
                                plant.mtime, plant.ctime, plant.atime, plan.name))
        next_id += 1
    records = [_with_children(record, children) for record in records]
    image[tree:tree + BLOCK] = _write_records(bytes(image[tree:tree + BLOCK]), records)
    files = sum(1 for answer in found if answer.type == "file")
    at = superblock * BLOCK
    struct.pack_into("<QQQ", image, at + 176, next_id, files, len(directories) - 1)
    if extents:
        refs = _u64(image, at + 144) * BLOCK  # apfs_extentref_tree_oid: mkapfs's is empty
        image[refs:refs + BLOCK] = _write_records(bytes(image[refs:refs + BLOCK]), extents)
    struct.pack_into("<Q", image, at + 88, _u64(image, at + 88) + used)  # apfs_fs_alloc_count
    _seal(image, superblock)
    answers.extend(found)
    return data_block


def _with_children(record: tuple[bytes, bytes], children: dict[int, int]) -> tuple[bytes,
                                                                                   bytes]:
    """A directory's inode record with its number of children (j_inode_val_t.nchildren)."""
    key, value = record
    header, = struct.unpack_from("<Q", key)
    obj_id = header & ((1 << 60) - 1)
    if header >> 60 != _INODE or obj_id not in children:
        return record
    return key, value[:56] + struct.pack("<i", children[obj_id]) + value[60:]
