"""Windows registry hives: USB storage devices (SYSTEM), local accounts (SAM), installed
programs (SOFTWARE) and recently used files (NTUSER.DAT).

regipy's :class:`~regipy.registry.NKRecord` reads the keys (names, last-written times,
subkey lists) straight from a read-only memory map of the file, from the root key on. The
base block is checked here: regipy's ``RegistryHive`` would copy the whole file into memory
and refuse a hive whose debugging file-name field is not valid UTF-16. Before regipy
follows any list, this module checks the cells it is about to read against a map of the
hive's allocated cells, built by one pass over every hive bin: a truncated hive, a wrong
signature, a cell whose size lies or an offset pointing outside an allocated cell is an
:class:`ArtifactParseError` naming the key and the file offset, never garbage records or
an endless read.

Values are read here from their cells (the ``vk`` layout of regipy's ``VALUE_KEY``):
regipy's own ``iter_values`` reads, for every value stored inline (a DWORD, a short
string), ``0x8000000N`` bytes from a wrong offset, i.e. the rest of the file, once per
value: quadratic on a large SOFTWARE hive, and for a type it does not know (the RID-typed
values of SAM) that rest of the file is returned as the data.

regipy's plugins are not used. In regipy 6.5 ``usbstor_plugin`` labels key 0064 "last
installed" and 0065 "first installed" and raises on a device key without ``Properties``;
``samparse`` never maps the ``Names`` keys to RIDs and loses every user name (it reads
``V`` as a hex string cut to 256 characters); ``recentdocs`` finds nothing (it reads the
binary entries as hex strings); and every plugin logs a missing key and goes on, which
would hide a damaged hive.

Times are UTC (FILETIME: 100-ns ticks since 1601). The last-written time of an MRU key is
when its most recent entry was used: only that entry gets an ``opened`` time.
"""

from __future__ import annotations

import io
import mmap
import re
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any, ClassVar

from regipy.registry import Cell, NKRecord

from dalil.engine.forensics.artifacts.base import (
    ArtifactError,
    ArtifactInput,
    ArtifactParseError,
    ArtifactRecord,
    register,
    unix_seconds,
    webkit_time,
)

MAX_SIZE = 2 * 1024**3
"""Largest hive read (bytes): the format addresses at most 4 GiB, Windows far less."""
MAX_ENTRY_ERRORS = 50
"""Damaged entries reported one by one before the hive is given up as damaged."""

_BASE = 4096
_SEGMENT = 16344  # data bytes in each segment of a db (big data) value
_LEAVES = (b"lf", b"lh", b"li")
_REG_SZ, _REG_EXPAND_SZ, _REG_BINARY, _REG_DWORD, _REG_QWORD = 1, 2, 3, 4, 11
_USBSTOR_ID = re.compile(r"^(?P<type>[^&]*)&Ven_(?P<ven>.*?)&Prod_(?P<prod>.*?)"
                         r"(?:&Rev_(?P<rev>.*))?$", re.IGNORECASE)
_DATES = "{83da6326-97a6-4088-9453-a1923f573b29}"
_NKRecord: Callable[[Cell, Any], Any] = NKRecord  # untyped in regipy: call it as Any


@dataclass(frozen=True, kw_only=True)
class UsbDevice(ArtifactRecord):
    """A USB storage device under ``Enum\\USBSTOR`` of a SYSTEM hive."""

    kind: ClassVar[str] = "usb-device"
    time_field: ClassVar[str | None] = "last_connected"
    device_type: str | None  # Disk, CdRom
    vendor: str | None
    product: str | None
    revision: str | None
    serial: str  # the instance key without its trailing "&0"
    serial_unique: bool  # False: the device has no serial, Windows made one up ("7&2a..&0")
    friendly_name: str | None
    first_install: datetime | None  # Properties ...\0064
    last_connected: datetime | None  # Properties ...\0066
    last_removal: datetime | None  # Properties ...\0067
    key_written: datetime | None  # the instance key's last-written time
    key_path: str
    drive_letter: str | None = None  # from MountedDevices, while it still maps it
    disk_id: str | None = None  # Device Parameters\Partmgr DiskId


@dataclass(frozen=True, kw_only=True)
class UserAccount(ArtifactRecord):
    """A local account of a SAM hive. ``created`` is the last-written time of its
    ``Names\\<name>`` key, where examiners read the creation time from."""

    kind: ClassVar[str] = "user-account"
    time_field: ClassVar[str | None] = "created"
    name: str | None
    rid: int | None
    full_name: str | None = None
    comment: str | None = None
    created: datetime | None = None
    last_logon: datetime | None = None
    last_password_change: datetime | None = None
    last_failed_logon: datetime | None = None
    logon_count: int | None = None
    failed_logon_count: int | None = None
    flags: int | None = None  # ACB flags: 0x0001 disabled, 0x0010 normal account, ...
    disabled: bool | None = None
    key_path: str | None = None
    key_written: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class InstalledProgram(ArtifactRecord):
    """A program under ``...\\CurrentVersion\\Uninstall`` of a SOFTWARE hive; its key was
    last written when it was installed or last updated."""

    kind: ClassVar[str] = "installed-program"
    time_field: ClassVar[str | None] = "key_written"
    name: str | None  # DisplayName
    version: str | None
    publisher: str | None
    install_date: str | None  # InstallDate as YYYY-MM-DD (the PC's local date), or as found
    install_location: str | None
    uninstall_key: str
    key_path: str
    key_written: datetime | None
    wow64: bool = False  # a 32-bit program on 64-bit Windows


@dataclass(frozen=True, kw_only=True)
class RecentFile(ArtifactRecord):
    """One entry of an MRU list of NTUSER.DAT: RecentDocs (files and folders opened),
    RunMRU (commands typed in Run), TypedPaths (paths typed in Explorer)."""

    kind: ClassVar[str] = "recent-file"
    time_field: ClassVar[str | None] = "opened"
    name: str
    list_name: str  # RecentDocs, RunMRU, TypedPaths
    extension: str | None  # the RecentDocs subkey (.docx, Folder), None for the main list
    mru_position: int | None  # 0: most recent; None: not in the MRU list any more
    value_name: str
    key_path: str
    key_written: datetime | None
    opened: datetime | None  # only for position 0: the key's last-written time


# --- the hive: cell map, guarded key walk, values -----------------------------------------


@dataclass(frozen=True)
class _Value:
    name: str
    type: int
    data: bytes

    def text(self) -> str | None:
        if self.type not in (_REG_SZ, _REG_EXPAND_SZ) or len(self.data) < 2:
            return None
        raw = self.data[:len(self.data) // 2 * 2].decode("utf-16-le", "replace")
        return raw.split("\0", 1)[0]

    def number(self) -> int | None:
        if self.type == _REG_DWORD and len(self.data) == 4:
            return int.from_bytes(self.data, "little")
        if self.type == _REG_QWORD and len(self.data) == 8:
            return int.from_bytes(self.data, "little")
        return None


def filetime(value: int) -> datetime | None:
    """A FILETIME (100-ns ticks since 1601-01-01 UTC); 0 and "never" give None."""
    if value <= 0 or value >= 0x7FFFFFFFFFFFFFFF:
        return None
    return webkit_time(value // 10)


class Hive:
    """A hive checked cell by cell (``data``: the whole file). Keys are regipy
    ``NKRecord`` objects; every list is checked here before regipy reads it."""

    def __init__(self, data: bytes | mmap.mmap) -> None:
        self.data = data
        self.notes: list[str] = []
        self._check_base_block()
        self._map = self._scan()
        root = self.u32(36)
        if not self._allocated(root) or self.signature(root) != b"nk":
            raise ArtifactParseError(f"root key offset 0x{root:x} (file offset "
                                     f"0x{_BASE + root:x}) is not an allocated key cell")
        stream = data if isinstance(data, mmap.mmap) else io.BytesIO(data)
        with self.guard("root key"):  # the cell's payload after its "nk" signature
            self.root = _NKRecord(Cell(offset=_BASE + root + 6, cell_type="nk", size=0), stream)

    # --- raw cells

    def u32(self, offset: int) -> int:
        value: int = struct.unpack_from("<I", self.data, offset)[0]
        return value

    def _check_base_block(self) -> None:
        size = len(self.data)
        if size < _BASE + 32:
            raise ArtifactParseError(f"truncated: {size} bytes, a hive has at least "
                                     f"{_BASE + 32} (base block and one hive bin)")
        if self.data[:4] != b"regf":
            raise ArtifactParseError(f"not a registry hive: signature {bytes(self.data[:4])!r}"
                                     " at offset 0, expected b'regf'")
        major, minor = struct.unpack_from("<II", self.data, 20)
        if major != 1:
            raise ArtifactParseError(f"unknown hive format version {major}.{minor}")
        checksum = 0
        for (word,) in struct.iter_unpack("<I", self.data[:508]):
            checksum ^= word
        # Windows stores 1 for a sum of 0 and 0xFFFFFFFE for 0xFFFFFFFF; others the sum.
        windows = {0: 1, 0xFFFFFFFF: 0xFFFFFFFE}.get(checksum, checksum)
        stored = self.u32(508)
        if stored not in (checksum, windows):
            self.notes.append(f"base block checksum 0x{stored:08x} at offset 508 differs "
                              f"from the computed 0x{checksum:08x}: header damaged; read on")
        primary, secondary = struct.unpack_from("<II", self.data, 4)
        if primary != secondary:
            self.notes.append(f"dirty hive (sequence numbers {primary} and {secondary}): "
                              "recent changes may be only in its .LOG1/.LOG2 files, not "
                              "applied here")
        self.bins_size = self.u32(40)
        available = size - _BASE
        if self.bins_size > available:
            raise ArtifactParseError(f"truncated: the base block declares {self.bins_size} "
                                     f"bytes of hive bins, the file holds {available}")
        if self.bins_size < 4096 or self.bins_size % 4096:
            raise ArtifactParseError(f"hive bins size {self.bins_size} at offset 40 is not a "
                                     "positive multiple of 4096")

    def _scan(self) -> bytearray:
        """A bitmap of allocated cell offsets (one bit per 8 bytes of hive bins)."""
        bitmap = bytearray(self.bins_size // 64 + 1)
        offset = 0
        while offset < self.bins_size:
            at = _BASE + offset
            magic, declared, size = struct.unpack_from("<4sII", self.data, at)
            if magic != b"hbin" or declared != offset:
                raise ArtifactParseError(f"no hive bin at file offset 0x{at:x} (signature "
                                         f"{bytes(magic)!r}, offset field 0x{declared:x})")
            if size < 4096 or size % 4096 or offset + size > self.bins_size:
                raise ArtifactParseError(f"hive bin at file offset 0x{at:x} claims {size} "
                                         "bytes: not a multiple of 4096 inside the hive")
            cell, end = offset + 32, offset + size
            while cell < end:
                raw = struct.unpack_from("<i", self.data, _BASE + cell)[0]
                length = abs(raw)
                if length < 8 or length % 8 or cell + length > end:
                    raise ArtifactParseError(
                        f"cell at file offset 0x{_BASE + cell:x} claims {raw} bytes: "
                        f"absurd or past the end of its hive bin (0x{_BASE + end:x})")
                if raw < 0:
                    bitmap[cell >> 6] |= 1 << ((cell >> 3) & 7)
                cell += length
            offset = end
        return bitmap

    def _allocated(self, offset: int) -> bool:
        return (offset % 8 == 0 and 0 <= offset < self.bins_size
                and bool(self._map[offset >> 6] & (1 << ((offset >> 3) & 7))))

    def cell(self, offset: int, what: str) -> tuple[int, int]:
        """(file offset, length) of the payload of the allocated cell at ``offset``."""
        if not self._allocated(offset):
            raise ArtifactParseError(f"{what}: offset 0x{offset:x} is not an allocated cell")
        return _BASE + offset + 4, -struct.unpack_from("<i", self.data, _BASE + offset)[0] - 4

    def signature(self, offset: int) -> bytes:
        return bytes(self.data[_BASE + offset + 4:_BASE + offset + 6])

    @contextmanager
    def guard(self, where: str) -> Iterator[None]:
        """regipy's and construct's failures as one clear error naming the place."""
        try:
            yield
        except ArtifactParseError:
            raise
        except Exception as exc:  # a damaged hive fails in many ways inside regipy
            raise ArtifactParseError(f"damaged hive at {where}: {type(exc).__name__}: "
                                     f"{exc}") from exc

    # --- keys

    def _check_key_cell(self, offset: int, where: str) -> None:
        start, length = self.cell(offset, where)
        if self.signature(offset) != b"nk" or length < 76:
            raise ArtifactParseError(f"{where}: cell at 0x{offset:x} is not a key (nk)")
        name_length = struct.unpack_from("<H", self.data, start + 72)[0]
        if 76 + name_length > length:
            raise ArtifactParseError(f"{where}: key name of {name_length} bytes overflows "
                                     f"its cell at file offset 0x{start - 4:x}")

    def _check_subkeys(self, nk: Any, path: str) -> None:
        count = int(nk.header.subkey_count)
        if not count:
            return
        where = f"key {path or '(root)'}: subkey list"
        head = int(nk.header.subkeys_list_offset)
        start, length = self.cell(head, where)
        lists = [head]
        if self.signature(head) == b"ri":
            leaves = struct.unpack_from("<H", self.data, start + 2)[0]
            if 4 + 4 * leaves > length:
                raise ArtifactParseError(f"{where}: index root of {leaves} leaves overflows "
                                         f"its cell at file offset 0x{start - 4:x}")
            lists = list(struct.unpack_from(f"<{leaves}I", self.data, start + 4))
        total = 0
        for leaf in lists:
            start, length = self.cell(leaf, where)
            signature = self.signature(leaf)
            if signature not in _LEAVES:
                raise ArtifactParseError(f"{where}: signature {signature!r} at file offset "
                                         f"0x{start:x}, expected lf, lh, li or ri")
            entries = struct.unpack_from("<H", self.data, start + 2)[0]
            width = 4 if signature == b"li" else 8
            if 4 + width * entries > length:
                raise ArtifactParseError(f"{where}: {entries} entries overflow the cell at "
                                         f"file offset 0x{start - 4:x}")
            for index in range(entries):
                self._check_key_cell(self.u32(start + 4 + width * index), where)
            total += entries
        if total != count:
            raise ArtifactParseError(f"{where}: the key records {count} subkeys, its lists "
                                     f"hold {total}")

    def subkeys(self, nk: Any, path: str) -> list[tuple[str, Any]]:
        """(name, NKRecord) of each subkey of ``nk``, in stored order."""
        self._check_subkeys(nk, path)
        with self.guard(f"key {path or '(root)'}"):
            return [(key_name(child), child) for child in (nk.iter_subkeys() or ())]

    def child(self, nk: Any, path: str, name: str) -> Any | None:
        for found, child in self.subkeys(nk, path):
            if found.upper() == name.upper():
                return child
        return None

    def find(self, path: str) -> Any | None:
        """The key at ``path`` (``\\``-separated, from the root), or None."""
        nk, walked = self.root, ""
        for part in (p for p in path.split("\\") if p):
            nk = self.child(nk, walked, part)
            walked = f"{walked}\\{part}" if walked else part
            if nk is None:
                return None
        return nk

    # --- values

    def values(self, nk: Any, path: str) -> dict[str, _Value]:
        """The values of ``nk`` by upper-cased name (``""`` for the default value)."""
        count = int(nk.header.values_count)
        found: dict[str, _Value] = {}
        if not count:
            return found
        where = f"key {path or '(root)'}: values"
        start, length = self.cell(int(nk.header.values_list_offset), where)
        if 4 * count > length:
            raise ArtifactParseError(f"{where}: {count} values overflow the list cell at file "
                                     f"offset 0x{start - 4:x}")
        for index in range(count):
            value = self._value(self.u32(start + 4 * index), where)
            found.setdefault(value.name.upper(), value)
        return found

    def _value(self, offset: int, where: str) -> _Value:
        start, length = self.cell(offset, where)
        if self.signature(offset) != b"vk" or length < 20:
            raise ArtifactParseError(f"{where}: cell at file offset 0x{start - 4:x} is not a "
                                     "value (vk)")
        # The vk layout of regipy's VALUE_KEY, unpacked with struct: construct costs ten
        # times more, and a SOFTWARE hive has hundreds of thousands of values.
        name_size, size, data_offset, kind, flags = struct.unpack_from("<HIIIH", self.data,
                                                                       start + 2)
        if 20 + name_size > length:
            raise ArtifactParseError(f"{where}: value name overflows the cell at file offset "
                                     f"0x{start - 4:x}")
        raw_name = bytes(self.data[start + 20:start + 20 + name_size])
        name = raw_name.decode("latin-1" if flags & 1 else "utf-16-le", "replace")
        return _Value(name, kind, self._data(size, data_offset, where, name))

    def _data(self, size: int, offset: int, where: str, name: str) -> bytes:
        where = f"{where}: {name or '(default)'}"
        if size & 0x80000000:  # stored in the offset field itself
            size &= 0x7FFFFFFF
            if size > 4:
                raise ArtifactParseError(f"{where}: inline data of {size} bytes (at most 4)")
            return struct.pack("<I", offset)[:size]
        if size == 0:
            return b""
        start, length = self.cell(offset, where)
        if size <= length:
            return bytes(self.data[start:start + size])
        if self.signature(offset) != b"db" or size <= _SEGMENT:
            raise ArtifactParseError(f"{where}: {size} bytes of data do not fit the cell of "
                                     f"{length} bytes at file offset 0x{start - 4:x}")
        segments, listed = struct.unpack_from("<HI", self.data, start + 2)
        list_start, list_length = self.cell(listed, where)
        if 4 * segments > list_length or segments * _SEGMENT < size:
            raise ArtifactParseError(f"{where}: big data list of {segments} segments at file "
                                     f"offset 0x{list_start - 4:x} cannot hold {size} bytes")
        parts = []
        for index in range(segments):
            seg_start, seg_length = self.cell(self.u32(list_start + 4 * index), where)
            take = min(_SEGMENT, size - index * _SEGMENT, seg_length)
            parts.append(bytes(self.data[seg_start:seg_start + max(take, 0)]))
        data = b"".join(parts)
        if len(data) < size:
            raise ArtifactParseError(f"{where}: big data segments hold {len(data)} of "
                                     f"{size} bytes")
        return data


def key_name(nk: Any) -> str:
    """The key's name: one byte a character (Latin-1) when "compressed", else UTF-16."""
    raw = bytes(nk.header.key_name_string)
    return raw.decode("latin-1" if nk.header.flags.KEY_COMP_NAME else "utf-16-le", "replace")


def written(nk: Any) -> datetime | None:
    return filetime(int(nk.header.last_modified))


@contextmanager
def open_hive(item: ArtifactInput) -> Iterator[Hive]:
    """The hive of ``item``, checked, read through a read-only memory map."""
    path = item.local_path()
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size > MAX_SIZE:
            raise ArtifactParseError(f"{size} bytes: larger than {MAX_SIZE}, not read")
        if size == 0:
            raise ArtifactParseError("empty file: not a registry hive")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield Hive(data)


def _entries(item: ArtifactInput, hive: Hive,
             producers: Iterator[tuple[str, Callable[[], list[ArtifactRecord]]]],
             ) -> Iterator[ArtifactRecord]:
    """Run each entry's producer; a damaged entry becomes an error record and the next
    one is read, until too many are damaged."""
    for note in hive.notes:
        yield ArtifactError(source=item.source,
                            message=f"{item.source.path}: {item.source.parser}: {note}")
    failures = 0
    for where, produce in producers:
        try:
            records = produce()
        except ArtifactParseError as exc:
            failures += 1
            if failures > MAX_ENTRY_ERRORS:
                raise ArtifactParseError(f"more than {MAX_ENTRY_ERRORS} damaged keys, the "
                                         f"last at {where}: {exc}") from exc
            yield ArtifactError(source=item.source, message=(
                f"{item.source.path}: {item.source.parser}: {where}: {exc}"))
            continue
        yield from records


# --- SYSTEM: USB storage devices ----------------------------------------------------------


def _control_sets(hive: Hive) -> list[str]:
    names = [name for name, _ in hive.subkeys(hive.root, "")
             if re.fullmatch(r"ControlSet\d{3}", name, re.IGNORECASE)]
    try:
        select = hive.find("Select")
        current = hive.values(select, "Select").get("CURRENT") if select is not None else None
    except ArtifactParseError as exc:
        hive.notes.append(f"Select: {exc}; every control set read in stored order")
        current = None
    number = current.number() if current is not None else None
    if number is not None:
        preferred = f"ControlSet{number:03d}"
        names.sort(key=lambda n: n.upper() != preferred.upper())
    return names


def _mounted(hive: Hive) -> dict[str, str]:
    """Upper-cased device interface path -> drive letter, from ``MountedDevices``."""
    key = hive.find("MountedDevices")
    found: dict[str, str] = {}
    if key is None:
        return found
    for value in hive.values(key, "MountedDevices").values():
        if value.name.upper().startswith("\\DOSDEVICES\\") and len(value.name) >= 13:
            text = value.data.decode("utf-16-le", "replace").upper()
            if "USBSTOR#" in text:
                found[text] = value.name[12]
    return found


def _descend(hive: Hive, nk: Any, path: str, *parts: str) -> tuple[Any | None, str]:
    """The key at ``path\\parts...`` below ``nk`` (or None) and its path."""
    for part in parts:
        if nk is None:
            break
        nk = hive.child(nk, path, part)
        path = f"{path}\\{part}"
    return nk, path


def _property_time(hive: Hive, instance: Any, path: str, number: str) -> datetime | None:
    key, where = _descend(hive, instance, path, "Properties", _DATES, number)
    if key is None:
        return None
    value = hive.values(key, where).get("")
    if value is None or len(value.data) != 8 or value.type & 0xFFFF != 0x10:
        return None
    return filetime(int.from_bytes(value.data, "little"))


def _usb_device(item: ArtifactInput, hive: Hive, device: str, instance: Any, path: str,
                mounted: dict[str, str]) -> list[ArtifactRecord]:
    name = path.rsplit("\\", 1)[1]
    match = _USBSTOR_ID.match(device)
    values = hive.values(instance, path)
    serial = re.sub(r"&\d+$", "", name)
    partmgr, partmgr_path = _descend(hive, instance, path, "Device Parameters", "Partmgr")
    disk_id = (hive.values(partmgr, partmgr_path).get("DISKID") if partmgr is not None
               else None)
    interface = f"#{device}#{name}#".upper()
    letter = next((d for text, d in mounted.items() if interface in text), None)
    friendly = values.get("FRIENDLYNAME")
    return [UsbDevice(
        source=item.source,
        device_type=match["type"] if match else None,
        vendor=match["ven"] if match else None,
        product=match["prod"] if match else None,
        revision=match["rev"] if match else None,
        serial=serial, serial_unique=len(serial) < 2 or serial[1] != "&",
        friendly_name=friendly.text() if friendly is not None else None,
        first_install=_property_time(hive, instance, path, "0064"),
        last_connected=_property_time(hive, instance, path, "0066"),
        last_removal=_property_time(hive, instance, path, "0067"),
        key_written=written(instance), key_path=path, drive_letter=letter,
        disk_id=disk_id.text() if disk_id is not None else None)]


@register("registry.system", "USB storage devices in a Windows SYSTEM hive (Enum\\USBSTOR)",
          names=("SYSTEM",))
def parse_system(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    with open_hive(item) as hive:
        try:
            mounted = _mounted(hive)
        except ArtifactParseError as exc:
            hive.notes.append(f"MountedDevices: {exc}; drive letters not read")
            mounted = {}
        seen: set[str] = set()

        def producers() -> Iterator[tuple[str, Callable[[], list[ArtifactRecord]]]]:
            for control_set in _control_sets(hive):
                base = f"{control_set}\\Enum\\USBSTOR"
                usbstor = hive.find(base)
                if usbstor is None:
                    continue
                for device, device_key in hive.subkeys(usbstor, base):
                    for serial, instance in hive.subkeys(device_key, f"{base}\\{device}"):
                        if f"{device}\\{serial}".upper() in seen:
                            continue  # the same device in an older control set
                        seen.add(f"{device}\\{serial}".upper())
                        path = f"{base}\\{device}\\{serial}"
                        yield path, partial(_usb_device, item, hive, device, instance,
                                            path, mounted)

        yield from _entries(item, hive, producers())


# --- SAM: local accounts ------------------------------------------------------------------

_USERS = "SAM\\Domains\\Account\\Users"


def _v_strings(data: bytes) -> list[str | None]:
    """User name, full name and comment from a ``V`` value (entries 1-3 of its table of
    (offset from 0xCC, length, 0) triples)."""
    found: list[str | None] = []
    for index in (1, 2, 3):
        if len(data) < 12 * index + 8:
            found.append(None)
            continue
        offset, length = struct.unpack_from("<II", data, 12 * index)
        text = data[0xCC + offset:0xCC + offset + length]
        found.append(text.decode("utf-16-le", "replace") if text and length % 2 == 0 and
                     0xCC + offset + length <= len(data) else None)
    return found


def _account(item: ArtifactInput, hive: Hive, rid: int, key: Any, path: str,
             names: dict[int, tuple[str, datetime | None]]) -> list[ArtifactRecord]:
    values = hive.values(key, path)
    f = values.get("F")
    v = values.get("V")
    user, full_name, comment = _v_strings(v.data) if v else [None, None, None]
    name, created = names.get(rid, (user, None))
    fields: dict[str, Any] = {}
    if f is not None and len(f.data) >= 0x44:
        last_logon, password, failed = (struct.unpack_from("<Q", f.data, at)[0]
                                        for at in (0x08, 0x18, 0x28))
        flags, = struct.unpack_from("<H", f.data, 0x38)
        failed_count, logons = struct.unpack_from("<HH", f.data, 0x40)
        fields = {"last_logon": filetime(last_logon),
                  "last_password_change": filetime(password),
                  "last_failed_logon": filetime(failed), "logon_count": logons,
                  "failed_logon_count": failed_count, "flags": flags,
                  "disabled": bool(flags & 1)}
    return [UserAccount(source=item.source, name=name, rid=rid, full_name=full_name or None,
                        comment=comment or None, created=created, key_path=path,
                        key_written=written(key), **fields)]


def _name_only(item: ArtifactInput, rid: int, name: str,
               created: datetime | None) -> list[ArtifactRecord]:
    return [UserAccount(source=item.source, name=name, rid=rid, created=created,
                        key_path=f"{_USERS}\\Names\\{name}")]


@register("registry.sam", "Local user accounts in a Windows SAM hive", names=("SAM",))
def parse_sam(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    with open_hive(item) as hive:
        users = hive.find(_USERS)
        if users is None:
            raise ArtifactParseError(f"no {_USERS} key: not a SAM hive")
        names: dict[int, tuple[str, datetime | None]] = {}
        names_key = hive.child(users, _USERS, "Names")
        if names_key is not None:
            for name, key in hive.subkeys(names_key, f"{_USERS}\\Names"):
                try:
                    default = hive.values(key, f"{_USERS}\\Names\\{name}").get("")
                except ArtifactParseError as exc:
                    hive.notes.append(f"{exc}; that account's name and creation not read")
                    continue
                if default is not None:  # the value's type is the account's RID
                    names[default.type] = (name, written(key))

        def producers() -> Iterator[tuple[str, Callable[[], list[ArtifactRecord]]]]:
            rids = set()
            for name, key in hive.subkeys(users, _USERS):
                if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
                    path = f"{_USERS}\\{name}"
                    rids.add(int(name, 16))
                    yield path, partial(_account, item, hive, int(name, 16), key, path,
                                        names)
            for rid, (name, created) in names.items():  # a name without its RID key
                if rid not in rids:
                    yield name, partial(_name_only, item, rid, name, created)

        yield from _entries(item, hive, producers())


# --- SOFTWARE: installed programs ---------------------------------------------------------

_UNINSTALL = "Microsoft\\Windows\\CurrentVersion\\Uninstall"


def _install_date(value: _Value | None) -> str | None:
    if value is None:
        return None
    number = value.number()
    if number is not None:  # some installers store Unix seconds
        moment = unix_seconds(number)
        return moment.date().isoformat() if moment else str(number)
    text = (value.text() or "").strip()
    if re.fullmatch(r"\d{8}", text):
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
        except ValueError:
            return text
    return text or None


def _program(item: ArtifactInput, hive: Hive, key: Any, path: str,
             wow64: bool) -> list[ArtifactRecord]:
    values = hive.values(key, path)

    def text(name: str) -> str | None:
        value = values.get(name.upper())
        return (value.text() or None) if value is not None else None

    return [InstalledProgram(
        source=item.source, name=text("DisplayName"), version=text("DisplayVersion"),
        publisher=text("Publisher"), install_date=_install_date(values.get("INSTALLDATE")),
        install_location=text("InstallLocation"), uninstall_key=path.rsplit("\\", 1)[1],
        key_path=path, key_written=written(key), wow64=wow64)]


@register("registry.software", "Installed programs in a Windows SOFTWARE hive (Uninstall)",
          names=("SOFTWARE",))
def parse_software(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    with open_hive(item) as hive:
        def producers() -> Iterator[tuple[str, Callable[[], list[ArtifactRecord]]]]:
            for base, wow64 in ((_UNINSTALL, False), (f"Wow6432Node\\{_UNINSTALL}", True)):
                uninstall = hive.find(base)
                if uninstall is None:
                    continue
                for name, key in hive.subkeys(uninstall, base):
                    path = f"{base}\\{name}"
                    yield path, partial(_program, item, hive, key, path, wow64)

        yield from _entries(item, hive, producers())


# --- NTUSER.DAT: recently used files ------------------------------------------------------

_EXPLORER = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"


def _recent_name(data: bytes) -> str:
    """A RecentDocs entry's file name: UTF-16 up to the first NUL character (a shell item
    of its shortcut follows)."""
    for at in range(0, len(data) - 1, 2):
        if data[at:at + 2] == b"\0\0":
            return data[:at].decode("utf-16-le", "replace")
    return data[:len(data) // 2 * 2].decode("utf-16-le", "replace")


def _mru_records(item: ArtifactInput, key: Any, path: str, list_name: str,
                 extension: str | None, ordered: list[str],
                 entries: dict[str, str]) -> list[ArtifactRecord]:
    """One record an entry: those in ``ordered`` first (MRU order), then the others."""
    when = written(key)
    records: list[ArtifactRecord] = []
    rest = [n for n in entries if n not in ordered]
    for position, value_name in [*enumerate(ordered), *((None, n) for n in rest)]:
        if value_name in entries:
            records.append(RecentFile(
                source=item.source, name=entries[value_name], list_name=list_name,
                extension=extension, mru_position=position, value_name=value_name,
                key_path=path, key_written=when, opened=when if position == 0 else None))
    return records


def _recent_docs(item: ArtifactInput, hive: Hive, key: Any, path: str,
                 extension: str | None) -> list[ArtifactRecord]:
    values = hive.values(key, path)
    order: list[str] = []
    mru = values.get("MRULISTEX")
    if mru is not None:
        for (index,) in struct.iter_unpack("<I", mru.data[:len(mru.data) // 4 * 4]):
            if index == 0xFFFFFFFF:
                break
            order.append(str(index))
    entries = {v.name: _recent_name(v.data) for v in values.values()
               if v.name.isdigit() and v.type == _REG_BINARY}
    return _mru_records(item, key, path, "RecentDocs", extension, order, entries)


def _run_mru(item: ArtifactInput, hive: Hive, key: Any, path: str) -> list[ArtifactRecord]:
    values = hive.values(key, path)
    order_value = values.get("MRULIST")
    order = list((order_value.text() or "") if order_value else "")
    entries = {}
    for value in values.values():
        text = value.text()
        if len(value.name) == 1 and value.name.isalpha() and text is not None:
            entries[value.name] = text[:-2] if text.endswith("\\1") else text
    return _mru_records(item, key, path, "RunMRU", None, order, entries)


def _typed_paths(item: ArtifactInput, hive: Hive, key: Any,
                 path: str) -> list[ArtifactRecord]:
    values = hive.values(key, path)
    numbered = sorted((int(v.name[3:]), v.name) for v in values.values()
                      if re.fullmatch(r"url\d{1,5}", v.name, re.IGNORECASE))
    entries = {name: values[name.upper()].text() or "" for _, name in numbered}
    return _mru_records(item, key, path, "TypedPaths", None, [n for _, n in numbered],
                        entries)


@register("registry.ntuser", "Recently used files, Run commands and typed paths in a "
          "user's NTUSER.DAT", names=("NTUSER.DAT",))
def parse_ntuser(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    with open_hive(item) as hive:
        def producers() -> Iterator[tuple[str, Callable[[], list[ArtifactRecord]]]]:
            docs_path = f"{_EXPLORER}\\RecentDocs"
            docs = hive.find(docs_path)
            if docs is not None:
                yield docs_path, partial(_recent_docs, item, hive, docs, docs_path, None)
                for name, key in hive.subkeys(docs, docs_path):
                    path = f"{docs_path}\\{name}"
                    yield path, partial(_recent_docs, item, hive, key, path, name)
            for list_name, read in (("RunMRU", _run_mru), ("TypedPaths", _typed_paths)):
                path = f"{_EXPLORER}\\{list_name}"
                key = hive.find(path)
                if key is not None:
                    yield path, partial(read, item, hive, key, path)

        yield from _entries(item, hive, producers())
