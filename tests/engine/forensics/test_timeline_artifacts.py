"""Typed timeline events from the artifact parsers, and the timeline CSV that merges them
with the file system's MACB times (``dalil timeline IMAGE --format csv --artifacts``)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_artifacts_exif import photo

from dalil.engine.forensics.artifacts import Source, parse_file, parse_file_system
from dalil.engine.forensics.artifacts.android import Contact, SmsMessage
from dalil.engine.forensics.artifacts.base import ArtifactError
from dalil.engine.forensics.artifacts.chrome import BrowserDownload, BrowserVisit
from dalil.engine.forensics.artifacts.telegram import TelegramMessage
from dalil.engine.forensics.filesystem import open_file_system, select_volume
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.timeline import (
    CSV_HEADER,
    EVENT_KINDS,
    artifact_event,
    artifact_events,
    timeline_csv,
)
from dalil.engine.scenarios.disk import build_disk

AT = datetime(2024, 3, 8, 9, 30, tzinfo=UTC)
SOURCE = Source(path="Users/u/History", parser="chrome.history", image="disk.img",
                volume_offset=0, inode=42)


def test_each_record_kind_becomes_a_typed_event_with_its_source() -> None:
    visit = BrowserVisit(source=SOURCE, browser="chrome", url="https://example.org/",
                         title="Example", visit_time=AT)
    download = BrowserDownload(source=SOURCE, browser="chrome", url="https://x.test/a.exe",
                               target_path="C:\\a.exe", start_time=AT, state="complete")
    message = TelegramMessage(source=SOURCE, chat_name="Erlan", chat_type="personal_chat",
                              chat_id=1, message_id=2, time=AT, local_time=None,
                              sender="Aidar", sender_id="user1", text="meet at 5")
    sms = SmsMessage(source=SOURCE, address="+77015551234", time=AT, body="ok",
                     folder="sent")
    contact = Contact(source=SOURCE, name="Asel", phones=("+7 705",), last_contacted=AT)
    events = {e.kind: e for e in artifact_events([visit, download, message, sms, contact])}
    assert set(events) == {"web-visit", "download", "message-sent", "sms", "contact"}
    assert set(events) <= set(EVENT_KINDS)
    web = events["web-visit"]
    assert web.time == AT and web.source == SOURCE and web.record_kind == "browser-visit"
    assert web.description == "chrome: https://example.org/ (Example)"
    assert "https://x.test/a.exe -> C:\\a.exe (complete)" in events["download"].description
    assert events["message-sent"].description == "Telegram Erlan: Aidar: meet at 5"
    assert events["sms"].description == "SMS outgoing +77015551234: ok"
    assert web.to_dict()["source"]["inode"] == 42 and web.to_dict()["time"] == (
        "2024-03-08T09:30:00Z")


def test_records_without_a_utc_time_and_errors_make_no_event(tmp_path: Path) -> None:
    assert artifact_event(ArtifactError(source=SOURCE, message="bad")) is None
    assert artifact_event(BrowserVisit(source=SOURCE, browser="chrome", url="u", title=None,
                                       visit_time=None)) is None
    [zoned] = parse_file(photo(tmp_path / "a.jpg", gps=False))
    assert artifact_event(zoned).kind == "photo-taken" and artifact_event(zoned).time == AT
    [gps_only] = parse_file(photo(tmp_path / "b.jpg", offset=None))
    event = artifact_event(gps_only)
    assert event.time == AT and "GPS 43.2383333, 76.895" in event.description
    [local_only] = parse_file(photo(tmp_path / "c.jpg", gps=False, offset=None))
    assert artifact_event(local_only) is None  # the camera's clock, zone unknown: not UTC


def test_events_are_sorted_and_long_text_is_cut() -> None:
    late = SmsMessage(source=SOURCE, address="1", time=AT, body="x" * 2000, folder="inbox")
    early = SmsMessage(source=SOURCE, address="2", time=AT.replace(year=2020), body="hi",
                       folder="inbox")
    events = artifact_events([late, early])
    assert [e.time.year for e in events] == [2020, 2024]
    assert len(events[1].description) == 500 and events[1].description.endswith("…")


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    if not shutil.which("mke2fs") or not shutil.which("debugfs"):
        pytest.skip("needs e2fsprogs")
    path = tmp_path_factory.mktemp("disk") / "suspect.img"
    return path, build_disk(path, seed=7, filesystem="ext4", size_mib=36)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_merges_macb_rows_and_artifact_events(disk) -> None:
    path, key = disk
    with open_image(path) as image:
        fs = open_file_system(image, select_volume(image, None))
        events = artifact_events(parse_file_system(fs, include_deleted=True))
        text = "".join(timeline_csv(fs, events=events))
    rows = _rows(text)
    assert text.splitlines()[0] == ",".join(CSV_HEADER)
    assert [r["time_utc"] for r in rows] == sorted(r["time_utc"] for r in rows)
    history = key.item("browser-history")
    visits = [r for r in rows if r["kind"] == "web-visit"]
    for term in key.facts["searches"]:
        [row] = [r for r in visits if f"{term} - Google Search" in r["description"]]
        assert row["parser"] == "chrome.history" and row["macb"] == ""
        assert row["path"] == "/" + history["path"] and row["inode"] == str(history["inode"])
    assert any(r["kind"] == "message-sent" and r["parser"] == "telegram.desktop" for r in rows)
    files = [r for r in rows if r["kind"] == "file"]
    assert files and all(len(r["macb"]) == 4 for r in files)
    assert any(r["path"] == "/" + history["path"] and r["macb"] != "" for r in files)


def test_cli_timeline_csv_with_artifacts(disk, tmp_path: Path) -> None:
    path, _key = disk
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DALIL_", "DJANGO_"))}
    env["DALIL_HOME"] = str(tmp_path / "home")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dalil.cli", "timeline", str(path), *args],
                              env=env, capture_output=True, text=True, timeout=120)

    with_artifacts = run("--format", "csv", "--artifacts")
    assert with_artifacts.returncode == 0, with_artifacts.stderr
    kinds = {r["kind"] for r in _rows(with_artifacts.stdout)}
    assert {"file", "web-visit", "message-sent"} <= kinds
    plain = run("--format", "csv", "-o", str(tmp_path / "t.csv"))
    assert plain.returncode == 0
    assert {r["kind"] for r in _rows((tmp_path / "t.csv").read_text())} == {"file"}
    assert run("--artifacts").returncode == 2  # bodyfile has no place for them


def test_csv_cells_are_not_spreadsheet_formulas() -> None:
    from dalil.engine.forensics.timeline import _cell

    assert _cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert _cell("/docs/a.txt") == "/docs/a.txt" and _cell(12) == 12 and _cell(True) == "yes"


def test_windows_records_land_on_the_timeline(tmp_path):
    from datetime import timedelta

    from dalil.engine.forensics.artifacts import parse_file
    from dalil.engine.forensics.timeline import EVENT_KINDS, artifact_event
    from dalil.engine.scenarios import evtx, regf

    when = datetime(2024, 3, 8, 9, 30, 15, tzinfo=UTC)
    usb = regf.PlantedUsb("Kingston", "DataTraveler 3.0", "PMAP", "60A44C413C5FF4B0B9CA",
                          first_install=when, last_arrival=when + timedelta(days=3))
    (tmp_path / "SYSTEM").write_bytes(regf.system_hive([usb], computer_name="PC",
                                                                installed=when))
    attempts = [evtx.LogonAttempt(when, "admin", "PC", 10, "185.220.101.4", "KALI",
                                  success=False),
                evtx.LogonAttempt(when + timedelta(minutes=1), "admin", "PC", 10,
                                  "185.220.101.4", "KALI")]
    service = evtx.PlantedService(when + timedelta(minutes=4), "WinUpdSvc",
                                  "C:\\ProgramData\\upd\\svchost.exe", "auto start",
                                  user="admin", domain="PC")
    (tmp_path / "Security.evtx").write_bytes(evtx.security_log("PC", attempts, [service]))
    events = [artifact_event(r) for name in ("SYSTEM", "Security.evtx")
              for r in parse_file(tmp_path / name)]
    found = {(e.kind, e.time) for e in events if e is not None}
    assert ("usb-connected", when + timedelta(days=3)) in found
    assert ("logon-failed", when) in found and ("logon", when + timedelta(minutes=1)) in found
    assert ("service-installed", when + timedelta(minutes=4)) in found
    assert all(e.kind in EVENT_KINDS for e in events if e is not None)
    text = {e.kind: e.description for e in events if e is not None}
    assert "Kingston" in text["usb-connected"]
    assert "60A44C413C5FF4B0B9CA" in text["usb-connected"]
    assert "PC\\admin" in text["logon"] and "185.220.101.4" in text["logon"]
