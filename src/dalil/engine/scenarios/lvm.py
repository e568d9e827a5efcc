"""LVM2 physical volumes written byte by byte, with real file systems in their logical volumes.

Why by hand: lvm2's own tools (``pvcreate``, ``vgcreate``, ``lvcreate``) need root, the
device-mapper and a loop device, none of which CI runners, containers or a trainee's
laptop reliably give. No maintained library writes the format either. The on-disk format
is small and documented (lvm2's ``lib/format_text/layout.h`` and ``lib/label/label.h``),
so it is written here, and two independent readers check the result in the tests
(libvslvm, and lvm2's own ``pvck`` on the plain file). The file systems inside are made by
Debian's tools: ``mke2fs -d`` for ext4, ``mkfs.vfat`` + ``mcopy`` for FAT32.

Layout of the physical volume (LVM2's defaults; offsets in bytes from the PV's start):

* 512 (sector 1): label header ``LABELONE`` / ``LVM2 001`` with its CRC, then the PV
  header: the PV's UUID, its size, one data area (from ``pe_start`` to the end), one
  metadata area (at 4096), and the version-2 extension (no bootloader area);
* 4096: the metadata area header (magic `` LVM2 x[5A%r0N*>``, version 1) whose raw
  location points at the volume group's text metadata, with the text's CRC;
* 4608: the text metadata: the VG, its PV, and each LV as linear segments of extents;
* ``pe_start`` (1 MiB): the physical extents (1 MiB each by default).

Every CRC is LVM's own: CRC-32 (reflected, polynomial 0xEDB88320) started at 0xf597a6cf
with no final inversion. With ``mbr=True`` the PV sits in an MBR partition of type 0x8e
(``sfdisk``), from 1 MiB. Same seed, same bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

SECTOR = 512
MIB = 1024 * 1024
LABEL_SECTOR = 1
MDA_OFFSET = 4096  # the first metadata area, as pvcreate puts it
MDA_HEADER_SIZE = 512
PE_START = MIB  # first physical extent (pvcreate's default data alignment)
INITIAL_CRC = 0xF597A6CF
MDA_MAGIC = b" LVM2 x[5A%r0N*>"
_ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#"
_FAT32_MIN_MIB = 33  # 65525 clusters of 512 bytes, the least mkfs.vfat makes FAT32 of


class LvmBuildError(RuntimeError):
    """A logical volume does not fit, or a Debian tool failed (named with its message)."""


def lvm_crc(data: bytes, initial: int = INITIAL_CRC) -> int:
    """LVM's ``calc_crc``: CRC-32 updates from ``initial``, without zlib's inversions."""
    return zlib.crc32(data, initial ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


@dataclass(frozen=True)
class PlantedFile:
    """A file to put in a logical volume's file system (``/``-separated path, UTC time)."""

    path: str
    data: bytes
    mtime: datetime

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class VolumeSpec:
    """One logical volume to make: its LVM name, file system and size in extents."""

    name: str
    filesystem: str  # ext4 or fat32
    extents: int
    files: tuple[PlantedFile, ...] = ()
    split: bool = False  # two segments, with the next LV's extents in between


@dataclass
class BuiltVolume:
    """Ground truth of one logical volume as written."""

    name: str
    uuid: str
    filesystem: str
    size: int  # bytes
    segments: list[tuple[int, int, int]]  # (first logical extent, count, first physical)
    files: tuple[PlantedFile, ...]

    def physical_offset(self, pv_offset: int, extent_size: int) -> int:
        """Byte offset in the image of the LV's first byte."""
        return pv_offset + PE_START + self.segments[0][2] * extent_size


@dataclass
class BuiltPhysicalVolume:
    """Ground truth of the image: where the PV is and what its metadata says."""

    path: Path
    seed: int | str
    pv_offset: int  # bytes from the start of the image (0, or the MBR partition's start)
    pv_size: int
    pv_uuid: str
    vg_name: str
    vg_uuid: str
    extent_size: int  # bytes
    metadata: str  # the VG text metadata as written
    volumes: list[BuiltVolume] = field(default_factory=list)

    @property
    def metadata_offset(self) -> int:
        """Byte offset in the image of the text metadata."""
        return self.pv_offset + MDA_OFFSET + MDA_HEADER_SIZE


def _lvm_id(rng: random.Random) -> str:
    return "".join(rng.choice(_ID_CHARS) for _ in range(32))


def _dashed(ident: str) -> str:
    """LVM prints IDs in groups of 6-4-4-4-4-4-6."""
    cuts = (0, 6, 10, 14, 18, 22, 26, 32)
    return "-".join(ident[a:b] for a, b in itertools.pairwise(cuts))


def default_volumes(seed: int | str, count: int = 2) -> list[VolumeSpec]:
    """One ext4 LV (``root``, split in two segments when ``count`` is 2) and a FAT32 one
    (``exchange``), each with a few planted files whose bytes and times come from ``seed``."""
    rng = random.Random(f"dalil.scenarios.lvm.files:{seed}")  # noqa: S311 - reproducible
    base = datetime(2024, 3, 4, 9, 0, tzinfo=UTC) + timedelta(minutes=rng.randrange(60 * 24))
    words = ("ledger", "wallet", "transfer", "courier", "invoice", "meeting", "account",
             "shipment", "cash", "border", "phone", "contact")

    def text(lines: int) -> bytes:
        return "".join(" ".join(rng.choice(words) for _ in range(8)) + "\n"
                       for _ in range(lines)).encode()

    def when(hours: int) -> datetime:
        return base + timedelta(hours=hours, seconds=2 * rng.randrange(1800))

    root = VolumeSpec("root", "ext4", 8, (
        PlantedFile("home/azamat/notes.txt", text(12), when(1)),
        PlantedFile("home/azamat/keys/wallet.dat", rng.randbytes(6000), when(3)),
        PlantedFile("etc/hostname", b"warehouse-07\n", when(0)),
    ), split=count > 1)
    exchange = VolumeSpec("exchange", "fat32", _FAT32_MIN_MIB + 1, (
        PlantedFile("REPORTS/march.txt", text(40), when(5)),
        PlantedFile("scan0001.bin", rng.randbytes(20000), when(6)),
    ))
    return [root, exchange][:count]


def _run(cmd: Sequence[str], env: dict[str, str], step: str) -> None:
    try:
        done = subprocess.run(list(cmd), env=env, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise LvmBuildError(f"{step}: {cmd[0]} is not installed") from exc
    if done.returncode != 0:
        raise LvmBuildError(f"{step}: {cmd[0]} exited {done.returncode}: "
                            f"{done.stderr.decode('utf-8', 'replace').strip()[-400:]}")


def _stage(folder: Path, files: Sequence[PlantedFile], epoch: int) -> None:
    for item in files:
        target = folder / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.data)
        stamp = int(item.mtime.timestamp())
        os.utime(target, (stamp, stamp))
    for directory in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        os.utime(directory, (epoch, epoch))


def _pin_ext4_ctimes(image: Path, stage: Path, files: Sequence[PlantedFile], epoch: int,
                     env: dict[str, str]) -> None:
    """mke2fs -d copies each inode's ctime from the staged copy, i.e. from today's clock
    (utime cannot set a ctime); debugfs sets it to the file's mtime, folders' to ``epoch``."""
    stamps = {item.path: int(item.mtime.timestamp()) for item in files}
    for folder in stage.rglob("*"):
        if folder.is_dir():
            stamps[folder.relative_to(stage).as_posix()] = epoch
    script = []
    for path, stamp in sorted(stamps.items()):
        if any(c.isspace() or c == '"' for c in path):
            raise LvmBuildError(f"{path!r}: planted paths may not hold spaces or quotes")
        script.append(f"sif /{path} ctime @{stamp}")
    commands = stage.with_suffix(".debugfs")
    commands.write_text("\n".join(script) + "\n", encoding="utf-8")
    _run(["debugfs", "-w", "-f", str(commands), str(image)], env, "debugfs")


def _file_system(spec: VolumeSpec, size: int, rng: random.Random, work: Path,
                 epoch: int) -> bytes:
    """The bytes of a file system of ``size`` bytes holding ``spec.files``."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR")}
    # Pinned clocks: mke2fs reads E2FSPROGS_FAKE_TIME, mtools SOURCE_DATE_EPOCH.
    env.update({"E2FSPROGS_FAKE_TIME": str(epoch), "SOURCE_DATE_EPOCH": str(epoch),
                "TZ": "UTC", "LC_ALL": "C", "MTOOLS_SKIP_CHECK": "1"})
    stage = work / f"stage-{spec.name}"
    stage.mkdir()
    _stage(stage, spec.files, epoch)
    image = work / f"{spec.name}.fs"
    with open(image, "wb") as handle:
        handle.truncate(size)
    if spec.filesystem == "ext4":
        fs_uuid = f"{rng.getrandbits(128):032x}"
        fs_uuid = "-".join((fs_uuid[:8], fs_uuid[8:12], fs_uuid[12:16], fs_uuid[16:20],
                            fs_uuid[20:]))
        _run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", "-L", spec.name[:16],
              "-U", fs_uuid, "-E", f"hash_seed={fs_uuid},root_owner=0:0,nodiscard",
              "-d", str(stage), str(image)], env, "mke2fs")
        _pin_ext4_ctimes(image, stage, spec.files, epoch, env)
    elif spec.filesystem == "fat32":
        if size < _FAT32_MIN_MIB * MIB:
            raise LvmBuildError(f"LV {spec.name}: FAT32 needs at least {_FAT32_MIN_MIB} MiB")
        _run(["mkfs.vfat", "-F", "32", "-s", "1", "--invariant", "-i",
              f"{rng.getrandbits(32):08x}", "-n", spec.name[:11].upper(), str(image)],
             env, "mkfs.vfat")
        for entry in sorted(stage.iterdir()):
            _run(["mcopy", "-s", "-m", "-i", str(image), str(entry), "::/"], env, "mcopy")
    else:
        raise LvmBuildError(f"LV {spec.name}: unknown file system {spec.filesystem!r}")
    return image.read_bytes()


def _layout(specs: Sequence[VolumeSpec]) -> list[list[tuple[int, int, int]]]:
    """Segments per LV: (first logical extent, count, first physical extent).

    A ``split`` LV (not the last) gets its first half, then the next LV, then its second
    half: what an ``lvextend`` after a second ``lvcreate`` leaves on a real disk.
    """
    segments: list[list[tuple[int, int, int]]] = [[] for _ in specs]
    pending: tuple[int, int, int] | None = None  # (lv, first logical extent, count)
    physical = 0
    for index, spec in enumerate(specs):
        head = spec.extents // 2 if spec.split and index + 1 < len(specs) else spec.extents
        segments[index].append((0, head, physical))
        physical += head
        if pending is not None:
            lv, first, count = pending
            segments[lv].append((first, count, physical))
            physical += count
        pending = (index, head, spec.extents - head) if head < spec.extents else None
    return segments


def _metadata(built: BuiltPhysicalVolume, pe_count: int, created: int) -> str:
    """The VG text metadata, formatted as lvm2 2.03 writes it."""
    sectors = built.extent_size // SECTOR
    lines = [f"{built.vg_name} {{", f'id = "{_dashed(built.vg_uuid)}"', "seqno = 1",
             'format = "lvm2"', 'status = ["RESIZEABLE", "READ", "WRITE"]', "flags = []",
             f"extent_size = {sectors}", "max_lv = 0", "max_pv = 0", "metadata_copies = 0",
             "", "physical_volumes {", "", "pv0 {", f'id = "{_dashed(built.pv_uuid)}"',
             'device = "/dev/sdb1"', "", 'status = ["ALLOCATABLE"]', "flags = []",
             f"dev_size = {built.pv_size // SECTOR}", f"pe_start = {PE_START // SECTOR}",
             f"pe_count = {pe_count}", "}", "}", "", "logical_volumes {"]
    for volume in built.volumes:
        lines += ["", f"{volume.name} {{", f'id = "{_dashed(volume.uuid)}"',
                  'status = ["READ", "WRITE", "VISIBLE"]', "flags = []",
                  f"creation_time = {created}", 'creation_host = "warehouse-07"',
                  f"segment_count = {len(volume.segments)}"]
        for number, (first, count, physical) in enumerate(volume.segments, start=1):
            lines += ["", f"segment{number} {{", f"start_extent = {first}",
                      f"extent_count = {count}", "", 'type = "striped"', "stripe_count = 1",
                      "", "stripes = [", f'"pv0", {physical}', "]", "}"]
        lines.append("}")
    stamp = datetime.fromtimestamp(created, UTC).strftime("%a %b %d %H:%M:%S %Y")
    lines += ["}", "", "}",
              f"# Generated by LVM2 version 2.03.16(2) (2022-05-18): {stamp}", "",
              'contents = "Text Format Volume Group"', "version = 1", "", 'description = ""',
              "", 'creation_host = "warehouse-07"', f"creation_time = {created}", ""]
    return "\n".join(lines)


def _label(built: BuiltPhysicalVolume) -> bytes:
    """Sector 1: label header, PV header (data and metadata areas), extension v2."""
    pv_header = built.pv_uuid.encode("ascii") + struct.pack("<Q", built.pv_size)
    pv_header += struct.pack("<QQ", PE_START, 0) + bytes(16)  # data area to the end; end
    pv_header += struct.pack("<QQ", MDA_OFFSET, PE_START - MDA_OFFSET) + bytes(16)
    pv_header += struct.pack("<II", 2, 1) + bytes(16)  # extension v2, PV_EXT_USED; no BA
    body = struct.pack("<I", 32) + b"LVM2 001" + pv_header
    body = body.ljust(SECTOR - 20, b"\0")
    head = b"LABELONE" + struct.pack("<QI", LABEL_SECTOR, lvm_crc(body))
    return head + body


def _mda_header(text: bytes) -> bytes:
    """The metadata area header with the raw location of ``text`` (offset from the area)."""
    body = MDA_MAGIC + struct.pack("<IQQ", 1, MDA_OFFSET, PE_START - MDA_OFFSET)
    body += struct.pack("<QQII", MDA_HEADER_SIZE, len(text), lvm_crc(text), 0) + bytes(24)
    body = body.ljust(MDA_HEADER_SIZE - 4, b"\0")
    return struct.pack("<I", lvm_crc(body)) + body


def _partition(path: Path, pv_size: int) -> int:
    """An MBR with one partition of type 0x8e (Linux LVM) from 1 MiB; its offset."""
    script = f"label: dos\nlabel-id: 0x4c564d32\nstart=2048, size={pv_size // SECTOR}, type=8e\n"
    try:
        done = subprocess.run(["sfdisk", "-q", str(path)], input=script.encode(),
                              capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise LvmBuildError("sfdisk is not installed (apt-get install fdisk)") from exc
    if done.returncode != 0:
        raise LvmBuildError(f"sfdisk exited {done.returncode}: "
                            f"{done.stderr.decode('utf-8', 'replace').strip()}")
    return MIB


def build_lvm_image(path: str | os.PathLike[str], *, seed: int | str,
                    volumes: Sequence[VolumeSpec] | None = None, mbr: bool = False,
                    extent_size: int = MIB, free_extents: int = 2) -> BuiltPhysicalVolume:
    """Write an LVM2 physical volume (in an MBR partition with ``mbr``) to ``path``.

    ``volumes`` default to :func:`default_volumes` (an ext4 LV in two segments and a
    FAT32 LV); ``extent_size`` in bytes (a power of two, at least 1 MiB here so that
    extents stay aligned); ``free_extents`` unallocated extents are left at the end. The
    image is sparse. Returns the ground truth: offsets, UUIDs, segments, planted files.
    """
    if extent_size < MIB or extent_size & (extent_size - 1):
        raise ValueError("extent_size must be a power of two of at least 1 MiB")
    specs = list(volumes) if volumes is not None else default_volumes(seed)
    rng = random.Random(f"dalil.scenarios.lvm:{seed}")  # noqa: S311 - reproducible
    segments = _layout(specs)
    pe_count = sum(s.extents for s in specs) + free_extents
    pv_size = PE_START + pe_count * extent_size
    pv_uuid = _lvm_id(rng)
    vg_name = f"vg_{rng.choice(('case', 'evidence', 'data'))}{rng.randrange(100)}"
    built = BuiltPhysicalVolume(Path(path), seed, 0, pv_size, pv_uuid, vg_name, _lvm_id(rng),
                                extent_size, "")
    created = 1709542800 + rng.randrange(86400)
    for spec, where in zip(specs, segments, strict=True):
        built.volumes.append(BuiltVolume(spec.name, _lvm_id(rng), spec.filesystem,
                                         spec.extents * extent_size, where, spec.files))
    built.metadata = _metadata(built, pe_count, created)
    text = built.metadata.encode("ascii") + b"\0"  # lvm2 stores (and sums) the final NUL
    if len(text) > PE_START - MDA_OFFSET - MDA_HEADER_SIZE:
        raise LvmBuildError("the VG metadata does not fit in its metadata area")
    target = Path(path)
    with open(target, "wb") as handle:
        handle.truncate((MIB if mbr else 0) + pv_size)
    if mbr:
        built.pv_offset = _partition(target, pv_size)
    with tempfile.TemporaryDirectory(prefix="dalil-lvm-") as scratch, \
            open(target, "r+b") as handle:
        base = built.pv_offset
        handle.seek(base + LABEL_SECTOR * SECTOR)
        handle.write(_label(built))
        handle.seek(base + MDA_OFFSET)
        handle.write(_mda_header(text) + text)
        for spec, volume in zip(specs, built.volumes, strict=True):
            data = _file_system(spec, volume.size, rng, Path(scratch), created)
            for first, count, physical in volume.segments:
                handle.seek(base + PE_START + physical * extent_size)
                handle.write(data[first * extent_size:(first + count) * extent_size])
    return built


def tools_missing(volumes: Sequence[VolumeSpec], mbr: bool = False) -> list[str]:
    """The Debian tools :func:`build_lvm_image` needs for ``volumes`` (and, with ``mbr``,
    for the partition table) that are missing."""
    needed = {"ext4": ("mke2fs", "debugfs"), "fat32": ("mkfs.vfat", "mcopy")}
    tools = {t for spec in volumes for t in needed.get(spec.filesystem, ())}
    if mbr:
        tools.add("sfdisk")
    return sorted(t for t in tools if shutil.which(t) is None)


def with_volume_blanked(built: BuiltPhysicalVolume, index: int, path: Path,
                        size: int = 4096) -> Path:
    """A copy of the image at ``path`` whose logical volume ``index`` has its first
    ``size`` bytes zeroed (the boot sector or superblock of its file system gone): an
    unreadable LV beside readable ones, for exercises and tests. The original is kept."""
    data = bytearray(built.path.read_bytes())
    start = built.volumes[index].physical_offset(built.pv_offset, built.extent_size)
    data[start:start + size] = bytes(size)
    path.write_bytes(bytes(data))
    return path


def rewrite_metadata(built: BuiltPhysicalVolume, text: str) -> None:
    """Replace the VG text metadata of a built PV with ``text`` (and a header whose CRCs
    match it): for exercises and tests with unusual metadata (a thin LV, another PV)."""
    data = text.encode("ascii") + b"\0"
    room = PE_START - MDA_OFFSET - MDA_HEADER_SIZE
    if len(data) > room:
        raise LvmBuildError("the VG metadata does not fit in its metadata area")
    with open(built.path, "r+b") as handle:
        handle.seek(built.pv_offset + MDA_OFFSET)
        handle.write((_mda_header(data) + data).ljust(MDA_HEADER_SIZE + room, b"\0"))
    built.metadata = text
