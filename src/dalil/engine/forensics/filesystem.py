"""File-system layer: open the file system of one volume through The Sleuth Kit (XFS,
which TSK lacks, through libfsxfs: see :mod:`dalil.engine.forensics.xfs`; APFS containers,
which pytsk3 cannot open, through libfsapfs: see :mod:`dalil.engine.forensics.apfs`).

Before asking TSK, the volume's first sector is checked for encryption (BitLocker, LUKS)
and LVM: such a volume is reported for what it is, with its offset, never as "no file
system"; with :class:`Keys` an encrypted volume is decrypted and its file system opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytsk3

from dalil.engine.forensics.encryption import (
    Encryption,
    Keys,
    UnlockError,
    detect_encryption,
    unlock,
)
from dalil.engine.forensics.image import Image, ImageError, TskImage
from dalil.engine.forensics.logical import (
    LogicalVolumeError,
    choose_logical_volume,
    is_lvm,
    list_logical_volumes,
    open_logical_volume,
)
from dalil.engine.forensics.volume import Volume, file_system_volumes


class FileSystemError(Exception):
    """No readable file system; the message names the image, the volume and the offset."""


class EncryptedVolumeError(FileSystemError):
    """The volume is encrypted and no key (or a wrong one) was given."""

    def __init__(self, message: str, encryption: Encryption) -> None:
        super().__init__(message)
        self.encryption = encryption


_FS_NAMES = {
    int(pytsk3.TSK_FS_TYPE_NTFS): "ntfs",
    int(pytsk3.TSK_FS_TYPE_FAT12): "fat12",
    int(pytsk3.TSK_FS_TYPE_FAT16): "fat16",
    int(pytsk3.TSK_FS_TYPE_FAT32): "fat32",
    int(pytsk3.TSK_FS_TYPE_EXFAT): "exfat",
    int(pytsk3.TSK_FS_TYPE_EXT2): "ext2",
    int(pytsk3.TSK_FS_TYPE_EXT3): "ext3",
    int(pytsk3.TSK_FS_TYPE_EXT4): "ext4",
    int(pytsk3.TSK_FS_TYPE_HFS): "hfs",
    int(pytsk3.TSK_FS_TYPE_ISO9660): "iso9660",
    int(pytsk3.TSK_FS_TYPE_FFS1): "ufs1",
    int(pytsk3.TSK_FS_TYPE_FFS1B): "ufs1b",
    int(pytsk3.TSK_FS_TYPE_FFS2): "ufs2",
    int(pytsk3.TSK_FS_TYPE_APFS): "apfs",
    int(pytsk3.TSK_FS_TYPE_YAFFS2): "yaffs2",
}


@dataclass
class FileSystem:
    """An opened file system: the TSK handle plus where it lives."""

    image: Image
    volume: Volume
    tsk: Any  # pytsk3.FS_Info; xfs.XfsVolume, apfs.ApfsVolume (open_meta, read_random)
    kind: str
    block_size: int
    root_inode: int
    first_inode: int
    last_inode: int
    size: int = 0  # bytes the file system spans (blocks x block size)

    @property
    def offset(self) -> int:
        return self.volume.offset

    @property
    def is_ntfs(self) -> bool:
        return self.kind == "ntfs"

    def where(self) -> str:
        """``image, volume N at offset X`` for messages."""
        return describe(self.image, self.volume)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "offset": self.offset,
            "block_size": self.block_size,
            "root_inode": self.root_inode,
            "first_inode": self.first_inode,
            "last_inode": self.last_inode,
            "size": self.size,
        }


def describe(image: Image, volume: Volume) -> str:
    if volume.table == "none":
        return f"{image.where()}, whole media (offset 0)"
    return (f"{image.where()}, volume {volume.index} at offset {volume.offset} "
            f"(sector {volume.start_sector})")


def bare_volume(image: Image) -> Volume:
    """The whole media of ``image`` as one volume (no partition table)."""
    return Volume(0, 0, image.size // 512, 512, "whole media (no partition table)", True,
                  "none")


def open_file_system(image: Image, volume: Volume,
                     tsk_image: TskImage | None = None, keys: Keys | None = None) -> FileSystem:
    """Open the file system of ``volume``, or raise :class:`FileSystemError` naming it.

    An encrypted volume raises :class:`EncryptedVolumeError` unless ``keys`` open it; then
    the file system inside the decrypted volume is returned (its ``image`` is the layer).
    """
    if volume.offset >= image.size:
        raise FileSystemError(f"{describe(image, volume)}: the volume starts past the end of "
                              f"the image ({image.size} bytes): truncated image?")
    encryption = detect_encryption(image, volume.offset)
    if encryption is not None:
        if not keys:
            raise EncryptedVolumeError(encryption.locked_message(image.where()), encryption)
        try:
            inner = unlock(image, encryption, volume.size or image.size - volume.offset, keys)
        except UnlockError as exc:
            raise EncryptedVolumeError(str(exc), encryption) from exc
        return open_file_system(inner, bare_volume(inner))
    if is_lvm(image, volume.offset):
        try:
            names = ", ".join(lv.name for lv in list_logical_volumes(
                image, volume.offset, volume.size)) or "none"
        except LogicalVolumeError as exc:
            names = f"unreadable ({exc})"
        raise FileSystemError(f"{describe(image, volume)}: LVM physical volume at offset "
                              f"{volume.offset} (logical volumes: {names}), no file system "
                              "directly inside")
    apfs = _open_apfs(image, volume, None, keys)
    if apfs is not None:
        return apfs
    tsk_image = tsk_image or TskImage(image)
    try:
        fs = pytsk3.FS_Info(tsk_image, offset=volume.offset)
    except (OSError, ImageError) as exc:
        xfs = _open_xfs(image, volume)
        if xfs is not None:
            return xfs
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
        if tsk_image.errors:
            detail = f"{detail}; {tsk_image.errors[-1]}"
        hint = ""
        if volume.offset + volume.size > image.size and volume.table != "none":
            hint = f" (the image is {image.size} bytes, shorter than the volume: truncated?)"
        raise FileSystemError(
            f"{describe(image, volume)}: no readable file system: {detail}{hint}"
        ) from exc
    info = fs.info
    kind = _FS_NAMES.get(int(info.ftype), f"type-{int(info.ftype)}")
    return FileSystem(image, volume, fs, kind, int(info.block_size), int(info.root_inum),
                      int(info.first_inum), int(info.last_inum),
                      int(info.block_count) * int(info.block_size))


def _open_xfs(image: Image, volume: Volume) -> FileSystem | None:
    """XFS (which TSK does not read) through libfsxfs, if the volume starts with its magic."""
    # Imported here: the xfs module builds on this one (FileSystem, describe).
    from dalil.engine.forensics.xfs import is_xfs, open_xfs

    try:
        found = is_xfs(image, volume.offset)
    except ImageError:
        return None
    return open_xfs(image, volume) if found else None


def _open_apfs(image: Image, volume: Volume, logical: int | str | None,
               keys: Keys | None) -> FileSystem | None:
    """The APFS volume ``logical`` (None: the first) of the container in ``volume``
    through libfsapfs, if the volume holds an APFS container's magic; TSK is not asked
    (pytsk3 has no pool API to open one)."""
    # Imported here: the apfs module builds on this one (FileSystem, describe).
    from dalil.engine.forensics.apfs import is_apfs, open_apfs

    try:
        found = is_apfs(image, volume.offset)
    except ImageError:
        return None
    return open_apfs(image, volume, logical, keys) if found else None


def select_volume(image: Image, index: int | None,
                  tsk_image: TskImage | None = None) -> Volume:
    """The volume numbered ``index`` (``mmls`` slot), or the only one if ``index`` is None."""
    volumes = file_system_volumes(image, tsk_image)
    if index is None:
        if len(volumes) == 1:
            return volumes[0]
        choices = ", ".join(f"{v.index} at offset {v.offset}" for v in volumes)
        raise FileSystemError(
            f"{image.path}: {len(volumes)} volumes ({choices}): choose one with --volume N"
        )
    for volume in volumes:
        if volume.index == index:
            return volume
    choices = ", ".join(str(v.index) for v in volumes) or "none"
    raise FileSystemError(f"{image.path}: no volume {index} (volumes: {choices})")


class LogicalFileSystemError(FileSystemError, LogicalVolumeError):
    """No file system reached through an LVM logical volume or a VSS snapshot: several to
    choose from, a wrong choice, or unreadable metadata; names the image and the offset."""


def open_logical_file_system(image: Image, volume: Volume,
                             logical: int | str | None) -> FileSystem:
    """The file system inside logical volume (or VSS snapshot) ``logical`` of ``volume``:
    its index or its name; ``None`` takes the only logical volume of an LVM PV."""
    size = volume.size or image.size - volume.offset
    try:
        chosen = choose_logical_volume(image, volume.offset, size, logical)
        inner = open_logical_volume(image, volume.offset, size, chosen.index)
    except LogicalVolumeError as exc:
        raise LogicalFileSystemError(str(exc)) from exc
    return open_file_system(inner, bare_volume(inner))


def open_volume_file_system(image: Image, volume: Volume, logical: str = "",
                            tsk_image: TskImage | None = None) -> FileSystem:
    """The file system of ``volume``, or of the walk unit named ``logical`` in it, as the
    ingest and the records it stored address it: in an APFS container the APFS volume of
    that name (see :func:`~dalil.engine.forensics.apfs.unit_names`; offsets are the
    image's, as for the container), else the LVM logical volume of that name (opened as a
    layer of its own: offsets inside it start at 0). Raises :class:`FileSystemError`
    naming the image, the volume's offset (bytes) and the LV or APFS volume, a read error
    inside the LV's segments included."""
    if not logical:
        return open_file_system(image, volume, tsk_image)
    apfs = _open_apfs(image, volume, logical, None)
    if apfs is not None:
        return apfs
    try:
        return open_logical_file_system(image, volume, logical)
    except ImageError as exc:
        raise FileSystemError(f"{image.where()}: LVM physical volume at offset "
                              f"{volume.offset}, logical volume {logical}: {exc}") from exc


def select_file_system(image: Image, volume: int | None, logical: int | str | None = None,
                       tsk_image: TskImage | None = None,
                       keys: Keys | None = None) -> FileSystem:
    """The file system that ``--volume N`` and ``--logical K`` address (every command that
    reads a file system goes through here).

    ``volume`` as :func:`select_volume`. On an LVM physical volume ``logical`` picks the
    logical volume (index or name; ``None``: the only one, else the error lists them with
    their sizes); on an NTFS volume with shadow copies it opens snapshot K instead of the
    live file system; in an APFS container it opens APFS volume K (or NAME; ``None``:
    the first). An encrypted volume is unlocked with ``keys`` first, so an LVM PV
    inside LUKS is reached too.
    """
    chosen = select_volume(image, volume, tsk_image)
    if chosen.offset >= image.size:
        return open_file_system(image, chosen, tsk_image, keys)  # says: truncated
    encryption = detect_encryption(image, chosen.offset)
    if encryption is not None and keys:
        try:
            inner = unlock(image, encryption, chosen.size or image.size - chosen.offset, keys)
        except UnlockError as exc:
            raise EncryptedVolumeError(str(exc), encryption) from exc
        return select_file_system(inner, None, logical)
    if encryption is None and logical is not None:
        apfs = _open_apfs(image, chosen, logical, keys)  # --logical picks an APFS volume
        if apfs is not None:
            return apfs
    if encryption is None and (logical is not None or is_lvm(image, chosen.offset)):
        return open_logical_file_system(image, chosen, logical)
    return open_file_system(image, chosen, tsk_image, keys)
