"""APFS containers, read through libyal's libfsapfs (``pyfsapfs``): pytsk3 has no pool
API, so The Sleuth Kit cannot open an APFS container from a plain image.

:func:`~dalil.engine.forensics.filesystem.open_file_system` comes here, before asking
TSK, when a volume holds the APFS container superblock magic ``NXSB`` at byte 32. A
container holds one or more APFS volumes (file systems sharing its blocks): the first is
opened unless ``--logical K|NAME`` chooses another by index or name. The ingest walks
every volume as a unit of its own, named as :func:`unit_names` says (its name, told
apart by its index when two share one) and reopened under that name by
:func:`~dalil.engine.forensics.filesystem.open_volume_file_system`. The returned
:class:`~dalil.engine.forensics.filesystem.FileSystem` has ``kind == "apfs"`` and, in
place of the TSK handle, an :class:`ApfsVolume` offering ``open_meta(inode=...)`` and
the file's ``read_random(offset, size)``, so that the content readers work unchanged;
the walk, the inode lookup and the block map dispatch here on ``fs.kind``. What the
XFS and APFS readers share (walk, entries, error messages) is in
:mod:`~dalil.engine.forensics.libyal`.

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
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dalil.engine.forensics import libyal
from dalil.engine.forensics.blockmap import Extent
from dalil.engine.forensics.encryption import Keys
from dalil.engine.forensics.filesystem import FileSystem, FileSystemError, describe
from dalil.engine.forensics.image import Image
from dalil.engine.forensics.libyal import LibyalVolume, Source, SourceReader
from dalil.engine.forensics.volume import Volume

APFS_MAGIC = b"NXSB"
MAGIC_OFFSET = 32  # bytes: after the object header (checksum, oid, xid, type, subtype)
ROOT_IDENTIFIER = 2  # the root directory's inode number on every APFS volume
_HEADER = 984  # bytes of nx_superblock_t up to the end of its volume (fs_oid) array
_MAX_VOLUMES = 100  # NX_MAX_FILE_SYSTEMS


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


class _Container(SourceReader):
    """The opened libfsapfs container; its volumes' calls go through its ``call``."""

    library = "libfsapfs"
    spans = "the container"

    def __init__(self, image: Image, volume: Volume, superblock: ContainerSuperblock) -> None:
        pyfsapfs = self.binding(f"{describe(image, volume)}: APFS container")
        self.superblock = superblock
        super().__init__(Source(image, volume.offset, superblock.size), pyfsapfs.container())

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


ApfsFile = libyal.LibyalFile  # one file entry, opened through libfsapfs


class ApfsVolume(LibyalVolume):
    """One opened (unlocked) volume of an APFS container (``FileSystem.tsk`` for APFS)."""

    def __init__(self, container: _Container, info: ApfsVolumeInfo, handle: Any) -> None:
        self.container = container
        self.info = info
        self.handle = handle  # pyfsapfs.volume

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` into libfsapfs, its errors explained by the container."""
        return self.container.call(function, *args)

    def describe(self) -> str:
        """``APFS volume 0 'Data'`` for messages."""
        return f"APFS volume {self.info.index} {self.info.name!r}"

    def where(self, fs: FileSystem) -> str:
        return f"{fs.where()}, {self.describe()}"

    def open_meta(self, inode: int) -> ApfsFile:
        """The file entry with identifier ``inode`` (``OSError`` if there is none)."""
        return ApfsFile(self, self.call(self.handle.get_file_entry_by_identifier, inode))

    def number(self, handle: Any) -> int:
        return int(self.call(handle.get_identifier))

    def times(self, handle: Any) -> tuple[int, int, int, int]:
        # libfsapfs (20260921) calls the inode's first time "modification" and the second
        # "creation"; Apple's APFS reference, The Sleuth Kit and the Linux driver have
        # create_time first, then mod_time. Read as Apple writes them: swapped back here.
        access, modification, change, creation = super().times(handle)
        return access, creation, change, modification


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


def unit_names(volumes: Sequence[ApfsVolumeInfo]) -> list[str]:
    """The name under which each of a container's ``volumes`` is walked and its files
    stored (the ingest's ``logical_volume``), in the same order.

    A volume's own name when no other volume of the container has it. Two volumes of one
    name (APFS allows it), or a volume without one, are told apart by their index:
    ``Data#1``, ``#2``; a name another volume really has is never given (``#index`` is
    added again). The names depend on the container's volumes only, so every run, every
    reader and the CLI's ``--logical`` find the same volume under the same name.
    """
    counts = Counter(info.name for info in volumes)
    taken = {info.name for info in volumes if info.name and counts[info.name] == 1}
    names: list[str] = []
    for info in volumes:
        if info.name in taken:
            names.append(info.name)
            continue
        name = f"{info.name}#{info.index}"
        while name in counts or name in names:
            name += f"#{info.index}"
        names.append(name)
    return names


def _choose(found: list[tuple[ApfsVolumeInfo, Any]], choice: int | str | None,
            where: str) -> tuple[ApfsVolumeInfo, Any]:
    """The volume ``choice`` names (its name first, then its index, then its name as
    :func:`unit_names` gives it); None: the first."""
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
    units = unit_names([info for info, _ in found])
    for (info, handle), unit in zip(found, units, strict=True):
        if isinstance(choice, str) and unit == text:
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


walk_apfs = libyal.walk  # every name under the root (or start_inode), with its ApfsFile
bare_entry = libyal.bare_entry  # an entry ($inode-N) for an inode no name reaches


def file_extents(fs: FileSystem, problems: list[str] | None = None) -> Iterator[Extent]:
    """The data extents of every regular file, as media offsets (see
    :func:`~dalil.engine.forensics.blockmap.file_extents`).

    libfsapfs gives each extent's place in the container (bytes) in file order; the
    offsets in the file are their running sum. Sparse extents (holes) have no place and
    are skipped; directories and symlinks are not mapped. The last extent's bytes past
    the file's size are its slack.
    """
    for entry, runs in libyal.file_runs(fs, problems):
        yield from libyal.mapped_runs(fs, entry, runs)
