"""Windows XML event logs (``.evtx``) written from scratch, and realistic logs for labs.

No maintained library writes EVTX (python-evtx, libevtx and the Rust ``evtx`` crate only
read it), so the format is written here by hand from libyal's "Windows XML Event Log
(EVTX) format" and [MS-EVEN6] BinXml: a 4096-byte file header (``ElfFile\\0``, CRC32 of
its first 120 bytes), 65536-byte chunks (``ElfChnk\\0``, a CRC32 of the header and one of
the event records, the 64-bucket common-string table and the 32-bucket template table),
and event records (``**\\0\\0``) whose Binary XML is a fragment header, a template
instance (the template definition inline on its first use in a chunk, referenced by
offset after that) and the substitution values, as Windows itself writes them.

Deterministic: same events, same bytes (template GUIDs are derived from the template's
shape). python-evtx and libevtx's ``evtxexport`` both read the files back.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dalil.engine.scenarios.artifacts import UsbDevice

FILE_HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512
RECORD_HEADER_SIZE = 24
EVENT_NAMESPACE = "http://schemas.microsoft.com/win/2004/08/events/event"
FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_TEMPLATE_NAMESPACE = uuid.UUID("6c1f3a52-0d4b-4f5e-9a57-64616c696c00")  # Dalil's own

# BinXml value types ([MS-EVEN6] 2.2.13)
_WSTRING, _UINT8, _UINT16, _UINT32, _UINT64 = 0x01, 0x04, 0x06, 0x08, 0x0A
_GUID, _FILETIME, _SID, _HEX64 = 0x0F, 0x11, 0x13, 0x15


@dataclass(frozen=True)
class Event:
    """One event to write. ``data`` is the EventData: (Name, string value) in order."""

    channel: str
    provider: str
    event_id: int
    level: int
    record_number: int
    time_created: datetime  # timezone-aware; stored as FILETIME (100 ns units, UTC)
    computer: str
    data: tuple[tuple[str, str], ...] = ()
    provider_guid: str | None = None
    qualifiers: int | None = None  # EventID Qualifiers (classic providers, e.g. SCM)
    version: int = 0
    task: int = 0
    opcode: int = 0
    keywords: int = 0
    process_id: int = 0
    thread_id: int = 0
    user_sid: str | None = None  # System/Security UserID


def filetime(moment: datetime) -> int:
    """A timezone-aware instant as FILETIME: 100-nanosecond intervals since 1601 UTC."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r}: a naive time; give the time zone (UTC)")
    return (moment - FILETIME_EPOCH) // timedelta(microseconds=1) * 10


def name_hash(name: str) -> int:
    """The 16-bit BinXml name hash of [MS-EVEN6]: hash = hash * 65599 + UTF-16 unit."""
    value = 0
    units = name.encode("utf-16-le")
    for index in range(0, len(units), 2):
        value = (value * 65599 + int.from_bytes(units[index:index + 2], "little")) & 0xFFFFFFFF
    return value & 0xFFFF


# --- Binary XML ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sub:
    """A substitution slot of a template: index into the instance values, value type."""

    index: int
    type: int


_Content = str | _Sub  # literal text or a substitution


@dataclass(frozen=True)
class _Element:
    name: str
    attributes: tuple[tuple[str, _Content], ...] = ()
    children: tuple[_Element | _Content, ...] = ()


def _u16(value: int) -> bytes:
    return struct.pack("<H", value)


def _u32(value: int) -> bytes:
    return struct.pack("<I", value)


def _sid(text: str) -> bytes:
    parts = text.split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"{text!r}: not a SID (S-1-5-...)")
    revision, authority, *subs = (int(p) for p in parts[1:])
    return (bytes([revision, len(subs)]) + authority.to_bytes(6, "big")
            + b"".join(_u32(s) for s in subs))


class _Encoder:
    """Binary XML of one record placed at chunk offset ``base``: a name or template seen
    before in the chunk is referenced by its chunk offset, a new one is written inline."""

    def __init__(self, base: int, strings: dict[str, int], templates: dict[uuid.UUID, int]):
        self.out = bytearray()
        self.base = base
        self.strings = dict(strings)
        self.templates = dict(templates)

    def pos(self) -> int:
        return self.base + len(self.out)

    def name(self, text: str) -> None:
        known = self.strings.get(text)
        if known is not None:
            self.out += _u32(known)
            return
        offset = self.pos() + 4  # the name follows its own offset
        self.strings[text] = offset
        units = text.encode("utf-16-le")
        self.out += (_u32(offset) + _u32(0) + _u16(name_hash(text)) + _u16(len(units) // 2)
                     + units + b"\0\0")

    def content(self, value: _Content) -> None:
        if isinstance(value, _Sub):
            self.out += bytes([0x0D]) + _u16(value.index) + bytes([value.type])
        else:
            units = value.encode("utf-16-le")
            self.out += bytes([0x05, _WSTRING]) + _u16(len(units) // 2) + units

    def element(self, element: _Element) -> None:
        start = len(self.out)
        token = 0x41 if element.attributes else 0x01
        self.out += bytes([token]) + _u16(0xFFFF) + _u32(0)  # dependency: none; size later
        self.name(element.name)
        if element.attributes:
            size_at = len(self.out)
            self.out += _u32(0)
            for index, (name, value) in enumerate(element.attributes):
                self.out.append(0x46 if index < len(element.attributes) - 1 else 0x06)
                self.name(name)
                self.content(value)
            self.out[size_at:size_at + 4] = _u32(len(self.out) - size_at - 4)
        if element.children:
            self.out.append(0x02)
            for child in element.children:
                if isinstance(child, _Element):
                    self.element(child)
                else:
                    self.content(child)
            self.out.append(0x04)
        else:
            self.out.append(0x03)
        self.out[start + 3:start + 7] = _u32(len(self.out) - start - 7)

    def template_instance(self, guid: uuid.UUID, body: _Element,
                          values: Sequence[tuple[int, bytes]]) -> None:
        self.out += b"\x0f\x01\x01\x00\x0c\x01" + guid.bytes_le[:4]
        known = self.templates.get(guid)
        if known is not None:
            self.out += _u32(known)
        else:
            offset = self.pos() + 4
            self.templates[guid] = offset
            self.out += _u32(offset) + _u32(0) + guid.bytes_le + _u32(0)
            start = len(self.out)
            self.out += b"\x0f\x01\x01\x00"
            self.element(body)
            self.out.append(0x00)
            self.out[start - 4:start] = _u32(len(self.out) - start)
        self.out += _u32(len(values))
        for kind, data in values:
            if len(data) > 0xFFFF:
                raise ValueError(f"a substitution value of {len(data)} bytes: over 65535")
            self.out += _u16(len(data)) + bytes([kind, 0])
        for _, data in values:
            self.out += data
        self.out.append(0x00)  # end of the document: libevtx requires it, python-evtx skips it


def _template(event: Event) -> tuple[uuid.UUID, _Element, list[tuple[int, bytes]]]:
    """The template of ``event`` (its shape: which optional parts, which Data names) and
    the substitution values that fill it."""
    values: list[tuple[int, bytes]] = []

    def sub(kind: int, data: bytes) -> _Sub:
        values.append((kind, data))
        return _Sub(len(values) - 1, kind)

    def text(value: str) -> _Sub:
        if "\0" in value:
            raise ValueError(f"{value!r}: NUL characters cannot be stored in an event")
        return sub(_WSTRING, value.encode("utf-16-le"))

    provider: list[tuple[str, _Content]] = [("Name", text(event.provider))]
    if event.provider_guid:
        provider.append(("Guid", sub(_GUID, uuid.UUID(event.provider_guid).bytes_le)))
    event_id_attrs: tuple[tuple[str, _Content], ...] = ()
    if event.qualifiers is not None:
        event_id_attrs = (("Qualifiers", sub(_UINT16, _u16(event.qualifiers))),)
    system = _Element("System", children=(
        _Element("Provider", tuple(provider)),
        _Element("EventID", event_id_attrs, (sub(_UINT16, _u16(event.event_id)),)),
        _Element("Version", children=(sub(_UINT8, bytes([event.version])),)),
        _Element("Level", children=(sub(_UINT8, bytes([event.level])),)),
        _Element("Task", children=(sub(_UINT16, _u16(event.task)),)),
        _Element("Opcode", children=(sub(_UINT8, bytes([event.opcode])),)),
        _Element("Keywords", children=(sub(_HEX64, struct.pack("<Q", event.keywords)),)),
        _Element("TimeCreated", (("SystemTime", sub(
            _FILETIME, struct.pack("<Q", filetime(event.time_created)))),)),
        _Element("EventRecordID", children=(sub(_UINT64,
                                                 struct.pack("<Q", event.record_number)),)),
        _Element("Correlation"),
        _Element("Execution", (("ProcessID", sub(_UINT32, _u32(event.process_id))),
                               ("ThreadID", sub(_UINT32, _u32(event.thread_id))))),
        _Element("Channel", children=(text(event.channel),)),
        _Element("Computer", children=(text(event.computer),)),
        _Element("Security", (("UserID", sub(_SID, _sid(event.user_sid))),)
                 if event.user_sid else ()),
    ))
    data = tuple(_Element("Data", (("Name", name),), (text(value),))
                 for name, value in event.data)
    body = _Element("Event", (("xmlns", EVENT_NAMESPACE),),
                    (system, _Element("EventData", children=data)))
    shape = repr(_Element("Event", children=(system, _Element("EventData", children=data))))
    return uuid.uuid5(_TEMPLATE_NAMESPACE, shape), body, values


# --- chunks and file -------------------------------------------------------------------


class _Chunk:
    def __init__(self) -> None:
        self.data = bytearray(CHUNK_SIZE)
        self.end = CHUNK_HEADER_SIZE
        self.strings: dict[str, int] = {}
        self.templates: dict[uuid.UUID, int] = {}
        self.numbers: list[int] = []
        self.last = 0

    def add(self, event: Event) -> bool:
        """Append ``event``; False (chunk unchanged) when it does not fit."""
        encoder = _Encoder(self.end + RECORD_HEADER_SIZE, self.strings, self.templates)
        guid, body, values = _template(event)
        encoder.template_instance(guid, body, values)
        size = RECORD_HEADER_SIZE + len(encoder.out) + 4
        if self.end + size > CHUNK_SIZE:
            if self.end == CHUNK_HEADER_SIZE:
                raise ValueError(f"event record {event.record_number}: {size} bytes, "
                                 "larger than a chunk can hold")
            return False
        record = (b"\x2a\x2a\x00\x00" + _u32(size) + struct.pack(
            "<QQ", event.record_number, filetime(event.time_created)) + encoder.out
            + _u32(size))
        self.data[self.end:self.end + size] = record
        self.last, self.end = self.end, self.end + size
        self.strings, self.templates = encoder.strings, encoder.templates
        self.numbers.append(event.record_number)
        return True

    def _chain(self, table_at: int, buckets: int, entries: Iterable[tuple[int, int]]) -> None:
        """Hash table of chunk offsets: bucket heads in the header, each entry's first
        dword links to the next entry of its bucket."""
        tails: dict[int, int] = {}
        for bucket, offset in sorted(entries, key=lambda e: e[1]):
            bucket %= buckets
            if bucket in tails:
                self.data[tails[bucket]:tails[bucket] + 4] = _u32(offset)
            else:
                self.data[table_at + 4 * bucket:table_at + 4 * bucket + 4] = _u32(offset)
            tails[bucket] = offset

    def finish(self) -> bytes:
        self._chain(128, 64, ((name_hash(n), o) for n, o in self.strings.items()))
        self._chain(384, 32, ((int.from_bytes(g.bytes_le[:4], "little"), o)
                              for g, o in self.templates.items()))
        first, last = (self.numbers[0], self.numbers[-1]) if self.numbers else (0, 0)
        self.data[0:56] = b"ElfChnk\0" + struct.pack(
            "<QQQQIII", first, last, first, last, 128, self.last, self.end) + _u32(
            zlib.crc32(self.data[CHUNK_HEADER_SIZE:self.end]))
        self.data[124:128] = _u32(zlib.crc32(bytes(self.data[:120] + self.data[128:512])))
        return bytes(self.data)


def write_evtx(events: Sequence[Event]) -> bytes:
    """The bytes of an ``.evtx`` file holding ``events`` in order.

    Record numbers must increase (``ValueError`` otherwise, and for values the format
    cannot hold). Windows numbers records consecutively: a gap is what a record cut out by
    a log-editing tool leaves, and libevtx then reports the file as corrupted."""
    chunks: list[bytes] = []
    chunk = _Chunk()
    previous = 0
    for event in events:
        if event.record_number <= previous:
            raise ValueError(f"event record {event.record_number} after {previous}: "
                             "record numbers must increase")
        previous = event.record_number
        if not chunk.add(event):
            chunks.append(chunk.finish())
            chunk = _Chunk()
            chunk.add(event)
    chunks.append(chunk.finish())  # an empty log still has its (empty) first chunk
    header = bytearray(FILE_HEADER_SIZE)
    header[:44] = b"ElfFile\0" + struct.pack(
        "<QQQIHHHH", 0, len(chunks) - 1, previous + 1, 128, 1, 3, FILE_HEADER_SIZE,
        len(chunks))
    header[124:128] = _u32(zlib.crc32(bytes(header[:120])))
    return bytes(header) + b"".join(chunks)


# --- realistic logs for a training scenario ----------------------------------------------

SECURITY_AUDITING = ("Microsoft-Windows-Security-Auditing",
                     "54849625-5478-4994-a5ba-3e3b0328c30d")
SERVICE_CONTROL_MANAGER = ("Service Control Manager", "555908d1-a6d7-4695-8e1e-26931d2012f4")
PARTITION = ("Microsoft-Windows-Partition", "412bdff2-a8c4-470d-8f33-63fe0d8c20e2")
KERNEL_PNP = ("Microsoft-Windows-Kernel-PnP", "9c205a39-1250-487d-abd7-e831c6290539")
PARTITION_CHANNEL = "Microsoft-Windows-Partition/Diagnostic"
PNP_CHANNEL = "Microsoft-Windows-Kernel-PnP/Configuration"
_START_CODES = {"boot start": "0", "system start": "1", "auto start": "2",
                "demand start": "3", "disabled": "4"}
_AUDIT_SUCCESS, _AUDIT_FAILURE = 0x8020000000000000, 0x8010000000000000
_ZERO_GUID = "{00000000-0000-0000-0000-000000000000}"
_LSASS = 668  # the process that writes the Security log (its ID is arbitrary but steady)


@dataclass(frozen=True)
class LogonAttempt:
    """A logon to plant: 4624 when it succeeds, 4625 when it fails."""

    at: datetime
    user: str
    domain: str
    logon_type: int = 10  # 2 interactive, 3 network, 10 remote desktop
    ip: str = "-"
    workstation: str = "-"
    success: bool = True
    sub_status: str = "0xc000006a"  # failures: bad password (0xc0000064: no such user)


@dataclass(frozen=True)
class PlantedService:
    """A service installed on the computer (Security 4697 and System 7045)."""

    at: datetime
    name: str
    image_path: str
    start_type: str = "demand start"  # as 7045 words it: auto start, demand start, ...
    account: str = "LocalSystem"
    user: str = "Administrator"  # who installed it
    domain: str = "WORKGROUP"
    user_sid: str = "S-1-5-21-3623811015-3361044348-30300820-500"


@dataclass(frozen=True)
class UsbConnection:
    """A USB storage device plugged in (and pulled out, when ``removed`` is given)."""

    device: UsbDevice
    attached: datetime
    removed: datetime | None = None
    capacity: int = 32_010_928_128  # bytes


def _user_sid(user: str) -> str:
    return f"S-1-5-21-3623811015-3361044348-30300820-{1000 + zlib.crc32(user.encode()) % 500}"


def _logon(attempt: LogonAttempt, computer: str, number: int) -> Event:
    network = attempt.logon_type == 3
    subject = (("SubjectUserSid", "S-1-5-18"), ("SubjectUserName", f"{computer}$"),
               ("SubjectDomainName", attempt.domain), ("SubjectLogonId", "0x3e7"))
    process = ("0x0", "-") if network else ("0x2d4", "C:\\Windows\\System32\\svchost.exe")
    how = (("LogonType", str(attempt.logon_type)),
           ("LogonProcessName", "NtLmSsp " if network else "User32 "),
           ("AuthenticationPackageName", "NTLM" if network else "Negotiate"),
           ("WorkstationName", attempt.workstation))
    tail = (("TransmittedServices", "-"), ("LmPackageName", "NTLM V2" if network else "-"),
            ("KeyLength", "128" if network else "0"), ("ProcessId", process[0]),
            ("ProcessName", process[1]), ("IpAddress", attempt.ip),
            ("IpPort", "0" if attempt.ip == "-" else str(49152 + number % 16000)))
    data: tuple[tuple[str, str], ...]
    if attempt.success:
        data = (*subject, ("TargetUserSid", _user_sid(attempt.user)),
                ("TargetUserName", attempt.user), ("TargetDomainName", attempt.domain),
                ("TargetLogonId", hex(0x3A000 + number * 0x1F3)), *how,
                ("LogonGuid", _ZERO_GUID), *tail,
                ("ImpersonationLevel", "%%1833"), ("RestrictedAdminMode", "-"),
                ("TargetOutboundUserName", "-"), ("TargetOutboundDomainName", "-"),
                ("VirtualAccount", "%%1843"), ("TargetLinkedLogonId", "0x0"),
                ("ElevatedToken", "%%1842"))
    else:
        data = (*subject, ("TargetUserSid", "S-1-0-0"), ("TargetUserName", attempt.user),
                ("TargetDomainName", attempt.domain), ("Status", "0xc000006d"),
                ("FailureReason", "%%2313"), ("SubStatus", attempt.sub_status), *how, *tail)
    return Event("Security", SECURITY_AUDITING[0], 4624 if attempt.success else 4625, 0,
                 number, attempt.at, computer, data, provider_guid=SECURITY_AUDITING[1],
                 version=2 if attempt.success else 0, task=12544,
                 keywords=_AUDIT_SUCCESS if attempt.success else _AUDIT_FAILURE,
                 process_id=_LSASS, thread_id=700 + number % 97 * 4)


def _service_4697(service: PlantedService, computer: str, number: int) -> Event:
    data = (("SubjectUserSid", service.user_sid), ("SubjectUserName", service.user),
            ("SubjectDomainName", service.domain), ("SubjectLogonId", "0x3a1f2"),
            ("ServiceName", service.name), ("ServiceFileName", service.image_path),
            ("ServiceType", "0x10"), ("ServiceStartType", _START_CODES[service.start_type]),
            ("ServiceAccount", service.account))
    return Event("Security", SECURITY_AUDITING[0], 4697, 0, number, service.at, computer,
                 data, provider_guid=SECURITY_AUDITING[1], task=12289,
                 keywords=_AUDIT_SUCCESS, process_id=_LSASS, thread_id=700 + number % 97 * 4)


def security_log(computer: str, logons: Sequence[LogonAttempt],
                 services: Sequence[PlantedService] = (), *, first_record: int = 1) -> bytes:
    """``Security.evtx``: 4624/4625 for ``logons`` and 4697 for ``services``, by time."""
    items: list[LogonAttempt | PlantedService] = [*logons, *services]
    planned = sorted(enumerate(items), key=lambda p: (p[1].at, p[0]))
    events = []
    for number, (_, item) in enumerate(planned, start=first_record):
        events.append(_logon(item, computer, number) if isinstance(item, LogonAttempt)
                      else _service_4697(item, computer, number))
    return write_evtx(events)


def system_log(computer: str, services: Sequence[PlantedService], *,
               first_record: int = 1) -> bytes:
    """``System.evtx``: a 7045 "A service was installed in the system" per service."""
    events = []
    for number, service in enumerate(sorted(services, key=lambda s: s.at), start=first_record):
        data = (("ServiceName", service.name), ("ImagePath", service.image_path),
                ("ServiceType", "user mode service"), ("StartType", service.start_type),
                ("AccountName", service.account))
        events.append(Event("System", SERVICE_CONTROL_MANAGER[0], 7045, 4, number,
                            service.at, computer, data,
                            provider_guid=SERVICE_CONTROL_MANAGER[1], qualifiers=16384,
                            keywords=0x8080000000000000, process_id=772,
                            thread_id=3040 + number % 50 * 4, user_sid=service.user_sid))
    return write_evtx(events)


def _partition(usb: UsbConnection, at: datetime, attached: bool, computer: str,
               number: int) -> Event:
    device = usb.device
    disk = uuid.uuid5(_TEMPLATE_NAMESPACE, f"disk:{device.serial}")
    data = (("Version", "2"), ("DiskNumber", "1"), ("Flags", "0x0"),
            ("Characteristics", "0x0"), ("IsSystem", "false"), ("IsBoot", "false"),
            ("BusType", "7"), ("Manufacturer", device.vendor), ("Model", device.product),
            ("Revision", device.revision), ("SerialNumber", device.serial),
            ("Location", "Integrated : Bus 0 : Device 5 : Function 0 : Adapter 1 : Port 2"),
            ("ParentId", device.usb_id), ("DiskId", "{" + str(disk).upper() + "}"),
            ("AdapterId", _ZERO_GUID),
            ("RegistryId", "{" + str(disk).upper() + "}"), ("PoolId", _ZERO_GUID),
            ("Capacity", str(usb.capacity if attached else 0)), ("BytesPerSector", "512"),
            ("PartitionStyle", "0"), ("PartitionCount", "1" if attached else "0"))
    return Event(PARTITION_CHANNEL, PARTITION[0], 1006, 4, number, at, computer, data,
                 provider_guid=PARTITION[1], version=2, keywords=0x8000000000000000,
                 process_id=4, thread_id=8212, user_sid="S-1-5-18")


def partition_log(computer: str, connections: Sequence[UsbConnection], *,
                  first_record: int = 1) -> bytes:
    """``Microsoft-Windows-Partition%4Diagnostic.evtx`` (on by default since Windows 10
    1703): a 1006 with the device's vendor, model, serial and capacity when attached, and
    one with capacity 0 when removed."""
    planned = [(c.attached, i, c, True) for i, c in enumerate(connections)]
    planned += [(c.removed, i, c, False) for i, c in enumerate(connections) if c.removed]
    planned.sort(key=lambda p: (p[0], p[1], not p[3]))
    return write_evtx([_partition(c, at, attached, computer, number) for number, (
        at, _, c, attached) in enumerate(planned, start=first_record)])


def pnp_log(computer: str, connections: Sequence[UsbConnection], *,
            first_record: int = 1) -> bytes:
    """``Microsoft-Windows-Kernel-PnP%4Configuration.evtx``: 400 (device configured) and
    410 (device started) for the USB device and its USBSTOR disk at first attachment."""
    events: list[Event] = []
    number = first_record
    for usb in sorted(connections, key=lambda c: c.attached):
        for offset, (instance, parent, inf, service) in enumerate((
                (usb.device.usb_id, "USB\\ROOT_HUB30\\4&2b8f0e5&0&0", "usbstor.inf",
                 "USBSTOR"),
                (usb.device.usbstor_id, usb.device.usb_id, "disk.inf", "disk"))):
            at = usb.attached + timedelta(milliseconds=250 * offset)
            configured = (("DeviceInstanceId", instance), ("DriverName", inf),
                          ("ClassGuid", "{4d36e967-e325-11ce-bfc1-08002be10318}"),
                          ("DriverDate", "6/21/2006"), ("DriverVersion", "10.0.19041.1"),
                          ("DriverProvider", "Microsoft"), ("DriverInbox", "true"),
                          ("DriverSection", "USBSTOR_BULK.NT" if service == "USBSTOR"
                           else "disk_install.NT"), ("DriverRank", "0xff0000"),
                          ("MatchingDeviceId", "USB\\Class_08&SubClass_06&Prot_50"
                           if service == "USBSTOR" else "GenDisk"),
                          ("OutrankedDrivers", ""), ("DeviceUpdated", "false"),
                          ("Status", "0x0"), ("ParentDeviceInstanceId", parent))
            started = (("DeviceInstanceId", instance), ("DriverName", inf),
                       ("ServiceName", service), ("LowerFilters", ""),
                       ("UpperFilters", ""), ("Problem", "0x0"), ("Status", "0x0"))
            for event_id, data in ((400, configured), (410, started)):
                events.append(Event(PNP_CHANNEL, KERNEL_PNP[0], event_id, 4, number, at,
                                    computer, data, provider_guid=KERNEL_PNP[1],
                                    keywords=0x4000000000000000, process_id=4,
                                    thread_id=412, user_sid="S-1-5-18"))
                number += 1
    return write_evtx(events)
