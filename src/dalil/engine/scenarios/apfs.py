"""APFS container images with planted files and an answer key, built by apfsprogs.

``mkapfs`` (Debian's apfsprogs) makes an empty container with one volume in a regular
file, with no kernel driver and no root; nothing in Debian writes files into one
without mounting it. The planted files are therefore written here, into the volume's
file-system tree, by hand: mkapfs leaves that tree as a single root-and-leaf B-tree node
(the root directory and ``private-dir``), which is re-serialised with each plant's
directory record, inode (with its name and data-stream fields), data-stream reference
and file extent, and re-checksummed (Fletcher-64); the content goes into blocks at the
container's end, which mkapfs leaves free. The volume superblock's next object id and
file and directory counts follow.

Limits: the space manager is not told about the planted blocks, so ``apfsck`` reports
them as free; the node must hold every record (a few dozen small plants). The image is
``DEFAULT_SIZE`` bytes, the smallest container mkapfs makes, and sparse on disk.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dalil.engine.forensics.apfs import fletcher64

MIB = 1024 * 1024
DEFAULT_SIZE = 128 * MIB  # mkapfs: "small containers are not supported" below this
DEFAULT_LABEL = "Evidence Vol"
CONTAINER_UUID = "a9f50000-da11-4000-8000-0000000000a1"
VOLUME_UUID = "a9f50000-da11-4000-8000-0000000000b1"
BLOCK = 4096  # bytes: mkapfs's block size
FIRST_ID = 16  # the first object id APFS gives a user file
_BTREE_INFO = 40  # bytes at the end of a root node
_TOC = 56  # the table of contents starts after the node header
_INODE, _DSTREAM_ID, _EXTENT, _DREC = 3, 6, 8, 9  # j_obj_types
_DT_DIR, _DT_REG = 4, 8
_NAME_FIELD, _DSTREAM_FIELD = 4, 8  # INO_EXT_TYPE_NAME, INO_EXT_TYPE_DSTREAM
_OWNER, _GROUP = 501, 20  # a macOS user's uid and the staff group


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


@dataclass(frozen=True)
class ApfsAnswerKey:
    image: str
    label: str
    size: int  # bytes of the image (= the container)
    container_uuid: str
    volume_uuid: str
    entries: tuple[ApfsAnswer, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def entry(self, path: str) -> ApfsAnswer:
        return next(answer for answer in self.entries if answer.path == path)


DEFAULT_PLANTS = (
    ApfsPlant("ransom_note.txt", b"Send 0.5 BTC to bc1qexampleaddress0000000000000000000\n"),
    ApfsPlant("Documents/ledger.csv", b"date,amount\n2024-01-02,950.00\n" * 300,
              crtime=1_710_000_000_000_000_001, mtime=1_710_000_001_999_999_999,
              ctime=1_710_000_002_500_000_000, atime=1_710_000_003_000_000_007),
    ApfsPlant("Documents/empty.txt", b""),
)


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


def _sort_key(record: tuple[bytes, bytes]) -> tuple[int, int, bytes]:
    header, = struct.unpack_from("<Q", record[0])
    return header & ((1 << 60) - 1), header >> 60, record[0][8:]


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


def _find(image: bytearray, kind: int, subtype: int) -> int:
    """The block number of the first object of ``kind`` and ``subtype``."""
    for block in range(len(image) // BLOCK):
        at = block * BLOCK
        if struct.unpack_from("<HHI", image, at + 24) == (kind, 0, subtype):
            return block
    raise ApfsScenarioError(f"mkapfs made no object of type {kind:#x}/{subtype:#x}")


def _mkapfs(path: Path, label: str) -> None:
    if shutil.which("mkapfs") is None:
        raise ApfsScenarioError("mkapfs not found: install Debian's apfsprogs")
    with path.open("xb") as handle:
        handle.truncate(DEFAULT_SIZE)
    result = subprocess.run(["mkapfs", "-L", label, "-U", CONTAINER_UUID, "-u", VOLUME_UUID,
                             str(path)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        path.unlink()
        detail = " ".join((result.stderr or result.stdout).split())[:2000]
        raise ApfsScenarioError(f"{path}: mkapfs failed ({result.returncode}): {detail}")


def build_apfs_image(path: str | Path, plants: tuple[ApfsPlant, ...] = DEFAULT_PLANTS,
                     label: str = DEFAULT_LABEL) -> ApfsAnswerKey:
    """Write an APFS container image at ``path`` (which must not exist) with one volume
    named ``label`` holding ``plants``, and return what an examiner should find."""
    target = Path(path)
    if target.exists():
        raise ApfsScenarioError(f"{target}: already exists")
    _mkapfs(target, label)
    image = bytearray(target.read_bytes())
    tree = _find(image, 0x0002, 0x0E) * BLOCK  # the volume's file-system tree root
    superblock = _find(image, 0x000D, 0) * BLOCK  # the volume superblock
    records = _read_records(bytes(image[tree:tree + BLOCK]))
    answers: list[ApfsAnswer] = []
    directories: dict[str, int] = {"": 2}
    children: dict[int, int] = {}
    next_id, data_block = FIRST_ID, DEFAULT_SIZE // BLOCK
    for plant in plants:
        *parents, name = plant.path.split("/")
        parent, prefix = 2, ""
        for part in parents:  # the directories on the way, once each
            prefix = f"{prefix}{part}"
            if prefix not in directories:
                directories[prefix] = next_id
                records += [_drec(parent, part, next_id, _DT_DIR, plant.crtime),
                            _inode(next_id, parent, part, 0o040755, 0, plant, None)]
                children[parent] = children.get(parent, 0) + 1
                answers.append(ApfsAnswer(prefix, next_id, "directory", 0, "", plant.crtime,
                                          plant.mtime, plant.ctime, plant.atime))
                next_id += 1
            parent, prefix = directories[prefix], f"{prefix}/"
        blocks = -(-len(plant.data) // BLOCK)
        data_block -= blocks
        image[data_block * BLOCK:data_block * BLOCK + len(plant.data)] = plant.data
        records += [_drec(parent, name, next_id, _DT_REG, plant.crtime),
                    _inode(next_id, parent, name, 0o100644, 1, plant, len(plant.data)),
                    (_key(next_id, _DSTREAM_ID), struct.pack("<I", 1))]
        if blocks:
            records.append((_key(next_id, _EXTENT) + struct.pack("<Q", 0),
                            struct.pack("<QQQ", blocks * BLOCK, data_block, 0)))
        children[parent] = children.get(parent, 0) + 1
        answers.append(ApfsAnswer(plant.path, next_id, "file", len(plant.data),
                                  hashlib.sha256(plant.data).hexdigest(), plant.crtime,
                                  plant.mtime, plant.ctime, plant.atime))
        next_id += 1
    records = [_with_children(record, children) for record in records]
    image[tree:tree + BLOCK] = _write_records(bytes(image[tree:tree + BLOCK]), records)
    files = sum(1 for a in answers if a.type == "file")
    struct.pack_into("<QQQ", image, superblock + 176, next_id, files, len(directories) - 1)
    struct.pack_into("<Q", image, superblock, fletcher64(bytes(image[superblock:superblock
                                                                     + BLOCK])))
    target.write_bytes(image)
    return ApfsAnswerKey(str(target), label, DEFAULT_SIZE, CONTAINER_UUID, VOLUME_UUID,
                         tuple(answers))


def _with_children(record: tuple[bytes, bytes], children: dict[int, int]) -> tuple[bytes,
                                                                                   bytes]:
    """A directory's inode record with its number of children (j_inode_val_t.nchildren)."""
    key, value = record
    header, = struct.unpack_from("<Q", key)
    obj_id = header & ((1 << 60) - 1)
    if header >> 60 != _INODE or obj_id not in children:
        return record
    return key, value[:56] + struct.pack("<i", children[obj_id]) + value[60:]
