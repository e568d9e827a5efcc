"""Volume layer: the partitions of an image (MBR, GPT, ...) or a bare file system at 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytsk3

from dalil.engine.forensics.image import Image, TskImage


@dataclass(frozen=True)
class Volume:
    """One partition (``index`` is its slot number as ``mmls`` prints it)."""

    index: int
    start_sector: int
    length_sectors: int
    sector_size: int
    description: str
    allocated: bool  # a real partition (not the table itself nor unallocated space)
    table: str  # dos, gpt, mac, bsd, sun, or "none" for a bare file system

    @property
    def offset(self) -> int:
        """Start of the volume in bytes from the start of the media."""
        return self.start_sector * self.sector_size

    @property
    def size(self) -> int:
        return self.length_sectors * self.sector_size

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "offset": self.offset,
            "start_sector": self.start_sector,
            "length_sectors": self.length_sectors,
            "sector_size": self.sector_size,
            "size": self.size,
            "description": self.description,
            "allocated": self.allocated,
            "table": self.table,
        }


_TABLE_NAMES = {
    int(pytsk3.TSK_VS_TYPE_DOS): "dos",
    int(pytsk3.TSK_VS_TYPE_GPT): "gpt",
    int(pytsk3.TSK_VS_TYPE_MAC): "mac",
    int(pytsk3.TSK_VS_TYPE_BSD): "bsd",
    int(pytsk3.TSK_VS_TYPE_SUN): "sun",
}


def list_volumes(image: Image, tsk_image: TskImage | None = None) -> list[Volume]:
    """Every slot of the partition table, or one bare volume covering the whole media."""
    tsk_image = tsk_image or TskImage(image)
    try:
        table = pytsk3.Volume_Info(tsk_image)
    except OSError:
        return [Volume(0, 0, image.size // 512, 512, "whole media (no partition table)",
                       True, "none")]
    sector = int(table.info.block_size)
    kind = _TABLE_NAMES.get(int(table.info.vstype), str(table.info.vstype))
    volumes: list[Volume] = []
    for part in table:
        flags = int(part.flags)
        volumes.append(Volume(
            index=int(part.addr),
            start_sector=int(part.start),
            length_sectors=int(part.len),
            sector_size=sector,
            description=part.desc.decode("utf-8", "replace"),
            allocated=bool(flags & int(pytsk3.TSK_VS_PART_FLAG_ALLOC)),
            table=kind,
        ))
    return volumes


def file_system_volumes(image: Image, tsk_image: TskImage | None = None) -> list[Volume]:
    """The volumes that can hold a file system (allocated partitions, or the bare media)."""
    return [v for v in list_volumes(image, tsk_image) if v.allocated]
