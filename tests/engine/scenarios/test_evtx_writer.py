"""The EVTX writer: same events same bytes, valid checksums and tables, and two independent
readers (python-evtx and libyal's libevtx, through ``evtxexport``) reading back every
record with the planted event ids, times and values."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from Evtx.Evtx import Evtx

from dalil.engine.scenarios.evtx import (
    CHUNK_SIZE,
    FILE_HEADER_SIZE,
    Event,
    name_hash,
    write_evtx,
)

T0 = datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?")


def sample(count: int, *, filler: int = 0) -> list[Event]:
    events = []
    for index in range(count):
        data = [("TargetUserName", f"user{index}"), ("Note", "<&>\"' Әлия 日本"),
                ("Empty", ""), ("Padding", "x" * (filler * (index % 7)))]
        events.append(Event(
            "Security" if index % 2 else "System",
            "Microsoft-Windows-Security-Auditing" if index % 2 else "Service Control Manager",
            4624 + index % 3, index % 5, 100 + index,
            T0 + timedelta(seconds=index, microseconds=index * 7), f"PC-{index % 4}",
            tuple(data[: 1 + index % 4]),
            provider_guid="54849625-5478-4994-a5ba-3e3b0328c30d" if index % 3 else None,
            qualifiers=16384 if index % 4 == 0 else None, keywords=0x8020000000000000,
            user_sid="S-1-5-21-1-2-3-500" if index % 2 else None))
    return events


def _time(text: str) -> datetime:
    match = _TIME.match(text)
    assert match, text
    *fields, fraction = match.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    return datetime(*(int(f) for f in fields), micro, tzinfo=UTC)  # type: ignore[misc]


def _fields(event: ElementTree.Element) -> dict[str, Any]:
    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    system = {local(e.tag): e for e in next(p for p in event if local(p.tag) == "System")}
    data = next((p for p in event if local(p.tag) == "EventData"), [])
    return {
        "record": int(system["EventRecordID"].text or 0),
        "event_id": int(system["EventID"].text or 0),
        "qualifiers": system["EventID"].get("Qualifiers"),
        "level": int(system["Level"].text or 0),
        "time": _time(system["TimeCreated"].get("SystemTime") or ""),
        "provider": system["Provider"].get("Name"),
        "channel": system["Channel"].text,
        "computer": system["Computer"].text,
        "user": system["Security"].get("UserID"),
        "data": [(d.get("Name"), d.text or "") for d in data],
    }


def expected(event: Event) -> dict[str, Any]:
    return {"record": event.record_number, "event_id": event.event_id,
            "qualifiers": str(event.qualifiers) if event.qualifiers is not None else None,
            "level": event.level, "time": event.time_created, "provider": event.provider,
            "channel": event.channel, "computer": event.computer, "user": event.user_sid,
            "data": list(event.data)}


def read_python_evtx(path: Path) -> list[dict[str, Any]]:
    with Evtx(str(path)) as log:
        header = log.get_file_header()
        assert header.verify() and not header.is_dirty()
        assert all(chunk.verify() for chunk in header.chunks())
        return [_fields(ElementTree.fromstring(record.xml())) for record in log.records()]


def read_libevtx(path: Path) -> list[dict[str, Any]]:
    run = subprocess.run(["evtxexport", "-f", "xml", str(path)], capture_output=True,
                         text=True, check=True, timeout=120)
    body = run.stdout[run.stdout.find("<Event"):] if "<Event" in run.stdout else ""
    root = ElementTree.fromstring(f"<log>{body}</log>")
    return [_fields(event) for event in root]


def test_same_events_same_bytes() -> None:
    events = sample(40)
    assert write_evtx(events) == write_evtx(sample(40))
    assert write_evtx([*events[:-1], replace(events[-1], computer="PC-X")]) != write_evtx(events)


def _chain(raw: bytes, chunk_at: int, head: int) -> list[int]:
    """The chunk offsets linked from a hash-table bucket (each entry's first dword)."""
    found = []
    while head and len(found) < 1000:
        found.append(head)
        head = struct.unpack_from("<I", raw, chunk_at + head)[0]
    return found


def test_headers_checksums_and_tables(tmp_path: Path) -> None:
    raw = write_evtx(sample(300, filler=300))
    chunks = (len(raw) - FILE_HEADER_SIZE) // CHUNK_SIZE
    assert chunks >= 3 and len(raw) == FILE_HEADER_SIZE + chunks * CHUNK_SIZE
    assert raw[:8] == b"ElfFile\0"
    assert struct.unpack_from("<I", raw, 124)[0] == zlib.crc32(raw[:120])
    assert struct.unpack_from("<QQQ", raw, 8) == (0, chunks - 1, 100 + 300)
    assert struct.unpack_from("<HHHH", raw, 36) == (1, 3, FILE_HEADER_SIZE, chunks)
    for index in range(chunks):
        chunk = raw[FILE_HEADER_SIZE + index * CHUNK_SIZE:][:CHUNK_SIZE]
        assert chunk[:8] == b"ElfChnk\0"
        free = struct.unpack_from("<I", chunk, 48)[0]
        assert struct.unpack_from("<I", chunk, 52)[0] == zlib.crc32(chunk[512:free])
        assert struct.unpack_from("<I", chunk, 124)[0] == zlib.crc32(chunk[:120] + chunk[128:512])
        assert not any(chunk[free:])  # unused space is zeros
    path = tmp_path / "log.evtx"
    path.write_bytes(raw)
    with Evtx(str(path)) as log:
        for chunk in log.chunks():
            at = chunk.offset()
            # every name is in its hash bucket's chain of the common-string table
            names = {node.string(): offset for offset, node in chunk.strings().items()}
            assert {"Event", "System", "EventData", "Data", "Name", "TimeCreated"} <= set(names)
            for name, offset in names.items():
                head = struct.unpack_from("<I", raw, at + 128 + 4 * (name_hash(name) % 64))[0]
                assert offset in _chain(raw, at, head)
            # and every template definition is reachable from the template table
            heads = struct.unpack_from("<32I", raw, at + 384)
            linked = {o for head in heads for o in _chain(raw, at, head)}
            assert len(linked) >= 2 and set(chunk.templates()) == linked


def test_python_evtx_reads_every_record(tmp_path: Path) -> None:
    events = sample(300, filler=300)
    path = tmp_path / "Security.evtx"
    path.write_bytes(write_evtx(events))
    found = read_python_evtx(path)
    assert len(found) == len(events)
    for got, event in zip(found, events, strict=True):
        want = expected(event)
        # python-evtx converts FILETIME through a float: a microsecond or two off
        assert abs(got.pop("time") - want.pop("time")) <= timedelta(microseconds=2)
        assert got == want


@pytest.mark.skipif(shutil.which("evtxexport") is None,
                    reason="evtxexport missing: apt-get install libevtx-utils")
def test_libevtx_reads_every_record(tmp_path: Path) -> None:
    events = sample(300, filler=300)
    path = tmp_path / "Security.evtx"
    path.write_bytes(write_evtx(events))
    info = subprocess.run(["evtxinfo", str(path)], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    assert "Number of records\t\t: 300" in info and "corrupted" not in info.lower()
    assert read_libevtx(path) == [expected(e) for e in events]  # times to the 100 ns


@pytest.mark.skipif(shutil.which("evtxexport") is None,
                    reason="evtxexport missing: apt-get install libevtx-utils")
def test_empty_log_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "Empty.evtx"
    path.write_bytes(write_evtx([]))
    assert path.stat().st_size == FILE_HEADER_SIZE + CHUNK_SIZE
    info = subprocess.run(["evtxinfo", str(path)], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    assert "Number of records\t\t: 0" in info and "corrupted" not in info.lower()
    assert read_python_evtx(path) == []


@pytest.mark.skipif(shutil.which("evtxinfo") is None,
                    reason="evtxinfo missing: apt-get install libevtx-utils")
def test_gap_in_record_numbers_looks_tampered(tmp_path: Path) -> None:
    events = sample(6)
    events[3:] = [replace(e, record_number=e.record_number + 1) for e in events[3:]]
    path = tmp_path / "System.evtx"
    path.write_bytes(write_evtx(events))
    assert [r["record"] for r in read_python_evtx(path)] == [100, 101, 102, 104, 105, 106]
    info = subprocess.run(["evtxinfo", str(path)], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    assert "corrupted" in info.lower()  # libevtx notices the missing record


def test_refuses_what_the_format_cannot_hold() -> None:
    good = sample(2)
    with pytest.raises(ValueError, match="must increase"):
        write_evtx([good[1], good[0]])
    with pytest.raises(ValueError, match="naive"):
        write_evtx([Event("System", "P", 1, 4, 1, datetime(2024, 1, 1), "PC")])
    with pytest.raises(ValueError, match="larger than a chunk"):
        write_evtx([Event("System", "P", 1, 4, 1, T0, "PC",
                          tuple((f"D{i}", "y" * 30000) for i in range(3)))])
    with pytest.raises(ValueError, match="NUL"):
        write_evtx([Event("System", "P", 1, 4, 1, T0, "PC", (("A", "x\0y"),))])
