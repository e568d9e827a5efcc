"""Logical-volume layer: LVM2 logical volumes (libvslvm) and NTFS Volume Shadow Copy
snapshots (libvshadow) inside a volume, listed and opened as :class:`Image` layers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dalil.engine.forensics.image import Image, ImageRegion

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
        raise LogicalVolumeError(f"{image.where()}: LVM physical volume at offset {offset}: "
                                 f"{detail}") from exc


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
    """The LVM logical volumes, or the VSS snapshots, of the volume at ``offset``."""
    found: list[LogicalVolume] = []
    if is_lvm(image, offset):
        _, group = _lvm_handle(image, offset, size)
        for index, logical in enumerate(group.logical_volumes):
            found.append(LogicalVolume("lvm", index, str(logical.name), int(logical.size),
                                       offset))
    elif has_vss(image, offset):
        handle = _vss_handle(image, offset, size)
        for index, store in enumerate(handle.stores):
            created = store.get_creation_time()
            found.append(LogicalVolume(
                "vss", index, str(store.identifier), int(store.volume_size), offset,
                created.replace(tzinfo=UTC) if isinstance(created, datetime) else None))
    return found


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
        logical = group.get_logical_volume(index)
        length = int(logical.size)
        return Image.layered(image, _HandleReader(logical, (handle, group), length), length,
                             image.info.container,
                             f"LVM logical volume {logical.name} in volume at offset {offset}")
    if has_vss(image, offset):
        volume = _vss_handle(image, offset, size)
        store = volume.get_store(index)
        length = int(store.volume_size)
        return Image.layered(image, _HandleReader(store, volume, length), length,
                             image.info.container,
                             f"shadow copy {index} of volume at offset {offset}")
    raise LogicalVolumeError(f"{image.where()}: no LVM or shadow copies at offset {offset}")
