"""Chrome/Chromium History and Firefox places.sqlite, built here with sqlite3."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from dalil.engine.forensics.artifacts import parse_file

CHROME_2024 = datetime(2024, 1, 17, 0, 0, tzinfo=UTC)
WEBKIT_2024 = int((CHROME_2024 - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds()) * 10**6
PRTIME_2024 = 1_705_449_600_000_000  # 2024-01-17 00:00 UTC, microseconds since 1970


def chrome_history(path: Path, *, old_schema: bool = False) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript("""
        CREATE TABLE urls (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR,
            visit_count INTEGER, typed_count INTEGER, last_visit_time INTEGER, hidden INTEGER);
        CREATE TABLE visits (id INTEGER PRIMARY KEY, url INTEGER, visit_time INTEGER,
            from_visit INTEGER, transition INTEGER, segment_id INTEGER,
            visit_duration INTEGER);
        """)
        db.execute("INSERT INTO urls VALUES (1, 'https://exchange.example/login', 'Login', "
                   "2, 1, ?, 0)", (WEBKIT_2024,))
        db.execute("INSERT INTO visits VALUES (1, 1, ?, 0, ?, 0, 0)",
                   (WEBKIT_2024, 0x30000001))  # typed, with qualifier bits
        db.execute("INSERT INTO visits VALUES (2, 1, ?, 1, 0, 0, 0)",
                   (WEBKIT_2024 + 60_000_000,))
        db.execute("INSERT INTO visits VALUES (3, 99, 0, 0, 0, 0, 0)")  # dangling, no time
        if old_schema:
            db.execute("CREATE TABLE downloads (id INTEGER PRIMARY KEY, full_path LONGVARCHAR,"
                       " url LONGVARCHAR, start_time INTEGER, received_bytes INTEGER, "
                       "total_bytes INTEGER, state INTEGER)")
            db.execute("INSERT INTO downloads VALUES (1, 'C:\\x.exe', 'http://a/x.exe', "
                       "1300000000, 5, 5, 1)")
        else:
            db.executescript("""
            CREATE TABLE downloads (id INTEGER PRIMARY KEY, guid VARCHAR,
                current_path LONGVARCHAR, target_path LONGVARCHAR, start_time INTEGER,
                received_bytes INTEGER, total_bytes INTEGER, state INTEGER,
                end_time INTEGER, referrer VARCHAR, tab_url VARCHAR, mime_type VARCHAR);
            CREATE TABLE downloads_url_chains (id INTEGER, chain_index INTEGER,
                url LONGVARCHAR, PRIMARY KEY (id, chain_index));
            """)
            db.execute("INSERT INTO downloads VALUES (1, 'g', '/tmp/w.zip.crdownload', "
                       "'/home/u/Downloads/wallet.zip', ?, 100, 200, 3, ?, "
                       "'https://exchange.example/', '', 'application/zip')",
                       (WEBKIT_2024, WEBKIT_2024 + 5_000_000))
            db.execute("INSERT INTO downloads_url_chains VALUES (1, 0, 'https://short/x'), "
                       "(1, 1, 'https://cdn.example/wallet.zip')")
    return path


def test_chrome_history_and_downloads(tmp_path: Path) -> None:
    folder = tmp_path / "AppData/Local/Google/Chrome/User Data/Default"
    folder.mkdir(parents=True)
    records = list(parse_file(chrome_history(folder / "History")))
    visits = [r for r in records if r.kind == "browser-visit"]
    downloads = [r for r in records if r.kind == "browser-download"]
    assert len(visits) == 3 and len(downloads) == 1
    first = next(v for v in visits if v.row_id == 1)
    assert first.browser == "chrome" and first.url == "https://exchange.example/login"
    assert first.visit_time == CHROME_2024 and first.visit_time.tzinfo is UTC
    assert first.transition == "typed" and first.event_time == CHROME_2024
    assert next(v for v in visits if v.row_id == 3).visit_time is None
    download = downloads[0]
    assert download.url == "https://cdn.example/wallet.zip"  # last link of the chain
    assert download.target_path == "/home/u/Downloads/wallet.zip"
    assert download.state == "interrupted" and download.received_bytes == 100
    assert (download.end_time - download.start_time).total_seconds() == 5
    document = download.to_dict()
    assert document["kind"] == "browser-download"
    assert document["source"]["parser"] == "chrome.history"
    assert document["start_time"] == "2024-01-17T00:00:00Z"
    json.dumps([r.to_dict() for r in records])


def test_chrome_old_download_schema(tmp_path: Path) -> None:
    records = list(parse_file(chrome_history(tmp_path / "History", old_schema=True)))
    download = next(r for r in records if r.kind == "browser-download")
    assert download.url == "http://a/x.exe" and download.target_path == "C:\\x.exe"


def test_corrupt_history_gives_an_error_record(tmp_path: Path) -> None:
    path = tmp_path / "History"
    path.write_bytes(chrome_history(tmp_path / "good").read_bytes()[:1500])  # truncated
    records = list(parse_file(path))
    assert records and records[-1].kind == "artifact-error"
    assert str(path) in records[-1].message and "chrome.history" in records[-1].message
    other = tmp_path / "x" / "History"
    other.parent.mkdir()
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    [error] = parse_file(other)
    assert error.kind == "artifact-error" and "not a Chromium History" in error.message


def test_firefox_places(tmp_path: Path) -> None:
    path = tmp_path / "places.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript("""
        CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR,
            rev_host LONGVARCHAR, visit_count INTEGER, hidden INTEGER, typed INTEGER,
            frecency INTEGER, last_visit_date INTEGER);
        CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER,
            place_id INTEGER, visit_date INTEGER, visit_type INTEGER, session INTEGER);
        CREATE TABLE moz_anno_attributes (id INTEGER PRIMARY KEY, name VARCHAR(32));
        CREATE TABLE moz_annos (id INTEGER PRIMARY KEY, place_id INTEGER,
            anno_attribute_id INTEGER, content LONGVARCHAR, flags INTEGER,
            expiration INTEGER, type INTEGER, dateAdded INTEGER, lastModified INTEGER);
        """)
        db.execute("INSERT INTO moz_places VALUES (1, 'https://forum.example/t/1', 'Forum', "
                   "'', 1, 0, 0, 0, ?)", (PRTIME_2024,))
        db.execute("INSERT INTO moz_places VALUES (2, 'https://files.example/a.7z', NULL, "
                   "'', 1, 0, 0, 0, ?)", (PRTIME_2024,))
        db.execute("INSERT INTO moz_historyvisits VALUES (1, 0, 1, ?, 2, 0)", (PRTIME_2024,))
        db.execute("INSERT INTO moz_historyvisits VALUES (2, 1, 2, ?, 7, 0)",
                   (PRTIME_2024 + 1_000_000,))
        db.execute("INSERT INTO moz_anno_attributes VALUES (1, 'downloads/destinationFileURI'),"
                   " (2, 'downloads/metaData')")
        db.execute("INSERT INTO moz_annos VALUES (1, 2, 1, 'file:///home/u/a.7z', 0, 4, 3, ?, "
                   "0)", (PRTIME_2024 + 1_000_000,))
        db.execute("INSERT INTO moz_annos VALUES (2, 2, 2, ?, 0, 4, 3, 0, 0)",
                   (json.dumps({"state": 1, "endTime": 1705449605000, "fileSize": 4096}),))
    records = list(parse_file(path))
    visits = [r for r in records if r.kind == "browser-visit"]
    assert [(v.url, v.transition) for v in visits] == [
        ("https://forum.example/t/1", "typed"), ("https://files.example/a.7z", "download")]
    assert visits[0].visit_time == datetime(2024, 1, 17, tzinfo=UTC)
    [download] = [r for r in records if r.kind == "browser-download"]
    assert download.browser == "firefox" and download.target_path == "file:///home/u/a.7z"
    assert download.state == "complete" and download.total_bytes == 4096
    assert download.end_time == datetime(2024, 1, 17, 0, 0, 5, tzinfo=UTC)
