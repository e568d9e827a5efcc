"""A byte-for-byte reproducible writer of Windows registry hive files (regf), and the
SYSTEM, SAM, SOFTWARE and NTUSER.DAT hives of a scenario built with it.

Why by hand: no maintained library writes a hive from nothing. hivex (libhivex) can only
modify an existing hive, and regipy and python-registry only read. The format is the one
described by libyal's "Windows NT Registry File (REGF) format" and M. Suhanov's
specification: a 4096-byte base block (XOR-32 checksum over its first 508 bytes), then
hive bins (``hbin``, multiples of 4096 bytes) holding cells whose size is negative when
allocated. Cells written here: ``nk`` (keys), ``vk`` (values), value lists, ``lh`` hash
leaves (with ``ri`` index roots past 512 subkeys), one shared ``sk`` security cell, data
cells, and ``db`` big-data cells for values over 16344 bytes, as Windows 10 (format 1.5).

Deterministic: the layout follows the order of the description (the root key is the first
cell, as every Windows hive has it and as regipy assumes), free space is zeros, and no clock
is read: same input, same bytes. Times are UTC :class:`datetime` values, stored as FILETIME
(100-nanosecond ticks since 1601-01-01 UTC).
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

REG_NONE, REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD = 0, 1, 2, 3, 4
REG_MULTI_SZ, REG_QWORD = 7, 11
DEVPROP_FILETIME = 0xFFFF0010
"""Type of the device-property values under ``Enum\\...\\Properties`` (DEVPROP_TYPE_FILETIME
with the 0xFFFF0000 marker Windows puts on property values)."""

BASE_BLOCK = 4096
HBIN_SIZE = 4096
BIG_DATA_SEGMENT = 16344  # 0x3FD8: largest value data kept in one cell; more goes to db
LEAF_MAX = 512  # subkeys per lh leaf before an ri index root splits the list
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_NONE = 0xFFFFFFFF  # "no cell" offset
_KEY_HIVE_ENTRY, _KEY_NO_DELETE, _KEY_COMP_NAME = 0x04, 0x08, 0x20


class RegfError(ValueError):
    """The description cannot be written: a naive time, a name too long, a duplicate."""


@dataclass(frozen=True)
class RegValue:
    """One value: its name (``""`` for the default value), type number and raw data."""

    name: str
    type: int
    data: bytes


@dataclass(frozen=True)
class RegKey:
    """One key: its name, last-written time (UTC), values and subkeys."""

    name: str
    written: datetime
    values: tuple[RegValue, ...] = ()
    subkeys: tuple[RegKey, ...] = ()


def filetime(moment: datetime) -> int:
    """FILETIME of an aware datetime: 100-ns ticks since 1601-01-01 UTC."""
    if moment.tzinfo is None:
        raise RegfError(f"time {moment.isoformat()} has no time zone: give UTC")
    delta = moment.astimezone(UTC) - _FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def _utf16z(text: str) -> bytes:
    return (text + "\0").encode("utf-16-le")


def sz(name: str, text: str) -> RegValue:
    return RegValue(name, REG_SZ, _utf16z(text))


def expand_sz(name: str, text: str) -> RegValue:
    return RegValue(name, REG_EXPAND_SZ, _utf16z(text))


def binary(name: str, data: bytes) -> RegValue:
    return RegValue(name, REG_BINARY, bytes(data))


def dword(name: str, number: int) -> RegValue:
    return RegValue(name, REG_DWORD, struct.pack("<I", number))


def qword(name: str, number: int) -> RegValue:
    return RegValue(name, REG_QWORD, struct.pack("<Q", number))


def multi_sz(name: str, strings: Sequence[str]) -> RegValue:
    return RegValue(name, REG_MULTI_SZ, "".join(s + "\0" for s in strings).encode("utf-16-le")
                    + b"\0\0")


def none(name: str, data: bytes = b"") -> RegValue:
    return RegValue(name, REG_NONE, bytes(data))


# --- the writer --------------------------------------------------------------------------


def _name_bytes(name: str) -> tuple[bytes, bool]:
    """The stored name and whether it is "compressed" (one byte a character: ASCII only,
    since readers decode it as ASCII or Latin-1 and must agree)."""
    if name.isascii():
        return name.encode("ascii"), True
    return name.encode("utf-16-le"), False


def _upcase_units(name: str) -> list[int]:
    units = "".join(c.upper() if len(c.upper()) == 1 else c for c in name).encode("utf-16-le")
    return [int.from_bytes(units[i:i + 2], "little") for i in range(0, len(units), 2)]


def name_hash(name: str) -> int:
    """The ``lh`` hash: H = 37 * H + code unit, over the upper-cased UTF-16 name."""
    value = 0
    for unit in _upcase_units(name):
        value = (value * 37 + unit) & 0xFFFFFFFF
    return value


def _sid(authority: int, *subs: int) -> bytes:
    return struct.pack("<BB", 1, len(subs)) + authority.to_bytes(6, "big") + b"".join(
        struct.pack("<I", s) for s in subs)


def _security_descriptor() -> bytes:
    """Self-relative descriptor: owner Administrators, group SYSTEM; full control for SYSTEM
    and Administrators, read for Users, inherited by subkeys (as under HKLM)."""
    system, admins, users = _sid(5, 18), _sid(5, 32, 544), _sid(5, 32, 545)
    aces = b"".join(struct.pack("<BBHI", 0, 0x02, 8 + len(sid), mask) + sid
                    for sid, mask in ((system, 0xF003F), (admins, 0xF003F), (users, 0x20019)))
    acl = struct.pack("<BBHHH", 2, 0, 8 + len(aces), 3, 0) + aces
    dacl_at = 20
    owner_at = dacl_at + len(acl)
    group_at = owner_at + len(admins)
    return (struct.pack("<BBHIIII", 1, 0, 0x8004, owner_at, group_at, 0, dacl_at) + acl
            + admins + system)


class _Bins:
    """Cells packed into hive bins; offsets are relative to the start of the bins data."""

    def __init__(self, first_bin_time: int) -> None:
        self.data = bytearray()
        self._used = 0
        self._end = 0
        self._time = first_bin_time

    def alloc(self, length: int) -> int:
        """An allocated cell for ``length`` payload bytes; the offset of its size field."""
        size = (length + 4 + 7) & ~7
        if self._used + size > self._end:
            self._close()
            bin_size = max(HBIN_SIZE, -(-(size + 32) // HBIN_SIZE) * HBIN_SIZE)
            start = len(self.data)
            self.data += bytes(bin_size)
            stamp = self._time if start == 0 else 0
            struct.pack_into("<4sII8sQI", self.data, start, b"hbin", start, bin_size,
                             bytes(8), stamp, 0)
            self._used, self._end = start + 32, start + bin_size
        offset = self._used
        self._used += size
        struct.pack_into("<i", self.data, offset, -size)
        return offset

    def put(self, offset: int, payload: bytes) -> None:
        self.data[offset + 4:offset + 4 + len(payload)] = payload

    def cell(self, payload: bytes) -> int:
        offset = self.alloc(len(payload))
        self.put(offset, payload)
        return offset

    def _close(self) -> None:
        if self._used < self._end:  # the rest of the bin is one free cell (positive size)
            struct.pack_into("<i", self.data, self._used, self._end - self._used)
        self._used = self._end

    def finish(self) -> bytes:
        self._close()
        return bytes(self.data)


def _check(key: RegKey, path: str) -> None:
    if not key.name and path:
        raise RegfError(f"{path}: empty key name")
    if len(key.name) > 255 or "\\" in key.name:
        raise RegfError(f"{path}: key name longer than 255 characters or with a backslash")
    if key.written.tzinfo is None:
        raise RegfError(f"{path}: last-written time has no time zone: give UTC")
    for label, names in (("subkey", [k.name for k in key.subkeys]),
                         ("value", [v.name for v in key.values])):
        upper = [n.upper() for n in names]
        if len(set(upper)) != len(upper):
            raise RegfError(f"{path}: two {label}s with the same name (case-insensitive)")
    for value in key.values:
        if len(value.name) > 16383 or not 0 <= value.type <= 0xFFFFFFFF:
            raise RegfError(f"{path}: value {value.name!r}: name too long or bad type")


class _Writer:
    def __init__(self, written: int) -> None:
        self.bins = _Bins(written)

    def key(self, key: RegKey, parent: int, path: str, sk: int, offset: int | None = None,
            root: bool = False) -> int:
        _check(key, path)
        name, compressed = _name_bytes(key.name)
        nk = offset if offset is not None else self.bins.alloc(76 + len(name))
        values_list = self._values(key.values)
        children = sorted(key.subkeys, key=lambda k: _upcase_units(k.name))
        list_cell = self._reserve_list(len(children))
        child_offsets = [self.key(child, nk, f"{path}\\{child.name}", sk)
                         for child in children]
        subkeys_list = self._fill_list(list_cell, children, child_offsets)
        flags = (_KEY_COMP_NAME if compressed else 0)
        if root:
            flags |= _KEY_HIVE_ENTRY | _KEY_NO_DELETE
        biggest = (max((len(k.name) * 2 for k in key.subkeys), default=0),
                   max((len(v.name) * 2 for v in key.values), default=0),
                   max((len(v.data) for v in key.values), default=0))
        self.bins.put(nk, struct.pack(
            "<2sHQIIIIIIIIIIIIIIIHH", b"nk", flags, filetime(key.written), 0,
            _NONE if root else parent, len(children), 0, subkeys_list, _NONE,
            len(key.values), values_list, sk, _NONE, biggest[0], 0, biggest[1], biggest[2],
            0, len(name), 0) + name)
        return nk

    def _values(self, values: Sequence[RegValue]) -> int:
        if not values:
            return _NONE
        list_offset = self.bins.alloc(4 * len(values))
        offsets = []
        for value in values:
            name, compressed = _name_bytes(value.name)
            vk = self.bins.alloc(20 + len(name))
            size, data_offset = self._data(value.data)
            self.bins.put(vk, struct.pack("<2sHIIIHH", b"vk", len(name), size, data_offset,
                                          value.type, 1 if compressed and name else 0, 0)
                          + name)
            offsets.append(vk)
        self.bins.put(list_offset, struct.pack(f"<{len(offsets)}I", *offsets))
        return list_offset

    def _data(self, data: bytes) -> tuple[int, int]:
        """(size field, offset field) of a value's data: inline up to 4 bytes (size with the
        high bit set), one cell up to 16344 bytes, else a db cell and its segments."""
        if len(data) <= 4:
            return 0x80000000 | len(data), int.from_bytes(data.ljust(4, b"\0"), "little")
        if len(data) <= BIG_DATA_SEGMENT:
            return len(data), self.bins.cell(data)
        count = -(-len(data) // BIG_DATA_SEGMENT)
        if count > 0xFFFF:
            raise RegfError(f"value data of {len(data)} bytes: too large for a hive")
        db = self.bins.alloc(8)
        segments = [self.bins.cell(data[i:i + BIG_DATA_SEGMENT])
                    for i in range(0, len(data), BIG_DATA_SEGMENT)]
        segment_list = self.bins.cell(struct.pack(f"<{count}I", *segments))
        self.bins.put(db, struct.pack("<2sHI", b"db", count, segment_list))
        return len(data), db

    def _reserve_list(self, count: int) -> list[int]:
        """Cells for a subkey list of ``count`` entries: one lh leaf, or an ri root first
        and then its leaves (allocated before the children so that lists come first)."""
        if count == 0:
            return []
        if count <= LEAF_MAX:
            return [self.bins.alloc(4 + 8 * count)]
        leaves = -(-count // LEAF_MAX)
        cells = [self.bins.alloc(4 + 4 * leaves)]
        for index in range(leaves):
            cells.append(self.bins.alloc(4 + 8 * min(LEAF_MAX, count - index * LEAF_MAX)))
        return cells

    def _fill_list(self, cells: list[int], children: Sequence[RegKey],
                   offsets: Sequence[int]) -> int:
        if not cells:
            return _NONE
        leaves = cells if len(cells) == 1 else cells[1:]
        for index, leaf in enumerate(leaves):
            part = range(index * LEAF_MAX, min(len(children), (index + 1) * LEAF_MAX))
            self.bins.put(leaf, struct.pack("<2sH", b"lh", len(part)) + b"".join(
                struct.pack("<II", offsets[i], name_hash(children[i].name)) for i in part))
        if len(cells) > 1:
            self.bins.put(cells[0], struct.pack(f"<2sH{len(leaves)}I", b"ri", len(leaves),
                                                *leaves))
        return cells[0]


def _count(key: RegKey) -> int:
    return 1 + sum(_count(k) for k in key.subkeys)


def _latest(key: RegKey) -> datetime:
    return max([key.written, *(_latest(k) for k in key.subkeys)])


def write_hive(root: RegKey, *, file_name: str = "", written: datetime | None = None) -> bytes:
    """The bytes of a hive holding ``root`` and everything under it.

    ``file_name`` is the path Windows records in the base block (only its last 31
    characters are kept, as Windows does); ``written`` is the hive's last-written time
    (UTC), by default the latest last-written time of its keys.
    """
    stamp = filetime(written if written is not None else _latest(root))
    writer = _Writer(stamp)
    name, _ = _name_bytes(root.name)
    root_offset = writer.bins.alloc(76 + len(name))  # the root key is the first cell
    descriptor = _security_descriptor()
    sk = writer.bins.alloc(20 + len(descriptor))
    writer.bins.put(sk, struct.pack("<2sHIIII", b"sk", 0, sk, sk, _count(root),
                                    len(descriptor)) + descriptor)  # refcount: every key
    writer.key(root, _NONE, "", sk, offset=root_offset, root=True)
    bins = writer.bins.finish()
    header = bytearray(BASE_BLOCK)
    struct.pack_into("<4sIIQIIIIIII", header, 0, b"regf", 1, 1, stamp, 1, 5, 0, 1,
                     root_offset, len(bins), 1)
    header[48:48 + 62] = file_name[-31:].encode("utf-16-le")[:62].ljust(62, b"\0")
    checksum = 0
    for (word,) in struct.iter_unpack("<I", header[:508]):
        checksum ^= word
    if checksum in (0, 0xFFFFFFFF):
        # Windows maps these two sums to 1 and 0xFFFFFFFE while hivex compares the plain
        # XOR: change a reserved byte so that every reader agrees.
        header[0x1F0] = 1
        checksum ^= 1
    struct.pack_into("<I", header, 508, checksum)
    return bytes(header) + bins


# --- building trees by path --------------------------------------------------------------


@dataclass
class _Node:
    name: str
    written: datetime
    values: list[RegValue] = field(default_factory=list)
    children: dict[str, _Node] = field(default_factory=dict)

    def freeze(self) -> RegKey:
        return RegKey(self.name, self.written, tuple(self.values),
                      tuple(c.freeze() for c in self.children.values()))


class KeyTree:
    """A hive described by paths: ``tree.set("Select", dword("Current", 1))``. Missing
    parent keys are created with the tree's default last-written time."""

    def __init__(self, root_name: str, written: datetime) -> None:
        self.default = written
        self.root = _Node(root_name, written)

    def key(self, path: str, written: datetime | None = None) -> _Node:
        node = self.root
        for part in (p for p in path.split("\\") if p):
            child = node.children.get(part.upper())
            if child is None:
                child = node.children[part.upper()] = _Node(part, self.default)
            node = child
        if written is not None:
            node.written = written
        return node

    def set(self, path: str, *values: RegValue, written: datetime | None = None) -> _Node:
        node = self.key(path, written)
        node.values.extend(values)
        return node

    def build(self) -> RegKey:
        return self.root.freeze()


# --- the hives of a scenario -------------------------------------------------------------

_DISK_CLASS = "{4d36e967-e325-11ce-bfc1-08002be10318}"
_VOLUME_IFACE = "{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"
_DATES = "Properties\\{83da6326-97a6-4088-9453-a1923f573b29}"


@dataclass(frozen=True)
class PlantedUsb:
    """A USB storage device seen by the PC (times UTC). ``serial`` as Windows records it,
    without the trailing ``&0``; ``drive_letter`` like ``E`` or None."""

    vendor: str
    product: str
    revision: str
    serial: str
    first_install: datetime
    last_arrival: datetime
    last_removal: datetime | None = None
    friendly_name: str | None = None
    vid: str = "0951"
    pid: str = "1666"
    drive_letter: str | None = None

    @property
    def device_key(self) -> str:
        """``Disk&Ven_X&Prod_Y&Rev_Z`` (Windows keeps 8, 16 and 4 characters)."""
        return (f"Disk&Ven_{self.vendor.replace(' ', '_')[:8]}"
                f"&Prod_{self.product.replace(' ', '_')[:16]}&Rev_{self.revision[:4]}")

    @property
    def name(self) -> str:
        return self.friendly_name or f"{self.vendor} {self.product} USB Device"


def system_hive(devices: Sequence[PlantedUsb], *, computer_name: str, installed: datetime,
                timezone: str = "Central Asia Standard Time") -> bytes:
    """A SYSTEM hive: ``Select`` (current control set 1), ``ControlSet001`` with the
    computer name, time zone, and every device under ``Enum\\USBSTOR`` and ``Enum\\USB``
    (with the ``Properties`` first-install / last-arrival / last-removal times, keys 0064,
    0066, 0067), and ``MountedDevices`` for the devices that had a drive letter."""
    tree = KeyTree("ROOT", installed)
    tree.set("Select", dword("Current", 1), dword("Default", 1), dword("Failed", 0),
             dword("LastKnownGood", 1))
    tree.set("ControlSet001\\Control\\ComputerName\\ComputerName",
             sz("ComputerName", computer_name))
    tree.set("ControlSet001\\Control\\TimeZoneInformation", sz("TimeZoneKeyName", timezone))
    tree.set("ControlSet001\\Services\\USBSTOR", dword("Start", 3), dword("Type", 1),
             expand_sz("ImagePath", "\\SystemRoot\\System32\\drivers\\USBSTOR.SYS"))
    mounted: list[RegValue] = []
    for number, dev in enumerate(devices):
        instance = f"{dev.serial}&0"
        base = f"ControlSet001\\Enum\\USBSTOR\\{dev.device_key}\\{instance}"
        ven, prod, rev = (part.split("_", 1)[1] for part in dev.device_key.split("&")[1:])
        tree.set(base, sz("DeviceDesc", "@disk.inf,%disk_devdesc%;Disk drive"),
                 dword("Capabilities", 0x10),
                 multi_sz("HardwareID", [f"USBSTOR\\Disk{ven}{prod}{rev}",
                                         f"USBSTOR\\Disk{ven}{prod}", f"USBSTOR\\Disk{ven}",
                                         "USBSTOR\\GenDisk", "GenDisk"]),
                 multi_sz("CompatibleIDs", ["USBSTOR\\Disk", "USBSTOR\\RAW", "GenDisk"]),
                 sz("ClassGUID", _DISK_CLASS), sz("Class", "DiskDrive"),
                 sz("Driver", f"{_DISK_CLASS}\\{number:04d}"),
                 sz("Mfg", "@disk.inf,%genmanufacturer%;(Standard disk drives)"),
                 sz("Service", "disk"), sz("FriendlyName", dev.name), dword("ConfigFlags", 0),
                 written=dev.last_arrival)
        disk_id = uuid.UUID(bytes=hashlib.sha256(instance.encode()).digest()[:16], version=4)
        tree.set(f"{base}\\Device Parameters\\Partmgr", dword("Attributes", 0),
                 sz("DiskId", "{" + str(disk_id) + "}"), written=dev.first_install)
        tree.key(f"{base}\\{_DATES}", written=dev.first_install)
        for number_key, moment in (("0064", dev.first_install), ("0065", dev.first_install),
                                   ("0066", dev.last_arrival), ("0067", dev.last_removal)):
            if moment is not None:
                tree.set(f"{base}\\{_DATES}\\{number_key}", RegValue(
                    "", DEVPROP_FILETIME, struct.pack("<Q", filetime(moment))), written=moment)
        tree.set(f"ControlSet001\\Enum\\USB\\VID_{dev.vid}&PID_{dev.pid}\\{dev.serial}",
                 sz("DeviceDesc", "@usbstor.inf,%usbstor.devicedesc%;USB Mass Storage Device"),
                 sz("Service", "USBSTOR"), sz("Class", "USB"), written=dev.last_arrival)
        if dev.drive_letter:
            link = f"_??_USBSTOR#{dev.device_key}#{instance}#{_VOLUME_IFACE}"
            mounted.append(binary(f"\\DosDevices\\{dev.drive_letter.upper()}:",
                                  link.encode("utf-16-le")))
    # Adding a subkey updates its parent's last-written time: the class keys and USBSTOR
    # itself were last written when their newest device was first installed.
    for dev in sorted(devices, key=lambda d: d.first_install):
        for parent in (f"USBSTOR\\{dev.device_key}", "USBSTOR", f"USB\\VID_{dev.vid}&PID_{dev.pid}",
                       "USB"):
            tree.key(f"ControlSet001\\Enum\\{parent}", written=dev.first_install)
    times = [d.last_arrival for d in devices if d.drive_letter]
    tree.set("MountedDevices", *mounted, written=max(times, default=installed))
    return write_hive(tree.build(), file_name="SYSTEM")


@dataclass(frozen=True)
class Account:
    """A local user account (times UTC). ``created`` becomes the last-written time of
    ``Names\\<name>``, which is where examiners read the creation time from."""

    name: str
    rid: int
    created: datetime
    last_logon: datetime | None = None
    password_set: datetime | None = None
    last_failed_logon: datetime | None = None
    logon_count: int = 0
    failed_count: int = 0
    flags: int = 0x0210  # normal account, password does not expire
    full_name: str = ""
    comment: str = ""


_NEVER = 0x7FFFFFFFFFFFFFFF


def _ft(moment: datetime | None) -> int:
    return filetime(moment) if moment is not None else 0


def sam_f_value(account: Account) -> bytes:
    """The 80-byte ``F`` value (Vista and later): times at 0x08 (last logon), 0x18
    (password set), 0x20 (expires), 0x28 (last failed logon); RID 0x30; flags 0x38;
    failed and successful logon counts at 0x40 and 0x42."""
    return struct.pack("<HHIQQQQQIIHHHHHHQI", 3, 1, 0, _ft(account.last_logon), 0,
                       _ft(account.password_set), _NEVER, _ft(account.last_failed_logon),
                       account.rid, 513, account.flags, 0, 0, 0, account.failed_count,
                       account.logon_count, 0, 0)


def sam_v_value(account: Account) -> bytes:
    """The ``V`` value: 17 (offset, length, 0) triples (0xCC bytes), then the strings,
    offsets counted from 0xCC and 4-byte aligned; name, full name and comment only."""
    strings = {1: account.name, 2: account.full_name, 3: account.comment}
    table, area = bytearray(), bytearray()
    for index in range(17):
        data = strings.get(index, "").encode("utf-16-le")
        table += struct.pack("<III", len(area), len(data), 0)
        area += data + bytes(-len(data) % 4)
    return bytes(table + area)


def sam_hive(accounts: Sequence[Account], *, installed: datetime,
             machine_sid: tuple[int, int, int] = (1510442101, 3826710436, 2418736981),
             builtin: bool = True) -> bytes:
    """A SAM hive with the built-in accounts (Administrator 500 and Guest 501, disabled,
    created at ``installed``) unless ``builtin`` is false, and ``accounts``."""
    every = list(accounts)
    if builtin:
        every[:0] = [Account("Administrator", 500, installed, flags=0x0211,
                             comment="Built-in account for administering the computer/domain"),
                     Account("Guest", 501, installed, flags=0x0215,
                             comment="Built-in account for guest access to the computer/domain")]
    tree = KeyTree("ROOT", installed)
    account = "SAM\\Domains\\Account"
    domain_v = bytes(0x3C) + _sid(5, 21, *machine_sid)
    tree.set(account, binary("F", struct.pack("<HHI", 3, 1, 0) + bytes(0x48)),
             binary("V", domain_v))
    tree.key("SAM\\Domains\\Builtin\\Aliases")
    tree.key("SAM\\RXACT")
    latest = installed
    for user in every:
        tree.set(f"{account}\\Users\\Names\\{user.name}", RegValue("", user.rid, b""),
                 written=user.created)
        written = max(m for m in (user.created, user.last_logon, user.password_set) if m)
        tree.set(f"{account}\\Users\\{user.rid:08X}", binary("F", sam_f_value(user)),
                 binary("V", sam_v_value(user)), written=written)
        latest = max(latest, user.created)
    tree.key(f"{account}\\Users\\Names", written=latest)
    tree.key(f"{account}\\Users", written=latest)
    return write_hive(tree.build(), file_name="\\SystemRoot\\System32\\Config\\SAM")


@dataclass(frozen=True)
class Program:
    """An installed program: its ``Uninstall`` subkey name (a GUID or a plain name), what
    Add/Remove Programs shows, and when it was installed (UTC)."""

    key: str
    name: str
    version: str
    publisher: str
    installed: datetime
    location: str = ""
    wow64: bool = False  # a 32-bit program on 64-bit Windows (under Wow6432Node)
    size_kb: int = 0


def software_hive(programs: Sequence[Program], *, installed: datetime, owner: str,
                  utc_offset: timedelta = timedelta(0)) -> bytes:
    """A SOFTWARE hive: Windows' own ``CurrentVersion`` and one ``Uninstall`` subkey a
    program. ``InstallDate`` (YYYYMMDD) is the local date, ``utc_offset`` ahead of UTC."""
    tree = KeyTree("ROOT", installed)
    tree.set("Microsoft\\Windows NT\\CurrentVersion", sz("ProductName", "Windows 10 Pro"),
             sz("EditionID", "Professional"), sz("CurrentBuild", "19045"),
             sz("DisplayVersion", "22H2"), sz("RegisteredOwner", owner),
             dword("InstallDate", int(installed.timestamp())),
             qword("InstallTime", filetime(installed)),
             expand_sz("SystemRoot", "C:\\Windows"))
    tree.set("Microsoft\\Windows\\CurrentVersion", expand_sz("ProgramFilesDir",
                                                             "C:\\Program Files"))
    for program in programs:
        root = "Wow6432Node\\" if program.wow64 else ""
        values = [sz("DisplayName", program.name), sz("DisplayVersion", program.version),
                  sz("Publisher", program.publisher),
                  sz("InstallDate", f"{program.installed + utc_offset:%Y%m%d}")]
        if program.location:
            values += [sz("InstallLocation", program.location),
                       sz("UninstallString", f"\"{program.location}\\uninstall.exe\"")]
        if program.size_kb:
            values.append(dword("EstimatedSize", program.size_kb))
        values += [dword("NoModify", 1), dword("NoRepair", 1)]
        tree.set(f"{root}Microsoft\\Windows\\CurrentVersion\\Uninstall\\{program.key}",
                 *values, written=program.installed)
    for program in sorted(programs, key=lambda p: p.installed):  # a new subkey: parent too
        root = "Wow6432Node\\" if program.wow64 else ""
        tree.key(f"{root}Microsoft\\Windows\\CurrentVersion\\Uninstall", program.installed)
    return write_hive(tree.build(),
                      file_name="\\SystemRoot\\System32\\Config\\SOFTWARE")


def _dos_time(moment: datetime) -> bytes:
    m = moment.astimezone(UTC)
    return struct.pack("<HH", ((m.year - 1980) << 9) | (m.month << 5) | m.day,
                       (m.hour << 11) | (m.minute << 5) | (m.second // 2))


def recent_docs_entry(name: str, opened: datetime) -> bytes:
    """A ``RecentDocs`` value: the file name (UTF-16, NUL-ended), then the shell item of
    its shortcut in the Recent folder (a file entry with its long name in a 0xBEEF0004
    extension block), then the two zero bytes that end the item list."""
    link = f"{name}.lnk"
    stem, _, ext = link.rpartition(".")
    short = (stem.upper().replace(" ", "")[:6] + "~1." + ext.upper()[:3]).encode(
        "ascii", "replace")
    short += b"\0" * (1 if len(short) % 2 else 2)
    long_name = _utf16z(link)
    extension = struct.pack("<HHI", 0, 3, 0xBEEF0004) + _dos_time(opened) + _dos_time(opened) \
        + struct.pack("<H", 0x14) + long_name
    extension = struct.pack("<H", len(extension) + 2) + extension[2:]
    head_length = 14 + len(short)
    extension += struct.pack("<H", head_length)
    item = struct.pack("<BBI", 0x32, 0, 0) + _dos_time(opened) + struct.pack("<H", 0x20) \
        + short + extension
    return _utf16z(name) + struct.pack("<H", len(item) + 2) + item + b"\0\0"


def _mru_list_ex(order: Iterable[int]) -> RegValue:
    return binary("MRUListEx", b"".join(struct.pack("<I", i) for i in order) + b"\xff" * 4)


def _recent_docs(tree: KeyTree, path: str, recent: Sequence[tuple[str, datetime]]) -> None:
    """Index numbers in the order files were first opened; ``MRUListEx`` most recent first;
    one subkey an extension (``Folder`` for names without one) with its own list."""
    last: dict[str, tuple[str, datetime]] = {}
    for name, opened in recent:  # a file opened again moves to the front
        if name.upper() not in last or opened >= last[name.upper()][1]:
            last[name.upper()] = (name, opened)
    ordered = sorted(last.values(), key=lambda item: item[1])
    groups: dict[str, list[tuple[str, datetime]]] = {"": ordered}
    for name, opened in ordered:
        ext = "." + name.rpartition(".")[2] if "." in name else "Folder"
        groups.setdefault(ext, []).append((name, opened))
    for ext, entries in groups.items():
        if entries:
            tree.set(f"{path}\\{ext}" if ext else path,
                     _mru_list_ex(range(len(entries) - 1, -1, -1)),
                     *(binary(str(i), recent_docs_entry(name, opened))
                       for i, (name, opened) in enumerate(entries)),
                     written=entries[-1][1])


def ntuser_hive(recent: Sequence[tuple[str, datetime]], *, user: str, installed: datetime,
                run: Sequence[tuple[str, datetime]] = (),
                typed_paths: Sequence[tuple[str, datetime]] = ()) -> bytes:
    """A user's NTUSER.DAT: ``RecentDocs`` (and one subkey an extension) with ``MRUListEx``
    and the files opened (name, time UTC), the Run dialog's ``RunMRU`` and Explorer's
    ``TypedPaths``. Each MRU key is last written when its most recent entry was used."""
    tree = KeyTree("ROOT", installed)
    tree.set("Environment", expand_sz("TEMP", "%USERPROFILE%\\AppData\\Local\\Temp"),
             expand_sz("TMP", "%USERPROFILE%\\AppData\\Local\\Temp"))
    tree.set("Volatile Environment", sz("USERNAME", user),
             sz("USERPROFILE", f"C:\\Users\\{user}"))
    tree.set("Control Panel\\International", sz("LocaleName", "ru-RU"))
    explorer = "Software\\Microsoft\\Windows\\CurrentVersion\\Explorer"
    tree.key(explorer)
    _recent_docs(tree, f"{explorer}\\RecentDocs", recent)
    if run:
        newest = sorted(run, key=lambda item: item[1], reverse=True)[:26]
        letters = "abcdefghijklmnopqrstuvwxyz"[:len(newest)]
        tree.set(f"{explorer}\\RunMRU", sz("MRUList", letters),
                 *(sz(letter, f"{command}\\1")
                   for letter, (command, _) in zip(letters, newest, strict=True)),
                 written=newest[0][1])
    if typed_paths:
        newest = sorted(typed_paths, key=lambda item: item[1], reverse=True)
        tree.set(f"{explorer}\\TypedPaths",
                 *(sz(f"url{i}", path) for i, (path, _) in enumerate(newest, start=1)),
                 written=newest[0][1])
    return write_hive(tree.build(), file_name=f"\\??\\C:\\Users\\{user}\\ntuser.dat")
