"""XFS file systems, read through libyal's libfsxfs (``pyfsxfs``): The Sleuth Kit has none.

:func:`~dalil.engine.forensics.filesystem.open_file_system` comes here when TSK cannot
open a volume that starts with the XFS superblock magic ``XFSB``. The returned
:class:`~dalil.engine.forensics.filesystem.FileSystem` has ``kind == "xfs"`` and, in
place of the TSK handle, an :class:`XfsVolume` that offers the two calls the content
readers use (``open_meta(inode=...)`` and the file's ``read_random(offset, size)``), so
that :func:`~dalil.engine.forensics.extract.read_content` and the hashing stream read XFS
files unchanged; the walk and the block map dispatch here on ``fs.kind``.

Limits: libfsxfs reads the live directory tree only. It does not recover deleted entries
(a removed XFS name stays in a directory block's free space until reused, but libfsxfs
does not look there), so every entry is allocated (``deleted=False``) and a listing of
deleted files is empty on XFS. Times are kept to the microsecond (``datetime``), as on
the TSK path, from XFS's nanosecond timestamps; ``epoch_times`` are whole seconds.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dalil.engine.forensics.blockmap import Extent
from dalil.engine.forensics.filesystem import FileSystem, FileSystemError, describe
from dalil.engine.forensics.image import Image, ImageError, ImageRegion
from dalil.engine.forensics.volume import Volume
from dalil.engine.forensics.walk import MAX_DEPTH, Entry, WalkProblem

XFS_MAGIC = b"XFSB"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DETAIL = 400  # characters of a libfsxfs error chain kept in a message
_SPARSE = 0x1  # LIBFSXFS_EXTENT_FLAG_IS_SPARSE: a hole or an unwritten (preallocated) extent
# File type bits of an inode's mode -> (Entry.type, the letter fls prints).
_TYPES = {0o010000: ("fifo", "p"), 0o020000: ("char-device", "c"),
          0o040000: ("directory", "d"), 0o060000: ("block-device", "b"),
          0o100000: ("file", "r"), 0o120000: ("symlink", "l"), 0o140000: ("socket", "s")}


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


class _Source(ImageRegion):
    """The volume as libfsxfs reads it, remembering why a read came back short: a read
    error of the image, or a read past the end of a truncated image."""

    def __init__(self, image: Image, offset: int, size: int) -> None:
        super().__init__(image, offset, size)
        self.image = image
        self.offset = offset
        self.claimed = size
        self.error: ImageError | None = None
        self.past_end: int | None = None  # media offset of the first read beyond the image

    def read(self, size: int = -1) -> bytes:
        start = self.offset + self.tell()
        try:
            data = super().read(size)
        except ImageError as exc:
            self.error = exc
            raise
        if size is not None and 0 <= len(data) < size and start + size > self.image.size \
                and self.past_end is None:
            self.past_end = max(start + len(data), self.image.size)
        return data

    def reset(self) -> None:
        self.error = None
        self.past_end = None


class XfsFile:
    """One inode, opened through libfsxfs: what the content readers call the TSK file."""

    def __init__(self, volume: XfsVolume, handle: Any) -> None:
        self.volume = volume
        self.handle = handle  # pyfsxfs.file_entry

    def read_random(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of the content at ``offset`` (empty past the end);
        ``OSError`` with a message that says why (read error, truncated image)."""
        data: bytes = self.volume.call(self.handle.read_buffer_at_offset, size, offset)
        return data


class XfsVolume:
    """The opened libfsxfs volume of one XFS file system (``FileSystem.tsk`` for XFS)."""

    def __init__(self, image: Image, volume: Volume, superblock: Superblock) -> None:
        try:
            import pyfsxfs
        except ImportError as exc:
            raise FileSystemError(f"{describe(image, volume)}: XFS file system; reading it "
                                  "needs libfsxfs-python (pip install libfsxfs-python)") \
                from exc
        self.superblock = superblock
        self.source = _Source(image, volume.offset, superblock.size)
        self.handle = pyfsxfs.volume()
        self.call(self.handle.open_file_object, self.source)

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` into libfsxfs; its errors come back as ``OSError`` naming
        the cause we know of (the image's read error, truncation) before libfsxfs's own."""
        self.source.reset()
        try:
            return function(*args)
        except (OSError, ValueError) as exc:
            raise OSError(self.explain(exc)) from exc

    def explain(self, exc: BaseException) -> str:
        detail = " ".join(str(exc).split()) or repr(exc)
        if len(detail) > _DETAIL:  # libyal's whole error chain: its head says enough
            detail = detail[:_DETAIL - 1] + "…"
        source = self.source
        if source.error is not None:
            return f"{source.error} (libfsxfs: {detail})"
        if source.past_end is not None:
            return (f"read past the end of the image at offset {source.past_end} (the image "
                    f"is {source.image.size} bytes; the file system spans "
                    f"{source.claimed} bytes from offset {source.offset}): truncated "
                    f"image? (libfsxfs: {detail})")
        return f"libfsxfs: {detail}"

    def open_meta(self, inode: int) -> XfsFile:
        """The file with inode number ``inode`` (``OSError`` if there is none)."""
        return XfsFile(self, self.call(self.handle.get_file_entry_by_inode, inode))

    def root(self) -> XfsFile:
        return XfsFile(self, self.call(self.handle.get_root_directory))

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


def _time(nanoseconds: int) -> tuple[datetime | None, int]:
    """XFS nanoseconds since 1970 as a UTC datetime (None for 0, as TSK) and seconds."""
    if not nanoseconds:
        return None, 0
    seconds, nano = divmod(nanoseconds, 1_000_000_000)
    return _EPOCH + timedelta(seconds=seconds, microseconds=nano // 1000), seconds


def _entry(fs: FileSystem, file: XfsFile, name: str, raw: bytes, parent: str) -> Entry:
    """The :class:`Entry` of one name; ``OSError`` if its inode cannot be read."""
    handle, call = file.handle, file.volume.call
    inode = int(call(handle.get_inode_number))
    mode = int(call(handle.get_file_mode))
    kind, letter = _TYPES.get(mode & 0o170000, ("unknown", "-"))
    atime, a = _time(int(call(handle.get_access_time_as_integer)))
    mtime, m = _time(int(call(handle.get_modification_time_as_integer)))
    ctime, c = _time(int(call(handle.get_inode_change_time_as_integer)))
    crtime, cr = _time(int(call(handle.get_creation_time_as_integer)))
    size = int(call(handle.get_size))
    if kind == "directory":
        size = file.volume.directory_size(inode) or size
    link = None
    if kind == "symlink":
        target = call(handle.get_symbolic_link_target)
        link = str(target) if target is not None else ""
    return Entry(
        inode=inode, path=f"{parent}{name}", name=name, type=kind,
        size=size, deleted=False, mtime=mtime, atime=atime,
        ctime=ctime, crtime=crtime, name_allocated=True, meta_allocated=True,
        fs_offset=fs.offset, name_type=letter, meta_type=letter, mode=mode & 0o7777,
        uid=int(call(handle.get_owner_identifier)), gid=int(call(handle.get_group_identifier)),
        link=link, raw_name=raw, parent=parent, epoch_times=(a, m, c, cr))


def _name(file: XfsFile) -> tuple[str, bytes]:
    """The name and its bytes. libfsxfs refuses names that are not UTF-8 and gives no
    bytes: such a name is listed as ``$unreadable-name-INODE`` rather than dropped."""
    try:
        name = file.volume.call(file.handle.get_name)
    except OSError:
        name = None
    if name is None:
        name = f"$unreadable-name-{int(file.volume.call(file.handle.get_inode_number))}"
    text = str(name)
    return text, text.encode("utf-8", "surrogateescape")


def walk_xfs(
    fs: FileSystem,
    *,
    recursive: bool = True,
    start_inode: int | None = None,
    on_problem: Callable[[WalkProblem], None] | None = None,
) -> Iterator[tuple[Entry, XfsFile]]:
    """Every name under the root (or ``start_inode``), depth first in directory order,
    each with its :class:`XfsFile`; as :func:`~dalil.engine.forensics.walk.walk_files`:
    iterative, loop-safe, a damaged directory or entry is reported and skipped."""
    backend: XfsVolume = fs.tsk
    root = fs.root_inode if start_inode is None else start_inode

    def report(path: str, inode: int, message: str) -> None:
        if on_problem is not None:
            on_problem(WalkProblem(path or "/", inode, f"{fs.where()}: directory /{path} "
                                                       f"(inode {inode}): {message}"))

    def children(directory: XfsFile, path: str, inode: int) -> int | None:
        try:
            return int(backend.call(directory.handle.get_number_of_sub_file_entries))
        except OSError as exc:
            report(path, inode, str(exc))
            return None

    try:
        top = backend.root() if start_inode is None else backend.open_meta(root)
    except OSError as exc:
        report("", root, str(exc))
        return
    count = children(top, "", root)
    if count is None:
        return
    # Each frame: the directory, its number of entries, the next index, its path prefix,
    # its inode.
    stack: list[list[Any]] = [[top, count, 0, "", root]]
    chain = {root}
    while stack:
        frame = stack[-1]
        directory, count, index, prefix, dir_inode = frame
        if index >= count:
            stack.pop()
            chain.discard(dir_inode)
            continue
        frame[2] = index + 1
        try:
            child = XfsFile(backend, backend.call(directory.handle.get_sub_file_entry, index))
            name, raw = _name(child)
            entry = _entry(fs, child, name, raw, prefix)
        except OSError as exc:
            report(prefix.rstrip("/"), dir_inode, f"entry {index}: {exc}")
            continue
        yield entry, child
        if not recursive or entry.type != "directory" or len(stack) >= MAX_DEPTH:
            continue
        if entry.inode in chain:
            report(entry.path, entry.inode,
                   "directory loop: it is one of its own parent directories; not entered")
            continue
        sub_count = children(child, entry.path, entry.inode)
        if sub_count is not None:
            stack.append([child, sub_count, 0, f"{entry.path}/", entry.inode])
            chain.add(entry.inode)


def bare_entry(fs: FileSystem, inode: int) -> Entry:
    """An entry for ``inode`` that no name in the walk reaches (``$inode-N``);
    ``OSError`` if there is no such inode."""
    name = f"$inode-{inode}"
    entry = _entry(fs, fs.tsk.open_meta(inode=inode), name, name.encode(), "")
    return replace(entry, name_allocated=False)


def file_extents(fs: FileSystem, problems: list[str] | None = None) -> Iterator[Extent]:
    """The data extents of every regular file, as media offsets (see
    :func:`~dalil.engine.forensics.blockmap.file_extents`).

    libfsxfs gives each extent's place on the volume but not its offset in the file:
    the offsets are the running sum, which is right only when the extents cover the file
    without holes or preallocation. A file where they do not is left out and named in
    ``problems``; directories and symlinks are not mapped.
    """
    on_problem = (lambda p: problems.append(p.message)) if problems is not None else None
    block = fs.block_size
    for entry, file in walk_xfs(fs, on_problem=on_problem):
        if entry.type != "file" or not entry.size:
            continue
        try:
            count = int(fs.tsk.call(file.handle.get_number_of_extents))
            runs = [tuple(fs.tsk.call(file.handle.get_extent, i)) for i in range(count)]
        except OSError as exc:
            if problems is not None:
                problems.append(f"{fs.where()}: {entry.path} (inode {entry.inode}): "
                                f"extents not readable: {exc}")
            continue
        allocated = -(-entry.size // block) * block
        if any(int(flags) & _SPARSE for _, _, flags in runs) or \
                sum(int(size) for _, size, _ in runs) != allocated:
            if problems is not None:
                problems.append(f"{fs.where()}: {entry.path} (inode {entry.inode}): not "
                                "mapped: sparse or preallocated extents, whose offsets in "
                                "the file libfsxfs does not give")
            continue
        file_offset = 0
        for start, size, _ in runs:
            begin = fs.offset + int(start)
            inside = min(int(size), max(0, entry.size - file_offset))
            whose = Extent(begin, begin + inside, fs.volume.index, fs.kind, entry.inode,
                           entry.address, entry.path, file_offset)
            if inside:
                yield whose
            if inside < int(size):
                yield Extent(begin + inside, begin + int(size), fs.volume.index, fs.kind,
                             entry.inode, entry.address, entry.path, file_offset + inside,
                             slack=True)
            file_offset += int(size)
