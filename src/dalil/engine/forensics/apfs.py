"""APFS containers, read through libyal's libfsapfs (``pyfsapfs``): pytsk3 has no pool
API, so The Sleuth Kit cannot open an APFS container from a plain image.

:func:`~dalil.engine.forensics.filesystem.open_file_system` comes here, before asking
TSK, when a volume holds the APFS container superblock magic ``NXSB`` at byte 32. A
container holds one or more APFS volumes (file systems sharing its blocks): the first is
opened unless ``--logical K|NAME`` chooses another by index or name. The returned
:class:`~dalil.engine.forensics.filesystem.FileSystem` has ``kind == "apfs"`` and, in
place of the TSK handle, an :class:`ApfsVolume` offering ``open_meta(inode=...)`` and
the file's ``read_random(offset, size)``, so that the content readers work unchanged;
the walk, the inode lookup and the block map dispatch here on ``fs.kind``.

Limits: libfsapfs reads the live file-system tree of the volume's current checkpoint
only. It does not recover deleted entries (APFS keeps no freed names in its B-trees;
older checkpoints and snapshots are not examined), so every entry is allocated
(``deleted=False``). An encrypted volume is opened with ``--password`` or
``--recovery-password``; without one it is reported as encrypted, never as "no file
system". Times are kept to the microsecond (``datetime``), as on the TSK path, from
APFS's nanosecond timestamps; ``epoch_times`` are whole seconds.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dalil.engine.forensics.blockmap import Extent
from dalil.engine.forensics.encryption import Keys
from dalil.engine.forensics.filesystem import FileSystem, FileSystemError, describe
from dalil.engine.forensics.image import Image, ImageError, ImageRegion
from dalil.engine.forensics.volume import Volume
from dalil.engine.forensics.walk import MAX_DEPTH, Entry, WalkProblem

APFS_MAGIC = b"NXSB"
MAGIC_OFFSET = 32  # bytes: after the object header (checksum, oid, xid, type, subtype)
ROOT_IDENTIFIER = 2  # the root directory's inode number on every APFS volume
_HEADER = 984  # bytes of nx_superblock_t up to the end of its volume (fs_oid) array
_MAX_VOLUMES = 100  # NX_MAX_FILE_SYSTEMS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DETAIL = 400  # characters of a libfsapfs error chain kept in a message
# File type bits of an inode's mode -> (Entry.type, the letter fls prints).
_TYPES = {0o010000: ("fifo", "p"), 0o020000: ("char-device", "c"),
          0o040000: ("directory", "d"), 0o060000: ("block-device", "b"),
          0o100000: ("file", "r"), 0o120000: ("symlink", "l"), 0o140000: ("socket", "s")}


class EncryptedApfsVolumeError(FileSystemError):
    """The APFS volume is encrypted and no password (or a wrong one) was given."""


def is_apfs(image: Image, offset: int) -> bool:
    """The volume at ``offset`` (bytes) holds the APFS container superblock magic."""
    return image.read(offset + MAGIC_OFFSET, 4) == APFS_MAGIC


def fletcher64(block: bytes) -> int:
    """The checksum APFS stores in the first 8 bytes of every object, over the rest."""
    words = struct.unpack_from(f"<{(len(block) - 8) // 4}I", block, 8)
    low = high = 0
    for word in words:  # modulo 2**32 - 1, as the APFS reference says
        low = (low + word) % 0xFFFFFFFF
        high = (high + low) % 0xFFFFFFFF
    check_low = 0xFFFFFFFF - ((low + high) % 0xFFFFFFFF)
    check_high = 0xFFFFFFFF - ((low + check_low) % 0xFFFFFFFF)
    return (check_high << 32) | check_low


@dataclass(frozen=True)
class ContainerSuperblock:
    """The fields of the container superblock (block 0) that Dalil reports and checks."""

    block_size: int  # bytes
    blocks: int  # blocks of the container
    identifier: str  # the container's UUID

    @property
    def size(self) -> int:
        """Bytes the container spans."""
        return self.blocks * self.block_size


def read_container_superblock(image: Image, volume: Volume) -> ContainerSuperblock:
    """Parse and check the container superblock in block 0; :class:`FileSystemError`
    names the image, the volume and the offset.

    Parsed by hand (little-endian fields at fixed offsets, from Apple's APFS reference)
    because a bad value is better named here than as a libfsapfs error chain; the block
    must carry its Fletcher-64 checksum.
    """
    where = f"{describe(image, volume)}: APFS container superblock at offset {volume.offset}"
    raw = image.read(volume.offset, 4096)
    if len(raw) < _HEADER:
        raise FileSystemError(f"{where}: only {len(raw)} of its {_HEADER} bytes are in the "
                              f"image ({image.size} bytes): truncated image?")
    block_size, blocks = struct.unpack_from("<IQ", raw, 36)
    identifier = str(uuid.UUID(bytes=raw[72:88]))
    max_volumes, = struct.unpack_from("<I", raw, 180)
    problems = []
    if block_size & (block_size - 1) or not 4096 <= block_size <= 65536:
        problems.append(f"block size {block_size} is not a power of two from 4096 to 65536")
    if not blocks:
        problems.append("the container has 0 blocks")
    if not 0 < max_volumes <= _MAX_VOLUMES:
        problems.append(f"room for {max_volumes} volumes (1 to {_MAX_VOLUMES} exist)")
    if not problems:
        block = image.read(volume.offset, block_size)
        if len(block) < block_size:
            raise FileSystemError(f"{where}: only {len(block)} of its {block_size} bytes are "
                                  f"in the image ({image.size} bytes): truncated image?")
        stored, computed = struct.unpack_from("<Q", block)[0], fletcher64(block)
        if stored != computed:
            problems.append(f"checksum {stored:#018x} stored, {computed:#018x} computed")
    if problems:
        raise FileSystemError(f"{where}: corrupt: {'; '.join(problems)}")
    return ContainerSuperblock(block_size, blocks, identifier)


@dataclass(frozen=True)
class ApfsVolumeInfo:
    """One APFS volume of a container, as ``dalil image info`` lists it."""

    index: int
    name: str
    identifier: str  # the volume's UUID
    encrypted: bool  # locked: libfsapfs needs a password to read it

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "identifier": self.identifier,
                "encrypted": self.encrypted}


@dataclass(frozen=True)
class ApfsContainerInfo:
    """An APFS container: where it is, its geometry and its volumes."""

    offset: int  # bytes from the start of the image
    block_size: int  # bytes
    size: int  # bytes
    identifier: str
    volumes: tuple[ApfsVolumeInfo, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "block_size": self.block_size, "size": self.size,
                "identifier": self.identifier,
                "volumes": [volume.to_dict() for volume in self.volumes]}


class _Source(ImageRegion):
    """The container as libfsapfs reads it, remembering why a read came back short: a read
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


class _Container:
    """The opened libfsapfs container; its calls' errors come back as ``OSError`` naming
    the cause we know of (the image's read error, truncation) before libfsapfs's own."""

    def __init__(self, image: Image, volume: Volume, superblock: ContainerSuperblock) -> None:
        try:
            import pyfsapfs
        except ImportError as exc:
            raise FileSystemError(f"{describe(image, volume)}: APFS container; reading it "
                                  "needs libfsapfs-python (pip install libfsapfs-python)") \
                from exc
        self.superblock = superblock
        self.source = _Source(image, volume.offset, superblock.size)
        self.handle = pyfsapfs.container()
        self.call(self.handle.open_file_object, self.source)

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
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
            return f"{source.error} (libfsapfs: {detail})"
        if source.past_end is not None:
            return (f"read past the end of the image at offset {source.past_end} (the image "
                    f"is {source.image.size} bytes; the container spans {source.claimed} "
                    f"bytes from offset {source.offset}): truncated image? "
                    f"(libfsapfs: {detail})")
        return f"libfsapfs: {detail}"

    def volumes(self) -> list[tuple[ApfsVolumeInfo, Any]]:
        """Each volume's description and libfsapfs handle, in container order."""
        found = []
        for index in range(int(self.call(self.handle.get_number_of_volumes))):
            handle = self.call(self.handle.get_volume, index)
            name = str(self.call(handle.get_name) or "")
            identifier = str(self.call(handle.get_identifier) or "")
            locked = bool(self.call(handle.is_locked))
            found.append((ApfsVolumeInfo(index, name, identifier, locked), handle))
        return found


class ApfsFile:
    """One file entry, opened through libfsapfs: what the content readers call the TSK
    file."""

    def __init__(self, volume: ApfsVolume, handle: Any) -> None:
        self.volume = volume
        self.handle = handle  # pyfsapfs.file_entry

    def read_random(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of the content at ``offset`` (empty past the end);
        ``OSError`` with a message that says why (read error, truncated image)."""
        data: bytes = self.volume.call(self.handle.read_buffer_at_offset, size, offset)
        return data


class ApfsVolume:
    """One opened (unlocked) volume of an APFS container (``FileSystem.tsk`` for APFS)."""

    def __init__(self, container: _Container, info: ApfsVolumeInfo, handle: Any) -> None:
        self.container = container
        self.info = info
        self.handle = handle  # pyfsapfs.volume
        self.call = container.call

    def describe(self) -> str:
        """``APFS volume 0 'Data'`` for messages."""
        return f"APFS volume {self.info.index} {self.info.name!r}"

    def open_meta(self, inode: int) -> ApfsFile:
        """The file entry with identifier ``inode`` (``OSError`` if there is none)."""
        return ApfsFile(self, self.call(self.handle.get_file_entry_by_identifier, inode))

    def root(self) -> ApfsFile:
        return ApfsFile(self, self.call(self.handle.get_root_directory))


def _open_container(image: Image, volume: Volume) -> _Container:
    superblock = read_container_superblock(image, volume)
    try:
        return _Container(image, volume, superblock)
    except OSError as exc:
        raise FileSystemError(f"{describe(image, volume)}: APFS container at offset "
                              f"{volume.offset} cannot be read: {exc}") from exc


def container_info(image: Image, volume: Volume) -> ApfsContainerInfo:
    """The APFS container of ``volume`` and its volumes (names, identifiers, whether
    encrypted), or :class:`FileSystemError` naming the image, the volume and the offset."""
    container = _open_container(image, volume)
    try:
        volumes = tuple(info for info, _ in container.volumes())
    except OSError as exc:
        raise FileSystemError(f"{describe(image, volume)}: APFS container at offset "
                              f"{volume.offset}: its volumes cannot be read: {exc}") from exc
    block = container.superblock
    return ApfsContainerInfo(volume.offset, block.block_size, block.size, block.identifier,
                             volumes)


def _choose(found: list[tuple[ApfsVolumeInfo, Any]], choice: int | str | None,
            where: str) -> tuple[ApfsVolumeInfo, Any]:
    """The volume ``choice`` names (its name first, then its index); None: the first."""
    if not found:
        raise FileSystemError(f"{where} holds no volumes")
    if choice is None:
        return found[0]
    text = str(choice).strip()
    for info, handle in found:  # a name first: a volume may be called "1"
        if isinstance(choice, str) and info.name == text:
            return info, handle
    for info, handle in found:
        if text.isdigit() and info.index == int(text):
            return info, handle
    listing = ", ".join(f"{info.index} {info.name!r}" for info, _ in found)
    raise FileSystemError(f"{where}: no volume {text!r} (volumes: {listing})")


def _unlock(volume: ApfsVolume, keys: Keys | None, where: str) -> None:
    """Unlock an encrypted volume with the examiner's password or recovery password, or
    raise :class:`EncryptedApfsVolumeError` saying what to give (``where``: the image,
    the volume and the container's offset)."""
    name = f"{where}: {volume.describe()}"
    if keys is not None and (keys.password or keys.recovery_password):
        try:
            if keys.password:
                volume.call(volume.handle.set_password, keys.password)
            if keys.recovery_password:
                volume.call(volume.handle.set_recovery_password, keys.recovery_password)
            if volume.call(volume.handle.unlock):
                return
        except OSError as exc:
            raise EncryptedApfsVolumeError(f"{name} is encrypted and could not be unlocked: "
                                           f"{exc}") from exc
        raise EncryptedApfsVolumeError(f"{name} is encrypted: the password or recovery "
                                       "password does not unlock it")
    raise EncryptedApfsVolumeError(f"{name} is encrypted: give its --password or "
                                   "--recovery-password to read it")


def open_apfs(image: Image, volume: Volume, logical: int | str | None = None,
              keys: Keys | None = None) -> FileSystem:
    """Open APFS volume ``logical`` (index or name; None: the first) of the container in
    ``volume``, or raise :class:`FileSystemError` naming the image, the volume and the
    offset (:class:`EncryptedApfsVolumeError` for a locked volume)."""
    where = f"{describe(image, volume)}: APFS container at offset {volume.offset}"
    container = _open_container(image, volume)
    try:
        info, handle = _choose(container.volumes(), logical, where)
    except OSError as exc:
        raise FileSystemError(f"{where}: its volumes cannot be read: {exc}") from exc
    backend = ApfsVolume(container, info, handle)
    if info.encrypted:
        _unlock(backend, keys, where)
    try:
        root = backend.root()
        backend.call(root.handle.get_number_of_sub_file_entries)
        last = int(backend.call(handle.get_next_file_entry_identifier)) - 1
    except OSError as exc:
        raise FileSystemError(f"{where}: {backend.describe()} cannot be read: {exc}") from exc
    block = container.superblock
    return FileSystem(image, volume, backend, "apfs", block.block_size, ROOT_IDENTIFIER, 1,
                      max(last, ROOT_IDENTIFIER), block.size)


def _time(nanoseconds: int) -> tuple[datetime | None, int]:
    """APFS nanoseconds since 1970 as a UTC datetime (None for 0, as TSK; None too for a
    damaged time beyond what a datetime holds) and whole seconds."""
    if not nanoseconds:
        return None, 0
    seconds, nano = divmod(nanoseconds, 1_000_000_000)
    try:
        return _EPOCH + timedelta(seconds=seconds, microseconds=nano // 1000), seconds
    except OverflowError:
        return None, seconds


def _entry(fs: FileSystem, file: ApfsFile, name: str, raw: bytes, parent: str) -> Entry:
    """The :class:`Entry` of one name; ``OSError`` if its inode cannot be read."""
    handle, call = file.handle, file.volume.call
    inode = int(call(handle.get_identifier))
    mode = int(call(handle.get_file_mode))
    kind, letter = _TYPES.get(mode & 0o170000, ("unknown", "-"))
    atime, a = _time(int(call(handle.get_access_time_as_integer)))
    # libfsapfs (20260921) calls the inode's first time "modification" and the second
    # "creation"; Apple's APFS reference, The Sleuth Kit and the Linux driver have
    # create_time first, then mod_time. Read as Apple writes them: swapped back here.
    mtime, m = _time(int(call(handle.get_creation_time_as_integer)))
    crtime, cr = _time(int(call(handle.get_modification_time_as_integer)))
    ctime, c = _time(int(call(handle.get_inode_change_time_as_integer)))
    link = None
    if kind == "symlink":
        target = call(handle.get_symbolic_link_target)
        link = str(target) if target is not None else ""
    return Entry(
        inode=inode, path=f"{parent}{name}", name=name, type=kind,
        size=int(call(handle.get_size)), deleted=False, mtime=mtime, atime=atime,
        ctime=ctime, crtime=crtime, name_allocated=True, meta_allocated=True,
        fs_offset=fs.offset, name_type=letter, meta_type=letter, mode=mode & 0o7777,
        uid=int(call(handle.get_owner_identifier)), gid=int(call(handle.get_group_identifier)),
        link=link, raw_name=raw, parent=parent, epoch_times=(a, m, c, cr))


def _name(file: ApfsFile) -> tuple[str, bytes]:
    """The name and its bytes; a name libfsapfs cannot decode is listed as
    ``$unreadable-name-INODE`` rather than dropped."""
    try:
        name = file.volume.call(file.handle.get_name)
    except OSError:
        name = None
    if name is None:
        name = f"$unreadable-name-{int(file.volume.call(file.handle.get_identifier))}"
    text = str(name)
    return text, text.encode("utf-8", "surrogateescape")


def walk_apfs(
    fs: FileSystem,
    *,
    recursive: bool = True,
    start_inode: int | None = None,
    on_problem: Callable[[WalkProblem], None] | None = None,
) -> Iterator[tuple[Entry, ApfsFile]]:
    """Every name under the root (or ``start_inode``), depth first in directory order,
    each with its :class:`ApfsFile`; as :func:`~dalil.engine.forensics.walk.walk_files`:
    iterative, loop-safe, a damaged directory or entry is reported and skipped. Live
    entries only (``deleted=False``): libfsapfs does not recover deleted ones."""
    backend: ApfsVolume = fs.tsk
    root = fs.root_inode if start_inode is None else start_inode

    def report(path: str, inode: int, message: str) -> None:
        if on_problem is not None:
            on_problem(WalkProblem(path or "/", inode,
                                   f"{fs.where()}, {backend.describe()}: directory /{path} "
                                   f"(inode {inode}): {message}"))

    def children(directory: ApfsFile, path: str, inode: int) -> int | None:
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
            child = ApfsFile(backend, backend.call(directory.handle.get_sub_file_entry, index))
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

    libfsapfs gives each extent's place in the container (bytes) in file order; the
    offsets in the file are their running sum. Sparse extents (holes) have no place and
    are skipped; directories and symlinks are not mapped. The last extent's bytes past
    the file's size are its slack.
    """
    on_problem = (lambda p: problems.append(p.message)) if problems is not None else None
    for entry, file in walk_apfs(fs, on_problem=on_problem):
        if entry.type != "file" or not entry.size:
            continue
        try:
            count = int(fs.tsk.call(file.handle.get_number_of_extents))
            runs = [tuple(fs.tsk.call(file.handle.get_extent, i)) for i in range(count)]
        except OSError as exc:
            if problems is not None:
                problems.append(f"{fs.where()}, {fs.tsk.describe()}: {entry.path} (inode "
                                f"{entry.inode}): extents not readable: {exc}")
            continue
        file_offset = 0
        for start, size, flags in runs:
            length = int(size)
            if not int(flags) & 1:  # LIBFSAPFS_EXTENT_FLAG_IS_SPARSE: a hole
                yield from _extent_runs(fs, entry, fs.offset + int(start), length,
                                        file_offset)
            file_offset += length


def _extent_runs(fs: FileSystem, entry: Entry, begin: int, length: int,
                 file_offset: int) -> Iterator[Extent]:
    """One extent as the file's bytes and, past the file's size, its slack."""
    inside = min(length, max(0, entry.size - file_offset))
    if inside:
        yield Extent(begin, begin + inside, fs.volume.index, fs.kind, entry.inode,
                     entry.address, entry.path, file_offset)
    if inside < length:
        yield Extent(begin + inside, begin + length, fs.volume.index, fs.kind, entry.inode,
                     entry.address, entry.path, file_offset + inside, slack=True)
