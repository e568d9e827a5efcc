"""Free clusters of an exFAT file system, from its allocation bitmap.

Why by hand: pytsk3 wraps no block walk (see ``space_ext``), and TSK does not expose the
exFAT bitmap as a file. The layout is Microsoft's exFAT specification: the boot sector
gives the FAT and cluster heap positions (in sectors) and the root directory's first
cluster; the root directory holds an Allocation Bitmap entry (type 0x81: first cluster,
length in bytes), one per FAT (two with TexFAT, the active one named by VolumeFlags bit
0). Bit ``i`` of the bitmap is cluster ``i + 2``, the first cluster of the heap; a clear
bit is a free cluster. The bitmap and the root directory are chained through the FAT.
"""

from __future__ import annotations

import numpy as np

from dalil.engine.forensics.carve.space import Extent, SpaceError, _runs
from dalil.engine.forensics.filesystem import FileSystem

_SIGNATURE = b"EXFAT   "
_BITMAP_ENTRY = 0x81
_END_OF_DIRECTORY = 0x00
_FAT_PAGE = 64 * 1024  # bytes of FAT read at a time while following a chain


class _Volume:
    """The boot sector's geometry and a cached reader of the active FAT."""

    def __init__(self, fs: FileSystem) -> None:
        self.fs = fs
        boot = fs.image.read(fs.offset, 512)
        if len(boot) < 512:
            raise SpaceError(f"{fs.where()}: truncated exFAT boot sector at offset {fs.offset}")
        if boot[3:11] != _SIGNATURE:
            raise SpaceError(f"{fs.where()}: no exFAT signature at offset {fs.offset + 3}")
        sector_shift, cluster_shift = boot[108], boot[109]
        if not 9 <= sector_shift <= 12 or sector_shift + cluster_shift > 25:
            raise SpaceError(f"{fs.where()}: exFAT boot sector with invalid sector or cluster "
                             f"size (2^{sector_shift}, 2^{cluster_shift} sectors per cluster)")
        self.sector = 1 << sector_shift
        self.cluster = self.sector << cluster_shift
        fat_offset = int.from_bytes(boot[80:84], "little")
        fat_length = int.from_bytes(boot[84:88], "little")
        self.heap = fs.offset + int.from_bytes(boot[88:92], "little") * self.sector
        self.clusters = int.from_bytes(boot[92:96], "little")
        self.end = fs.offset + int.from_bytes(boot[72:80], "little") * self.sector
        self.root = int.from_bytes(boot[96:100], "little")
        fats = boot[110]
        self.active = int.from_bytes(boot[106:108], "little") & 1 if fats == 2 else 0
        self.fat = fs.offset + (fat_offset + self.active * fat_length) * self.sector
        self._pages: dict[int, bytes] = {}

    def next_cluster(self, cluster: int) -> int:
        """The FAT entry of ``cluster``."""
        page, inner = divmod(cluster * 4, _FAT_PAGE)
        if page not in self._pages:
            self._pages[page] = self.fs.image.read(self.fat + page * _FAT_PAGE, _FAT_PAGE)
        data = self._pages[page]
        if inner + 4 > len(data):
            raise SpaceError(f"{self.fs.where()}: the exFAT FAT entry of cluster {cluster} at "
                             f"offset {self.fat + cluster * 4} is past the end of the image")
        return int.from_bytes(data[inner:inner + 4], "little")

    def chain(self, first: int, what: str, limit: int | None = None) -> list[int]:
        """The clusters of the FAT chain that starts at ``first`` (``limit`` at most)."""
        clusters: list[int] = []
        cluster = first
        seen: set[int] = set()
        while 2 <= cluster < self.clusters + 2:
            if cluster in seen:
                raise SpaceError(f"{self.fs.where()}: the FAT chain of {what} loops at "
                                 f"cluster {cluster}")
            seen.add(cluster)
            clusters.append(cluster)
            if limit is not None and len(clusters) >= limit:
                return clusters
            cluster = self.next_cluster(cluster)
        if cluster != 0xFFFFFFFF or not clusters:
            raise SpaceError(f"{self.fs.where()}: the FAT chain of {what} is broken at "
                             f"cluster {clusters[-1] if clusters else first} (next {cluster:#x})")
        return clusters

    def read_clusters(self, clusters: list[int], what: str) -> bytes:
        parts: list[bytes] = []
        for cluster in clusters:
            offset = self.heap + (cluster - 2) * self.cluster
            data = self.fs.image.read(offset, self.cluster)
            if len(data) < self.cluster:
                raise SpaceError(f"{self.fs.where()}: {what} cluster {cluster} at offset "
                                 f"{offset} is cut short by the end of the image")
            parts.append(data)
        return b"".join(parts)


def _root_entries(volume: _Volume) -> list[bytes]:
    """The root directory's 32-byte entries up to its end-of-directory marker."""
    entries: list[bytes] = []
    for cluster in volume.chain(volume.root, "the root directory"):
        data = volume.read_clusters([cluster], "root directory")
        for at in range(0, len(data), 32):
            if data[at] == _END_OF_DIRECTORY:
                return entries
            entries.append(data[at:at + 32])
    return entries


def _bitmap_entry(volume: _Volume) -> tuple[int, int]:
    """``(first cluster, length in bytes)`` of the active allocation bitmap."""
    found: dict[int, tuple[int, int]] = {}
    for entry in _root_entries(volume):
        if entry[0] == _BITMAP_ENTRY:
            found.setdefault(entry[1] & 1, (int.from_bytes(entry[20:24], "little"),
                                            int.from_bytes(entry[24:32], "little")))
    if volume.active not in found:
        raise SpaceError(f"{volume.fs.where()}: no allocation bitmap entry in the exFAT root "
                         f"directory (cluster {volume.root})")
    return found[volume.active]


def exfat_free_extents(fs: FileSystem) -> list[Extent]:
    """The free clusters of the exFAT file system ``fs``, and the sectors past its cluster
    heap up to the volume's end, as image extents (bytes from the start of the media)."""
    volume = _Volume(fs)
    first, length = _bitmap_entry(volume)
    needed = (volume.clusters + 7) // 8
    if length < needed:
        raise SpaceError(f"{fs.where()}: the exFAT allocation bitmap holds {length} bytes, "
                         f"{needed} needed for {volume.clusters} clusters")
    wanted = (needed + volume.cluster - 1) // volume.cluster
    clusters = volume.chain(first, "the allocation bitmap", wanted)
    if len(clusters) < wanted:
        raise SpaceError(f"{fs.where()}: the FAT chain of the allocation bitmap ends after "
                         f"{len(clusters)} clusters, {wanted} needed")
    data = volume.read_clusters(clusters, "allocation bitmap")
    bits = np.unpackbits(np.frombuffer(data[:needed], dtype=np.uint8), bitorder="little")
    free = bits[: volume.clusters] == 0
    size = volume.cluster
    extents = [Extent(volume.heap + run * size, count * size) for run, count in _runs(free)]
    # Sectors between the heap's last cluster and the end of the volume belong to no
    # cluster: unallocated, as TSK's blkls reports them too.
    heap_end = volume.heap + volume.clusters * size
    if volume.end > heap_end:
        extents.append(Extent(heap_end, volume.end - heap_end))
    return extents
