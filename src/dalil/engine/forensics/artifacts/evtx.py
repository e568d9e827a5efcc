"""Windows event logs (``*.evtx``): logons, service installs and USB storage devices.

Read with python-evtx (module ``Evtx``), one record at a time, and kept to what an
investigation asks of a log: who logged on, from where, when (Security 4624/4625); which
services were installed (Security 4697, System 7045); which USB storage devices were
attached (Partition/Diagnostic 1006, Kernel-PnP/Configuration 400/410). Other events are
read and passed over.

Damage is reported where it is: a file that is not EVTX (signature, size) raises
:class:`ArtifactParseError`; a bad header or chunk CRC32, a truncated chunk, a broken
record (size, signature, Binary XML) gives an :class:`ArtifactError` naming the chunk and
the byte offset, and reading goes on with the next record, so every readable record
stands. Checksums are checked here: python-evtx does not.
"""

from __future__ import annotations

import contextlib
import mmap
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from xml.etree import ElementTree

from Evtx import Nodes as nodes
from Evtx.Evtx import ChunkHeader, Record

from dalil.engine.forensics.artifacts.base import (
    ArtifactError,
    ArtifactInput,
    ArtifactParseError,
    ArtifactRecord,
    register,
)

FILE_HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512
RECORD_MAGIC = b"\x2a\x2a\x00\x00"
_RECORD_MIN = 24 + 4 + 4  # header, a fragment header at least, the size copy
MAX_RENDERED = 1 << 21
"""Largest rendering of one event (characters and nodes); real events stay far below."""
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_SYSTEM_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?")
LOGON_TYPES = {2: "interactive", 3: "network", 4: "batch", 5: "service", 7: "unlock",
               8: "network cleartext", 9: "new credentials", 10: "remote interactive",
               11: "cached interactive", 12: "cached remote interactive",
               13: "cached unlock"}
START_TYPES = {"0": "boot start", "1": "system start", "2": "auto start", "3": "demand start",
               "4": "disabled"}
_USBSTOR = re.compile(r"USBSTOR\\[^\\]*?Ven_([^&\\]*)&Prod_([^&\\]*)(?:&Rev_[^\\]*)?\\([^\\]+)",
                      re.IGNORECASE)
_USB = re.compile(r"USB\\VID_([0-9A-F]{4})&PID_([0-9A-F]{4})[^\\]*\\([^\\]+)", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Logon(ArtifactRecord):
    """A logon (4624) or failed logon (4625) from the Security log."""

    kind: ClassVar[str] = "windows-logon"
    time_field: ClassVar[str | None] = "time"
    time: datetime | None  # TimeCreated, UTC
    event_id: int
    success: bool
    user: str | None
    domain: str | None
    logon_type: int | None
    logon_type_name: str | None  # interactive, network, remote interactive, ...
    source_ip: str | None
    workstation: str | None
    status: str | None = None  # failures: the NTSTATUS (SubStatus when it says more)
    record_number: int | None = None
    computer: str | None = None


@dataclass(frozen=True, kw_only=True)
class ServiceInstall(ArtifactRecord):
    """A service installed (Security 4697, System 7045): a classic persistence step."""

    kind: ClassVar[str] = "windows-service-install"
    time_field: ClassVar[str | None] = "time"
    time: datetime | None
    event_id: int
    service_name: str | None
    image_path: str | None
    start_type: str | None  # boot start, system start, auto start, demand start, disabled
    account: str | None  # the account the service runs as
    installed_by: str | None = None  # 4697: DOMAIN\user; 7045: the user's SID
    record_number: int | None = None
    computer: str | None = None


@dataclass(frozen=True, kw_only=True)
class UsbEvent(ArtifactRecord):
    """A USB storage device seen by Windows (Partition 1006, Kernel-PnP 400/410)."""

    kind: ClassVar[str] = "usb-event"
    time_field: ClassVar[str | None] = "time"
    time: datetime | None
    event_id: int
    action: str  # attached, removed (1006); configured (400); started (410)
    device_instance_id: str
    vendor: str | None
    product: str | None
    serial: str | None  # None when Windows made one up (no serial on the device)
    vid: str | None = None
    pid: str | None = None
    capacity: int | None = None  # bytes (1006)
    record_number: int | None = None
    computer: str | None = None


# --- reading the file ---------------------------------------------------------------------


def _u32(buf: mmap.mmap | bytes, offset: int) -> int:
    value: int = struct.unpack_from("<I", buf, offset)[0]
    return value


def _filetime(value: int) -> datetime | None:
    if value <= 0:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return None


class _Renderer:
    """An event's Binary XML as an ElementTree, from python-evtx's nodes.

    Like ``Evtx.Views`` but with a budget: a hostile record can reference one large value
    or template thousands of times (nested), and would render to gigabytes; every node
    and character spends the budget, and the record is refused when it runs out."""

    def __init__(self, templates: dict[int, Any], budget: int = MAX_RENDERED) -> None:
        self.templates = templates  # the chunk's parsed templates, by file offset
        self.budget = budget

    def spend(self, amount: int) -> None:
        self.budget -= amount + 1
        if self.budget < 0:
            raise ArtifactParseError(f"renders to more than {MAX_RENDERED} characters")

    def document(self, root: Any) -> ElementTree.Element:
        holder = ElementTree.Element("document")
        self.fill(holder, root)
        return holder

    def fill(self, parent: ElementTree.Element, root: Any) -> None:
        # python-evtx parses a record's template anew each time (most of its cost): the
        # records of a chunk share a few templates, so each is parsed once per chunk, and
        # a broken one fails the records that use it at once
        at = root._chunk.offset() + root.template_instance().template_offset()
        template = self.templates.get(at)
        if isinstance(template, Exception):
            raise ArtifactParseError(f"its template at offset {at:#x} is broken: {template}")
        if template is None:
            try:
                template = root.template().children()
            except Exception as exc:
                self.templates[at] = exc
                raise
            self.templates[at] = template
        subs = root.substitutions()
        for node in template:
            self.node(parent, node, subs)

    def node(self, parent: ElementTree.Element, node: Any, subs: list[Any]) -> None:
        if isinstance(node, nodes.OpenStartElementNode):
            name = str(node.tag_name())
            self.spend(len(name))
            element = ElementTree.SubElement(parent, name)
            for child in node.children():
                if isinstance(child, nodes.AttributeNode):
                    element.set(str(child.attribute_name().string()),
                                self.attribute(child.attribute_value(), subs))
                else:
                    self.node(element, child, subs)
        elif isinstance(node, nodes.NormalSubstitutionNode | nodes.ConditionalSubstitutionNode):
            value = subs[node.index()]
            if isinstance(value, nodes.BXmlTypeNode):
                self.fill(parent, value.root())
            else:
                self.text(parent, _value_text(value))
        elif isinstance(node, nodes.ValueNode):
            self.text(parent, str(node.children()[0].string()))
        elif isinstance(node, nodes.CDataSectionNode):
            self.text(parent, str(node.cdata()))
        elif isinstance(node, nodes.CharacterReferenceNode):
            self.text(parent, chr(node.entity()))
        elif isinstance(node, nodes.EntityReferenceNode):
            name = str(node._chunk.strings()[node.string_offset()].string())
            self.text(parent, _ENTITIES.get(name, f"&{name};"))
        # close tokens, end of stream, fragment headers, processing instructions: no text

    def attribute(self, node: Any, subs: list[Any]) -> str:
        if isinstance(node, nodes.NormalSubstitutionNode | nodes.ConditionalSubstitutionNode):
            value = subs[node.index()]
            text = "" if isinstance(value, nodes.BXmlTypeNode) else _value_text(value)
        elif isinstance(node, nodes.ValueNode):
            text = str(node.children()[0].string())
        else:
            text = ""
        self.spend(len(text))
        return text

    def text(self, parent: ElementTree.Element, text: str) -> None:
        self.spend(len(text))
        if len(parent):
            parent[-1].tail = (parent[-1].tail or "") + text
        else:
            parent.text = (parent.text or "") + text


def _value_text(node: Any) -> str:
    """A substitution value as text; a FILETIME to the 100 ns (python-evtx goes through a
    float and can be off by microseconds)."""
    if isinstance(node, nodes.FiletimeTypeNode):
        raw = int(node.unpack_qword(0))
        moment = _filetime(raw)
        if moment is None:
            return ""
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{raw % 10_000_000:07d}Z"
    return str(node.string())


def _parse_time(text: str | None) -> datetime | None:
    match = _SYSTEM_TIME.match(text or "")
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "0").ljust(6, "0")[:6])
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Event:
    """The parts of one rendered event that the records need."""

    provider: str
    event_id: int | None
    time: datetime | None
    record_number: int | None
    computer: str | None
    user_sid: str | None
    data: dict[str, str]


def _int(text: str | None) -> int | None:
    """A decimal number, or None (str.isdigit also accepts digits int() refuses: '²')."""
    value = (text or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_event(buf: mmap.mmap, offset: int, chunk: Any, templates: dict[int, Any]) -> _Event:
    """Render the record at ``offset`` with python-evtx and pick out its fields."""
    holder = _Renderer(templates).document(Record(buf, offset, chunk).root())
    document = holder[0] if len(holder) else holder
    system: dict[str, ElementTree.Element] = {}
    data: dict[str, str] = {}
    for part in document:
        if _local(part.tag) == "System":
            system = {_local(child.tag): child for child in part}
        elif _local(part.tag) == "EventData":
            for index, item in enumerate(part):
                data[item.get("Name") or f"#{index}"] = item.text or ""

    def text(name: str) -> str | None:
        element = system.get(name)
        return element.text if element is not None else None

    def number(name: str) -> int | None:
        return _int(text(name))

    created = system.get("TimeCreated")
    when = _parse_time(created.get("SystemTime") if created is not None else None)
    security = system.get("Security")
    provider = system.get("Provider")
    return _Event(
        provider=(provider.get("Name") or "") if provider is not None else "",
        event_id=number("EventID"),
        time=when or _filetime(struct.unpack_from("<Q", buf, offset + 16)[0]),
        record_number=number("EventRecordID") or struct.unpack_from("<Q", buf, offset + 8)[0],
        computer=text("Computer"),
        user_sid=security.get("UserID") if security is not None else None,
        data=data,
    )


# --- turning events into records ----------------------------------------------------------


def _value(data: dict[str, str], name: str) -> str | None:
    """An EventData value; Windows writes "-" (or nothing) for none."""
    value = (data.get(name) or "").strip()
    return value if value and value != "-" else None


def _logon(item: ArtifactInput, event: _Event) -> Logon:
    data = event.data
    logon_type = _int(_value(data, "LogonType"))
    status = _value(data, "SubStatus")
    if status is None or (_is_hex(status) and int(status, 16) == 0):
        status = _value(data, "Status")
    return Logon(
        source=item.source, time=event.time, event_id=event.event_id or 0,
        success=event.event_id == 4624, user=_value(data, "TargetUserName"),
        domain=_value(data, "TargetDomainName"), logon_type=logon_type,
        logon_type_name=LOGON_TYPES.get(logon_type) if logon_type is not None else None,
        source_ip=_value(data, "IpAddress"), workstation=_value(data, "WorkstationName"),
        status=status if event.event_id == 4625 else None,
        record_number=event.record_number, computer=event.computer)


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def _service(item: ArtifactInput, event: _Event) -> ServiceInstall:
    data = event.data
    if event.event_id == 4697:
        start = _value(data, "ServiceStartType")
        user, domain = _value(data, "SubjectUserName"), _value(data, "SubjectDomainName")
        return ServiceInstall(
            source=item.source, time=event.time, event_id=4697,
            service_name=_value(data, "ServiceName"),
            image_path=_value(data, "ServiceFileName"),
            start_type=START_TYPES.get(start or "", start),
            account=_value(data, "ServiceAccount"),
            installed_by="\\".join(p for p in (domain, user) if p) or None,
            record_number=event.record_number, computer=event.computer)
    start = _value(data, "StartType")
    return ServiceInstall(
        source=item.source, time=event.time, event_id=7045,
        service_name=_value(data, "ServiceName"), image_path=_value(data, "ImagePath"),
        start_type=START_TYPES.get(start or "", start), account=_value(data, "AccountName"),
        installed_by=event.user_sid, record_number=event.record_number,
        computer=event.computer)


def _serial(text: str | None, *, lun: bool) -> str | None:
    """The device's serial from an instance id part; None when Windows generated it (its
    second character is '&': the device reported no serial)."""
    if not text or (len(text) > 1 and text[1] == "&"):
        return None
    return text.rsplit("&", 1)[0] if lun and "&" in text else text


def _usb(item: ArtifactInput, event: _Event) -> UsbEvent | None:
    data = event.data
    if event.event_id == 1006:
        instance = _value(data, "ParentId") or ""
        if data.get("BusType") != "7" and not _USB.search(instance):
            return None  # an internal disk
        size = _int(_value(data, "Capacity"))
        action = "removed" if size == 0 else "attached"
    else:
        instance = _value(data, "DeviceInstanceId") or ""
        action = "configured" if event.event_id == 400 else "started"
    stor, usb = _USBSTOR.search(instance), _USB.search(instance)
    if stor is None and usb is None:
        return None  # not a USB device
    vendor = product = serial = None
    if stor is not None:
        vendor, product = (stor.group(i).replace("_", " ").strip() or None for i in (1, 2))
        serial = _serial(stor.group(3), lun=True)
    if usb is not None:
        serial = serial or _serial(usb.group(3), lun=False)
    if event.event_id == 1006:
        vendor = _value(data, "Manufacturer") or vendor
        product = _value(data, "Model") or product
        serial = _serial(_value(data, "SerialNumber"), lun=False) or serial
    return UsbEvent(
        source=item.source, time=event.time, event_id=event.event_id or 0, action=action,
        device_instance_id=instance, vendor=vendor, product=product, serial=serial,
        vid=usb.group(1).upper() if usb else None, pid=usb.group(2).upper() if usb else None,
        capacity=size if event.event_id == 1006 else None,
        record_number=event.record_number, computer=event.computer)


def _record(item: ArtifactInput, event: _Event) -> ArtifactRecord | None:
    provider = event.provider.lower()
    if provider == "microsoft-windows-security-auditing":
        if event.event_id in (4624, 4625):
            return _logon(item, event)
        if event.event_id == 4697:
            return _service(item, event)
    elif provider == "service control manager" and event.event_id == 7045:
        return _service(item, event)
    elif ((provider == "microsoft-windows-partition" and event.event_id == 1006)
          or (provider == "microsoft-windows-kernel-pnp" and event.event_id in (400, 410))):
        return _usb(item, event)
    return None


# --- the walk over chunks and records ----------------------------------------------------


class _SafeChunk(ChunkHeader):  # type: ignore[misc]  # python-evtx has no type hints
    """python-evtx's chunk, its string and template tables walked with a guard: a damaged
    (or hostile) chain can point back on itself, and python-evtx would follow it for ever."""

    _buf: mmap.mmap
    _offset: int
    _strings: dict[int, Any] | None
    _templates: dict[int, Any] | None

    def _chain(self, table: int, buckets: int) -> Iterator[int]:
        seen: set[int] = set()
        end = min(CHUNK_SIZE, len(self._buf) - self._offset) - 4  # a truncated chunk too
        for bucket in range(buckets):
            offset = _u32(self._buf, self._offset + table + 4 * bucket)
            while CHUNK_HEADER_SIZE <= offset <= end and offset not in seen:
                seen.add(offset)
                yield offset
                offset = _u32(self._buf, self._offset + offset)

    def _load_strings(self) -> None:
        if self._strings is None:
            self._strings = {}
        for offset in self._chain(0x80, 64):
            with contextlib.suppress(Exception):  # a bad entry: the others still count
                self.add_string(offset)

    def _load_templates(self) -> None:
        if self._templates is None:
            self._templates = {}
        # python-evtx also wants the definition's template instance just before it, intact:
        # the later records that use a template still need it when that record is damaged
        for offset in self._chain(0x180, 32):
            with contextlib.suppress(Exception):
                self.add_template(offset)


def _problem(item: ArtifactInput, text: str) -> ArtifactError:
    return ArtifactError(source=item.source,
                         message=f"{item.source.path}: {item.source.parser}: {text}")


def _next_record(buf: mmap.mmap, start: int, end: int) -> int | None:
    """The next offset in [start, end) holding a plausible record (signature, size and
    its copy agree): where reading resumes after damage."""
    position = buf.find(RECORD_MAGIC, start, end)
    while position != -1 and position + _RECORD_MIN <= end:
        size = _u32(buf, position + 4)
        if _RECORD_MIN <= size <= end - position and _u32(buf, position + size - 4) == size:
            return position
        position = buf.find(RECORD_MAGIC, position + 1, end)
    return None


def _chunk(item: ArtifactInput, buf: mmap.mmap, index: int, start: int) -> Iterator[ArtifactRecord]:
    where = f"chunk {index} at offset {start:#x}"
    limit = min(start + CHUNK_SIZE, len(buf))
    if limit - start < CHUNK_SIZE:
        yield _problem(item, f"{where}: truncated: {limit - start} of {CHUNK_SIZE} bytes "
                             "present; the complete records in it are read")
    if limit - start < CHUNK_HEADER_SIZE:
        return
    stored, computed = _u32(buf, start + 124), zlib.crc32(
        buf[start:start + 120] + buf[start + 128:start + CHUNK_HEADER_SIZE])
    if stored != computed:
        yield _problem(item, f"{where}: header CRC32 {stored:#010x} stored, {computed:#010x} "
                             "computed: the header is damaged; records read anyway")
    free = _u32(buf, start + 48)
    if not CHUNK_HEADER_SIZE <= free <= CHUNK_SIZE:
        yield _problem(item, f"{where}: free space offset {free:#x} out of range")
        free = CHUNK_SIZE
    end = min(start + free, limit)
    if start + free <= limit:
        stored = _u32(buf, start + 52)
        computed = zlib.crc32(buf[start + CHUNK_HEADER_SIZE:start + free])
        if stored != computed:
            yield _problem(item, f"{where}: event records CRC32 {stored:#010x} stored, "
                                 f"{computed:#010x} computed: records altered or damaged")
    chunk = _SafeChunk(buf, start)
    chunk.strings()  # the whole table: a record after a broken one may need its names
    templates: dict[int, Any] = {}
    position = start + CHUNK_HEADER_SIZE
    while position + _RECORD_MIN <= end:
        size = _u32(buf, position + 4)
        if (buf[position:position + 4] != RECORD_MAGIC or not _RECORD_MIN <= size <= end -
                position or _u32(buf, position + size - 4) != size):
            if not any(buf[position:end]):
                return  # zero-filled space after the last record
            resume = _next_record(buf, position + 1, end)
            tail = f"resumed at {resume:#x}" if resume is not None else "rest of chunk skipped"
            yield _problem(item, f"{where}: no valid event record at offset {position:#x} "
                                 f"(bad signature or size): {tail}")
            if resume is None:
                return
            position = resume
            continue
        try:
            event = _read_event(buf, position, chunk, templates)
        except Exception as exc:  # python-evtx raises anything on hostile bytes: skip
            number = struct.unpack_from("<Q", buf, position + 8)[0]
            reason = str(exc).strip() or type(exc).__name__
            yield _problem(item, f"{where}: record {number} at offset {position:#x}: "
                                 f"broken binary XML ({reason[:200]}): skipped")
        else:
            found = _record(item, event)
            if found is not None:
                yield found
        position += size


@register("windows.evtx", "Windows event logs (EVTX): logons, service installs, USB devices",
          suffixes=(".evtx",))
def parse_evtx(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    path = item.local_path()
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        if size < FILE_HEADER_SIZE:
            raise ArtifactParseError(f"{size} bytes: shorter than the {FILE_HEADER_SIZE}-byte "
                                     "EVTX file header")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            yield from _file(item, buf)


def _file(item: ArtifactInput, buf: mmap.mmap) -> Iterator[ArtifactRecord]:
    if buf[:8] != b"ElfFile\0":
        raise ArtifactParseError(f"not an EVTX file: offset 0 holds {bytes(buf[:8])!r}, "
                                 "not the signature 'ElfFile\\0'")
    stored, computed = _u32(buf, 124), zlib.crc32(buf[:120])
    declared = struct.unpack_from("<H", buf, 42)[0]
    if stored != computed:
        yield _problem(item, f"file header at offset 0: CRC32 {stored:#010x} stored, "
                             f"{computed:#010x} computed: chunks read anyway")
    present = -(-(len(buf) - FILE_HEADER_SIZE) // CHUNK_SIZE)  # the last may be partial
    if declared > present:
        yield _problem(item, f"file header declares {declared} chunks; the file "
                             f"({len(buf)} bytes) holds {present}: the file is truncated")
    for index in range(present):
        start = FILE_HEADER_SIZE + index * CHUNK_SIZE
        if buf[start:start + 8] != b"ElfChnk\0":
            if index < declared:
                held = min(CHUNK_SIZE, len(buf) - start)
                state = "" if held == CHUNK_SIZE else f" ({held} of {CHUNK_SIZE} bytes present)"
                yield _problem(item, f"chunk {index} at offset {start:#x}: no 'ElfChnk' "
                                     f"signature{state}: chunk skipped")
            continue  # beyond the declared chunks: unused, pre-allocated space
        yield from _chunk(item, buf, index, start)
