"""Windows event logs: the planted logons, service installs and USB devices come back as
typed records; damaged logs give errors naming the chunk and offset, never a crash, and
the readable records stand."""

from __future__ import annotations

import json
import struct
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dalil.engine.forensics.artifacts import REGISTRY, ArtifactInput, parse_file, run_parser
from dalil.engine.forensics.artifacts.base import (
    ArtifactError,
    ArtifactRecord,
    Parser,
    register,
)
from dalil.engine.forensics.artifacts.evtx import Logon, ServiceInstall, UsbEvent
from dalil.engine.scenarios import evtx as logs
from dalil.engine.scenarios.artifacts import UsbDevice

T0 = datetime(2024, 3, 8, 21, 14, 5, 250_000, tzinfo=UTC)
SANDISK = UsbDevice("SanDisk", "Ultra Fit", "0781", "5583", "4C530001230412116393")
NO_SERIAL = UsbDevice("Generic", "Flash Disk", "058F", "6387", "6&1a2b3c4&0")
CHUNK0, CHUNK = 4096, 65536
COUNT = 80  # logons in the three-chunk log


def attack() -> tuple[list[logs.LogonAttempt], list[logs.PlantedService]]:
    """Password guessing over RDP, a success, then a service for persistence."""
    guesses = [logs.LogonAttempt(T0 + timedelta(seconds=5 * i), "admin", "WS-ACC-07", 10,
                                 "185.220.101.4", "KALI", success=False) for i in range(3)]
    guesses.append(logs.LogonAttempt(T0 + timedelta(seconds=20), "nobody", "WS-ACC-07", 3,
                                     "185.220.101.4", "KALI", success=False,
                                     sub_status="0xc0000064"))
    win = logs.LogonAttempt(T0 + timedelta(minutes=1), "admin", "WS-ACC-07", 10,
                            "185.220.101.4", "KALI")
    service = logs.PlantedService(T0 + timedelta(minutes=4), "WinUpdSvc",
                                  "C:\\ProgramData\\upd\\svchost.exe -k netsvcs", "auto start",
                                  user="admin", domain="WS-ACC-07")
    return [*guesses, win], [service]


def records(path: Path) -> list[ArtifactRecord]:
    return list(parse_file(path))


def errors(found: list[ArtifactRecord]) -> list[str]:
    return [r.message for r in found if isinstance(r, ArtifactError)]


def test_logons_and_service_installs(tmp_path: Path) -> None:
    logons, services = attack()
    security = tmp_path / "Security.evtx"
    security.write_bytes(logs.security_log("WS-ACC-07", logons, services))
    system = tmp_path / "System.evtx"
    system.write_bytes(logs.system_log("WS-ACC-07", services))

    found = records(security)
    assert errors(found) == []
    seen = [r for r in found if isinstance(r, Logon)]
    assert [(r.event_id, r.success, r.user, r.logon_type) for r in seen] == [
        (4625, False, "admin", 10)] * 3 + [(4625, False, "nobody", 3), (4624, True, "admin", 10)]
    first, unknown, win = seen[0], seen[3], seen[4]
    assert first.time == T0 and first.source_ip == "185.220.101.4"
    assert first.workstation == "KALI" and first.domain == "WS-ACC-07"
    assert first.status == "0xc000006a" and unknown.status == "0xc0000064"
    assert win.status is None and win.logon_type_name == "remote interactive"
    assert win.time == T0 + timedelta(minutes=1) and win.event_time == win.time
    assert (win.record_number, win.computer) == (5, "WS-ACC-07")
    assert win.source.path == str(security) and win.source.parser == "windows.evtx"
    (audit,) = [r for r in found if isinstance(r, ServiceInstall)]
    assert (audit.event_id, audit.service_name, audit.start_type, audit.account) == (
        4697, "WinUpdSvc", "auto start", "LocalSystem")
    assert audit.image_path == "C:\\ProgramData\\upd\\svchost.exe -k netsvcs"
    assert audit.installed_by == "WS-ACC-07\\admin" and audit.record_number == 6

    (scm,) = records(system)
    assert isinstance(scm, ServiceInstall) and scm.event_id == 7045
    assert (scm.service_name, scm.image_path, scm.start_type) == (
        "WinUpdSvc", audit.image_path, "auto start")
    assert scm.time == audit.time and scm.installed_by == services[0].user_sid
    json.dumps([r.to_dict() for r in found])  # plain values throughout


def test_usb_devices(tmp_path: Path) -> None:
    plugged = [logs.UsbConnection(SANDISK, T0, T0 + timedelta(hours=1)),
               logs.UsbConnection(NO_SERIAL, T0 + timedelta(hours=2))]
    partition = tmp_path / "Microsoft-Windows-Partition%4Diagnostic.evtx"
    partition.write_bytes(logs.partition_log("WS-ACC-07", plugged))
    pnp = tmp_path / "Microsoft-Windows-Kernel-PnP%4Configuration.evtx"
    pnp.write_bytes(logs.pnp_log("WS-ACC-07", plugged))

    found = records(partition)
    assert all(isinstance(r, UsbEvent) for r in found)
    assert [(r.action, r.serial, r.time) for r in found] == [
        ("attached", SANDISK.serial, T0), ("removed", SANDISK.serial, T0 + timedelta(hours=1)),
        ("attached", None, T0 + timedelta(hours=2))]
    attached = found[0]
    assert isinstance(attached, UsbEvent)
    assert (attached.vendor, attached.product, attached.vid, attached.pid) == (
        "SanDisk", "Ultra Fit", "0781", "5583")
    assert attached.device_instance_id == SANDISK.usb_id and attached.capacity == 32_010_928_128

    found = records(pnp)
    assert [(r.event_id, r.device_instance_id) for r in found if isinstance(r, UsbEvent)] == [
        (400, SANDISK.usb_id), (410, SANDISK.usb_id), (400, SANDISK.usbstor_id),
        (410, SANDISK.usbstor_id), (400, NO_SERIAL.usb_id), (410, NO_SERIAL.usb_id),
        (400, NO_SERIAL.usbstor_id), (410, NO_SERIAL.usbstor_id)]
    disk = found[2]
    assert isinstance(disk, UsbEvent)
    assert (disk.vendor, disk.product, disk.serial, disk.action) == (
        "SanDisk", "Ultra Fit", SANDISK.serial, "configured")
    assert all(r.serial is None for r in found[4:] if isinstance(r, UsbEvent))


def test_other_events_are_passed_over(tmp_path: Path) -> None:
    """Same ids from other providers (PowerShell's 400), internal disks: no records."""
    path = tmp_path / "Mixed.evtx"
    path.write_bytes(logs.write_evtx([
        logs.Event("Windows PowerShell", "PowerShell", 400, 4, 1, T0, "PC",
                   (("NewEngineState", "Available"),)),
        logs.Event(logs.PARTITION_CHANNEL, logs.PARTITION[0], 1006, 4, 2, T0, "PC",
                   (("BusType", "11"), ("Manufacturer", "Samsung"),
                    ("ParentId", "PCI\\VEN_144D&DEV_A808\\4&1b2c3d&0&0008"))),
        logs.Event("Security", logs.SECURITY_AUDITING[0], 4688, 0, 3, T0, "PC"),
        logs.Event("Security", logs.SECURITY_AUDITING[0], 4625, 0, 4, T0, "PC", (
            ("TargetUserName", "bob"), ("Status", "0xc000006e"), ("SubStatus", "0x0"),
            ("LogonType", "²"), ("IpAddress", "-"))),
    ]))
    (failure,) = records(path)
    assert isinstance(failure, Logon) and failure.user == "bob"
    assert failure.status == "0xc000006e"  # SubStatus 0: the Status says it
    assert failure.logon_type is None and failure.source_ip is None


def test_chosen_by_name_ending() -> None:
    parser = REGISTRY["windows.evtx"]
    assert parser.suffixes == frozenset({".evtx"}) and not parser.names
    assert parser.name_matches("/Windows/System32/winevt/Logs/Security.evtx")
    assert parser.name_matches("C:\\Logs\\Microsoft-Windows-Partition%4Diagnostic.EVTX")
    assert not parser.name_matches("/Windows/System32/config/AppEvent.Evt")
    chrome = REGISTRY["chrome.history"]  # names only: exact names, as before
    assert chrome.name_matches("/p/Default/History") and not chrome.name_matches("/p/xHistory")
    anything = Parser("any", "", lambda item: iter(()), types=frozenset({"jpeg"}))
    assert anything.name_matches("whatever.bin")
    with pytest.raises(ValueError, match="names or content types"):
        register("nothing", "")


# --- damaged logs ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_log() -> bytes:
    """Three chunks of logons (long workstation names fill the chunks)."""
    attempts = [logs.LogonAttempt(T0 + timedelta(seconds=i), f"user{i}", "CORP", 3,
                                  f"10.0.{i // 250}.{i % 250}", "W" * 600, success=i % 4 > 0)
                for i in range(COUNT)]
    raw = logs.security_log("DC01", attempts)
    assert len(raw) == CHUNK0 + 3 * CHUNK
    return raw


def _write(folder: Path, raw: bytes, name: str = "Security.evtx") -> Path:
    path = folder / name
    path.write_bytes(raw)
    return path


def _numbers(found: list[ArtifactRecord]) -> list[int | None]:
    return [r.record_number for r in found if isinstance(r, Logon)]


def _last_number(raw: bytes, chunk: int) -> int:
    number: int = struct.unpack_from("<Q", raw, CHUNK0 + chunk * CHUNK + 16)[0]
    return number


def test_not_an_evtx_file(tmp_path: Path, big_log: bytes) -> None:
    for raw, expected in ((b"ElfFilf\0" + big_log[8:], "not an EVTX file: offset 0 holds"),
                          (b"", "0 bytes: shorter than the 4096-byte"),
                          (big_log[:100], "100 bytes: shorter than the 4096-byte")):
        found = records(_write(tmp_path, raw))
        assert len(found) == 1 and expected in errors(found)[0]
        assert errors(found)[0].startswith(f"{tmp_path / 'Security.evtx'}: windows.evtx: ")


@pytest.mark.parametrize("cut", [CHUNK0 + 10, CHUNK0 + 20_000, CHUNK0 + CHUNK,
                                 CHUNK0 + CHUNK + 40_000, CHUNK0 + 3 * CHUNK - 1])
def test_truncated(tmp_path: Path, big_log: bytes, cut: int) -> None:
    full = _numbers(records(_write(tmp_path, big_log, "Full.evtx")))
    found = records(_write(tmp_path, big_log[:cut]))
    numbers = _numbers(found)
    assert numbers == full[:len(numbers)]  # what was read is right, in order
    whole = (cut - CHUNK0) // CHUNK  # chunks fully present: all their records stand
    if whole:
        assert len(numbers) >= _last_number(big_log, whole - 1)
    present = -(-(cut - CHUNK0) // CHUNK)  # chunks with at least one byte
    assert any(f"file header declares 3 chunks; the file ({cut} bytes) holds {present}" in m
               for m in errors(found)) == (present < 3)
    if (cut - CHUNK0) % CHUNK:
        partial = CHUNK0 + whole * CHUNK
        assert any(f"chunk {whole} at offset {partial:#x}: truncated" in m
                   for m in errors(found))
    if (cut - CHUNK0) % CHUNK > 20_000:  # complete records of a partial chunk are read too
        assert len(numbers) > (_last_number(big_log, whole - 1) if whole else 0)


def test_chunk_without_signature(tmp_path: Path, big_log: bytes) -> None:
    raw = bytearray(big_log)
    raw[CHUNK0 + CHUNK:CHUNK0 + CHUNK + 8] = b"XXXXXXXX"
    found = records(_write(tmp_path, bytes(raw)))
    assert errors(found) == [f"{tmp_path / 'Security.evtx'}: windows.evtx: chunk 1 at offset "
                             "0x11000: no 'ElfChnk' signature: chunk skipped"]
    first, second = _last_number(big_log, 0), _last_number(big_log, 1)
    assert _numbers(found) == [*range(1, first + 1), *range(second + 1, COUNT + 1)]


def test_broken_record_is_skipped(tmp_path: Path, big_log: bytes) -> None:
    raw = bytearray(big_log)
    second = CHUNK0 + 512 + struct.unpack_from("<I", raw, CHUNK0 + 512 + 4)[0]
    # record 2's template instance points far outside the chunk
    raw[second + 24 + 10:second + 24 + 14] = struct.pack("<I", 0xFFFFFF00)
    found = records(_write(tmp_path, bytes(raw)))
    messages = errors(found)
    assert len(messages) == 2
    assert "chunk 0 at offset 0x1000: event records CRC32" in messages[0]
    assert f"chunk 0 at offset 0x1000: record 2 at offset {second:#x}: broken binary XML" in (
        messages[1]) and messages[1].endswith(": skipped")
    assert _numbers(found) == [1, *range(3, COUNT + 1)]


def test_bad_record_size_resumes_at_the_next_record(tmp_path: Path, big_log: bytes) -> None:
    raw = bytearray(big_log)
    position = CHUNK0 + 512
    for _ in range(2):  # to record 3
        position += struct.unpack_from("<I", raw, position + 4)[0]
    following = position + struct.unpack_from("<I", raw, position + 4)[0]
    raw[position + 4:position + 8] = struct.pack("<I", 0xFFFF)
    found = records(_write(tmp_path, bytes(raw)))
    assert any(f"no valid event record at offset {position:#x} (bad signature or size): "
               f"resumed at {following:#x}" in m for m in errors(found))
    assert _numbers(found) == [1, 2, *range(4, COUNT + 1)]


def test_bad_header_checksums_are_reported_and_records_read(tmp_path: Path,
                                                            big_log: bytes) -> None:
    raw = bytearray(big_log)
    raw[60] ^= 0xFF  # inside the file header's checksummed bytes
    raw[CHUNK0 + 2 * CHUNK + 200] ^= 0xFF  # inside chunk 2's string table
    found = records(_write(tmp_path, bytes(raw)))
    messages = errors(found)
    assert "file header at offset 0: CRC32" in messages[0]
    assert any("chunk 2 at offset 0x21000: header CRC32" in m for m in messages)
    assert len(_numbers(found)) == COUNT


def test_looping_table_chains_do_not_hang(tmp_path: Path) -> None:
    """A string or template table chain pointing back on itself (python-evtx alone would
    follow it for ever): the parser walks each chain once."""
    logons, services = attack()
    raw = bytearray(logs.security_log("PC", logons, services))
    for table, buckets in ((128, 64), (384, 32)):
        head = next(h for h in struct.unpack_from(f"<{buckets}I", raw, CHUNK0 + table) if h)
        raw[CHUNK0 + head:CHUNK0 + head + 4] = struct.pack("<I", head)
    path = _write(tmp_path, bytes(raw))
    found: list[ArtifactRecord] = []
    worker = threading.Thread(target=lambda: found.extend(records(path)), daemon=True)
    worker.start()
    worker.join(300)  # a hang guard, not a speed test: this takes well under a second
    assert not worker.is_alive(), "the parser loops on a self-referencing table chain"
    assert _numbers(found) == [1, 2, 3, 4, 5]
    (message,) = errors(found)  # the changed pointers are inside the checksummed records
    assert "chunk 0 at offset 0x1000: event records CRC32" in message


def test_random_corruption_never_escapes() -> None:
    small = logs.security_log("PC", attack()[0], attack()[1])
    used = CHUNK0 + struct.unpack_from("<I", small, CHUNK0 + 48)[0]
    parser = REGISTRY["windows.evtx"]

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.integers(0, used - 1), st.integers(0, 255)), min_size=1,
                    max_size=12),
           st.one_of(st.none(), st.integers(0, len(small))))
    def check(changes: list[tuple[int, int]], cut: int | None) -> None:
        raw = bytearray(small)
        for position, value in changes:
            raw[position] = value
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "Security.evtx"
            path.write_bytes(bytes(raw[:cut] if cut is not None else raw))
            found = list(run_parser(parser, ArtifactInput.from_path(path)))
        assert all(isinstance(r, ArtifactRecord) for r in found)
        for record in found:
            json.dumps(record.to_dict())

    check()
