"""Logical-volume layer: LVM2 logical volumes (libvslvm) and NTFS Volume Shadow Copy
snapshots (libvshadow) inside a volume, listed, chosen and opened as :class:`Image` layers.

An LVM logical volume that libvslvm refuses (one of several segments, as every
``lvextend`` makes) is read through :mod:`dalil.engine.forensics.lvmtext` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dalil.engine.forensics.image import Image, ImageRegion
from dalil.engine.forensics.lvmtext import (
    LinearVolume,
    LvmMetadataError,
    Reader,
    SegmentReader,
    linear_volumes,
)

_LVM_LABEL = b"LABELONE"
_LVM_TYPE = b"LVM2 001"
# The VSS identifier in an NTFS volume's shadow-copy volume header, at 0x1e00.
_VSS_OFFSET = 0x1E00
_VSS_GUID = bytes.fromhex("6b87083876c1484eb7ae04046e6cc752")


class LogicalVolumeError(Exception):
    """LVM or VSS metadata that cannot be read; names the image and the offset."""


@dataclass(frozen=True)
class LogicalVolume:
    """An LVM logical volume or a VSS store inside the volume at ``parent_offset``."""

    kind: str  # lvm, vss
    index: int
    name: str
    size: int
    parent_offset: int
    created: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "index": self.index, "name": self.name, "size": self.size,
                "parent_offset": self.parent_offset,
                "created": self.created.isoformat().replace("+00:00", "Z")
                if self.created else None}


def is_lvm(image: Image, offset: int) -> bool:
    """An LVM2 physical-volume label in one of the volume's first four sectors."""
    head = image.read(offset, 2048)
    return any(head[at:at + 8] == _LVM_LABEL and head[at + 24:at + 32] == _LVM_TYPE
               for at in range(0, len(head) - 31, 512))


def has_vss(image: Image, offset: int) -> bool:
    """A Volume Shadow Copy header in the NTFS volume at ``offset``."""
    return image.read(offset + _VSS_OFFSET, 16) == _VSS_GUID


def _pv_reader(image: Image, offset: int, size: int) -> Reader:
    """``read(at, length)`` within the physical volume at ``offset`` (``size`` bytes)."""
    end = min(offset + size, image.size) if size > 0 else image.size

    def read(at: int, length: int) -> bytes:
        if at < 0 or length <= 0 or offset + at >= end:
            return b""
        return image.read(offset + at, min(length, end - offset - at))

    return read


def _linear(image: Image, offset: int, size: int) -> list[LinearVolume]:
    try:
        return linear_volumes(_pv_reader(image, offset, size))
    except LvmMetadataError as exc:
        raise LogicalVolumeError(f"{image.where()}: LVM physical volume at offset {offset}: "
                                 f"{exc}") from exc


def linear_logical_volumes(image: Image, offset: int, size: int) -> list[LinearVolume]:
    """The logical volumes of the LVM physical volume at ``offset`` (``size`` bytes) as
    their metadata lays them out: segments in bytes of the PV, whatever libvslvm makes of
    them (a block map needs the layout, not only the bytes). Unreadable metadata raises
    :class:`LogicalVolumeError` naming the image and the offset."""
    return _linear(image, offset, size)


def _lvm_handle(image: Image, offset: int, size: int) -> tuple[Any, Any]:
    try:
        import pyvslvm
    except ImportError as exc:
        raise LogicalVolumeError("LVM needs libvslvm-python (pip install libvslvm-python)") \
            from exc
    handle = pyvslvm.handle()
    region = ImageRegion(image, offset, size)
    try:
        handle.open_file_object(region)
        handle.open_physical_volume_files_as_file_objects([region])
        return handle, handle.get_volume_group()
    except (OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        # libvslvm's error chain names C functions; say in plain words what is damaged.
        _linear(image, offset, size)
        raise LogicalVolumeError(f"{image.where()}: LVM physical volume at offset {offset}: "
                                 f"{detail}") from exc


def _lvm_volume(image: Image, offset: int, size: int, group: Any, index: int,
                own: list[LinearVolume] | None) -> tuple[Any, LinearVolume | None,
                                                         list[LinearVolume] | None]:
    """libvslvm's logical volume ``index``, or else this module's reading of it (libvslvm
    refuses LVs of several segments: see :mod:`dalil.engine.forensics.lvmtext`); the
    metadata read here is handed back so that a listing reads it once."""
    try:
        return group.get_logical_volume(index), None, own
    except (OSError, ValueError) as exc:
        volumes = own if own is not None else _linear(image, offset, size)
        if index >= len(volumes):
            detail = " ".join(str(exc).split())
            raise LogicalVolumeError(f"{image.where()}: LVM physical volume at offset "
                                     f"{offset}: logical volume {index}: {detail}") from exc
        return None, volumes[index], volumes


def _vss_handle(image: Image, offset: int, size: int) -> Any:
    try:
        import pyvshadow
    except ImportError as exc:
        raise LogicalVolumeError("VSS needs libvshadow-python (pip install libvshadow-python)") \
            from exc
    handle = pyvshadow.volume()
    try:
        handle.open_file_object(ImageRegion(image, offset, size))
    except (OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise LogicalVolumeError(f"{image.where()}: shadow copies at offset {offset}: "
                                 f"{detail}") from exc
    return handle


def list_logical_volumes(image: Image, offset: int, size: int) -> list[LogicalVolume]:
    """The LVM logical volumes, or the VSS snapshots, of the volume at ``offset``
    (``size`` bytes); sizes in bytes, creation times in UTC."""
    found: list[LogicalVolume] = []
    if is_lvm(image, offset):
        _, group = _lvm_handle(image, offset, size)
        own: list[LinearVolume] | None = None
        for index in range(int(group.number_of_logical_volumes)):
            logical, linear, own = _lvm_volume(image, offset, size, group, index, own)
            if linear is not None:
                found.append(LogicalVolume("lvm", index, linear.name, linear.size, offset))
            else:
                found.append(LogicalVolume("lvm", index, str(logical.name),
                                           int(logical.size), offset))
    elif has_vss(image, offset):
        handle = _vss_handle(image, offset, size)
        for index, store in enumerate(handle.stores):
            created = store.get_creation_time()
            found.append(LogicalVolume(
                "vss", index, str(store.identifier), int(store.volume_size), offset,
                created.replace(tzinfo=UTC) if isinstance(created, datetime) else None))
    return found


def choose_logical_volume(image: Image, offset: int, size: int,
                          choice: int | str | None) -> LogicalVolume:
    """The logical volume (or VSS snapshot) of the volume at ``offset`` that ``choice``
    names: its index as :func:`list_logical_volumes` numbers it, or its name; ``None``
    takes the only one. Otherwise :class:`LogicalVolumeError` lists them with their sizes
    (bytes)."""
    found = list_logical_volumes(image, offset, size)
    what = "shadow copies" if found and found[0].kind == "vss" else "logical volumes"
    where = f"{image.where()}: {'LVM physical volume' if is_lvm(image, offset) else 'volume'}"
    if not found:
        detail = ("holds no logical volumes" if is_lvm(image, offset) else
                  "has no shadow copies" if has_vss(image, offset) else
                  "has no LVM logical volumes or shadow copies")
        raise LogicalVolumeError(f"{where} at offset {offset} {detail}")
    listing = ", ".join(f"{lv.index} {lv.name} ({lv.size} bytes)" for lv in found)
    if choice is None:
        if len(found) == 1:
            return found[0]
        raise LogicalVolumeError(f"{where} at offset {offset} holds {len(found)} {what} "
                                 f"({listing}): choose one with --logical K or NAME")
    text = str(choice).strip()
    for logical in found:  # a name first: an LV may be called "1"
        if isinstance(choice, str) and logical.name == text:
            return logical
    for logical in found:
        if text.isdigit() and logical.index == int(text):
            return logical
    noun = "shadow copy" if found[0].kind == "vss" else "logical volume"
    raise LogicalVolumeError(f"{where} at offset {offset}: no {noun} {text!r} "
                             f"({what}: {listing})")


class _HandleReader:
    def __init__(self, handle: Any, owner: Any, length: int) -> None:
        self._handle = handle
        self._owner = owner  # keeps the volume group or VSS volume open
        self._length = length

    def read_at(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0 or offset >= self._length:
            return b""
        size = min(size, self._length - offset)
        data: bytes = self._handle.read_buffer_at_offset(size, offset)
        return data

    def close(self) -> None:
        """Closed with the image that owns the region."""


def open_logical_volume(image: Image, offset: int, size: int, index: int) -> Image:
    """Logical volume (or snapshot) ``index`` of the volume at ``offset`` as an image."""
    if is_lvm(image, offset):
        handle, group = _lvm_handle(image, offset, size)
        count = int(group.number_of_logical_volumes)
        if not 0 <= index < count:
            raise LogicalVolumeError(f"{image.where()}: LVM physical volume at offset {offset}: "
                                     f"no logical volume {index} (it holds {count})")
        logical, linear, _ = _lvm_volume(image, offset, size, group, index, None)
        reader: SegmentReader | _HandleReader
        if linear is not None:
            try:
                reader = SegmentReader(_pv_reader(image, offset, size), linear)
            except LvmMetadataError as exc:
                raise LogicalVolumeError(f"{image.where()}: LVM physical volume at offset "
                                         f"{offset}: {exc}") from exc
            name, length = linear.name, linear.size
        else:
            name, length = str(logical.name), int(logical.size)
            reader = _HandleReader(logical, (handle, group), length)
        return Image.layered(image, reader, length, image.info.container,
                             f"LVM logical volume {name} in volume at offset {offset}")
    if has_vss(image, offset):
        volume = _vss_handle(image, offset, size)
        if not 0 <= index < int(volume.number_of_stores):
            raise LogicalVolumeError(f"{image.where()}: shadow copies at offset {offset}: no "
                                     f"snapshot {index} (there are {volume.number_of_stores})")
        store = volume.get_store(index)
        length = int(store.volume_size)
        return Image.layered(image, _HandleReader(store, volume, length), length,
                             image.info.container,
                             f"shadow copy {index} of volume at offset {offset}")
    raise LogicalVolumeError(f"{image.where()}: no LVM or shadow copies at offset {offset}")
