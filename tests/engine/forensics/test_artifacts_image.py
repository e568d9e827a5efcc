"""The parsers run over the files of a FAT image made here with mtools."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from test_artifacts_exif import photo

from dalil.engine.forensics.artifacts import parse_file_system, select_parsers
from dalil.engine.forensics.filesystem import open_file_system, select_volume
from dalil.engine.forensics.image import open_image


def fat_image(tmp_path: Path, files: dict[str, Path]) -> Path:
    for tool in ("mkfs.fat", "mcopy", "mmd"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (dosfstools, mtools)")
    image = tmp_path / "phone.img"
    subprocess.run(["mkfs.fat", "-C", str(image), "8192"], check=True, capture_output=True)
    made: set[str] = set()
    for target, local in files.items():
        parts = target.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                subprocess.run(["mmd", "-i", str(image), f"::/{folder}"], check=True,
                               capture_output=True)
                made.add(folder)
        subprocess.run(["mcopy", "-i", str(image), str(local), f"::/{target}"], check=True,
                       capture_output=True)
    return image


def build_evidence(tmp_path: Path) -> Path:
    loose = tmp_path / "loose"
    loose.mkdir()
    history = loose / "History"
    with sqlite3.connect(history) as db:
        db.executescript("""
        CREATE TABLE urls (id INTEGER PRIMARY KEY, url TEXT, title TEXT, visit_count INTEGER,
            typed_count INTEGER, last_visit_time INTEGER, hidden INTEGER);
        CREATE TABLE visits (id INTEGER PRIMARY KEY, url INTEGER, visit_time INTEGER,
            from_visit INTEGER, transition INTEGER);
        INSERT INTO urls VALUES (1, 'https://market.onion.example/', 'Market', 1, 1, 0, 0);
        INSERT INTO visits VALUES (1, 1, 13350000000000000, 0, 1);
        """)
    export = loose / "result.json"
    export.write_text(json.dumps({"name": "c", "type": "personal_chat", "id": 5, "messages": [
        {"id": 9, "type": "message", "date_unixtime": "1700000000", "from": "A",
         "text": "hello"}]}))
    corrupt = loose / "mmssms.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\xab" * 5000)
    return fat_image(tmp_path, {
        "Users/u/AppData/Local/Google/Chrome/User Data/Default/History": history,
        "DCIM/Camera/IMG_0001.jpg": photo(loose / "IMG_0001.jpg"),
        "DCIM/Camera/renamed.dat": photo(loose / "renamed.dat", gps=False),
        "Telegram Desktop/ChatExport/result.json": export,
        "data/com.android.providers.telephony/databases/mmssms.db": corrupt,
        "notes.txt": export,  # JSON, but not named result.json: no parser
    })


def test_parsers_over_an_image(tmp_path: Path) -> None:
    image_path = build_evidence(tmp_path)
    with open_image(image_path) as image:
        fs = open_file_system(image, select_volume(image, None))
        records = list(parse_file_system(fs, workdir=tmp_path))
    by_kind: dict[str, list] = {}
    for record in records:
        by_kind.setdefault(record.kind, []).append(record)
    [visit] = by_kind["browser-visit"]
    assert visit.browser == "chrome" and visit.url == "https://market.onion.example/"
    assert visit.source.path.endswith("Default/History") and visit.source.inode
    assert visit.source.image == str(image_path) and visit.source.volume_offset == 0
    exif = {r.source.path: r for r in by_kind["exif"]}
    assert exif["DCIM/Camera/IMG_0001.jpg"].gps_latitude == pytest.approx(43.238333, 1e-5)
    assert exif["DCIM/Camera/renamed.dat"].make == "Samsung"  # found by content, not name
    [message] = by_kind["telegram-message"]
    assert message.text == "hello" and message.source.parser == "telegram.desktop"
    [error] = by_kind["artifact-error"]
    assert "mmssms.db" in error.message and error.source.parser == "android.sms"
    assert not list((tmp_path).glob("dalil-artifacts-*"))  # temporary copies removed
    json.dumps([r.to_dict() for r in records])


def test_parser_selection(tmp_path: Path) -> None:
    image_path = build_evidence(tmp_path)
    with open_image(image_path) as image:
        fs = open_file_system(image, select_volume(image, None))
        records = list(parse_file_system(fs, parsers=select_parsers(["exif"])))
    assert {r.kind for r in records} == {"exif"} and len(records) == 2
    with pytest.raises(ValueError, match="unknown artifact parser 'nope'"):
        select_parsers(["nope"])
