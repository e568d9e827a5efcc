"""`dalil hashset import/list/lookup/build/remove` and `dalil artifacts` as a user types them."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest


def fat_image(tmp_path: Path, files: dict[str, bytes]) -> Path:
    for tool in ("mkfs.fat", "mcopy"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (dosfstools, mtools)")
    image = tmp_path / "usb.img"
    subprocess.run(["mkfs.fat", "-C", str(image), "4096"], check=True, capture_output=True)
    for number, (name, content) in enumerate(files.items()):
        local = tmp_path / f"in{number}"
        local.write_bytes(content)
        subprocess.run(["mcopy", "-i", str(image), str(local), f"::/{name}"], check=True,
                       capture_output=True)
    return image


def test_import_list_lookup_remove(dalil, tmp_path: Path) -> None:
    bad = hashlib.sha256(b"ransomware").hexdigest()
    listing = tmp_path / "bad.txt"
    listing.write_text(f"{bad}  locker.exe\n")
    info = dalil.json("hashset", "import", str(listing), "--name", "ransom", "--known", "bad")
    assert info["name"] == "ransom" and info["known"] == "bad" and info["entries"] == 1
    assert (dalil.home / "hashsets" / "hashsets.sqlite3").is_file()
    [row] = dalil.json("hashset", "list")
    assert row["kind"] == "list" and row["source"] == str(listing.resolve())
    found = dalil.json("hashset", "lookup", bad.upper(), "0" * 32)
    assert found[bad][0]["set"] == "ransom" and found["0" * 32] == []
    again = dalil("hashset", "import", str(listing), "--name", "ransom", "--known", "bad")
    assert again.returncode == 1 and "already exists" in again.stderr
    dalil("hashset", "remove", "ransom", check=True)
    assert dalil.json("hashset", "list") == []


def test_malformed_input_names_file_and_line(dalil, tmp_path: Path) -> None:
    listing = tmp_path / "mixed.txt"
    listing.write_text("d41d8cd98f00b204e9800998ecf8427e\nnonsense\n")
    result = dalil("hashset", "import", str(listing), "--name", "m", "--known", "good")
    assert result.returncode == 1
    assert str(listing) in result.stderr and "line 2" in result.stderr
    assert result.stdout == ""
    bad_known = dalil("hashset", "import", str(listing), "--name", "m", "--known", "meh")
    assert bad_known.returncode == 2
    nsrl = tmp_path / "rds.db"
    with sqlite3.connect(nsrl) as db:
        db.execute("CREATE TABLE OS (x)")
    result = dalil("hashset", "import", str(nsrl), "--name", "n", "--known", "good")
    assert result.returncode == 1 and "no FILE table" in result.stderr


def test_build_from_image_and_artifacts(dalil, tmp_path: Path) -> None:
    image = fat_image(tmp_path, {"TOOL.EXE": b"MZ" + b"\x01" * 200, "NOTE.TXT": b"hello\n"})
    built = dalil.json("hashset", "build", str(image), "--name", "usb-master")
    assert built["kind"] == "image" and built["known"] == "good" and built["entries"] == 6
    found = dalil.json("hashset", "lookup", hashlib.md5(b"hello\n").hexdigest())
    assert found[hashlib.md5(b"hello\n").hexdigest()][0]["file_name"] == "NOTE.TXT"
    assert dalil.json("artifacts", str(image)) == []
    missing = dalil("artifacts", str(tmp_path / "nope.img"))
    assert missing.returncode == 1 and "nope.img" in missing.stderr
    unknown = dalil("artifacts", str(image), "--parser", "nope")
    assert unknown.returncode == 2 and "unknown artifact parser" in unknown.stderr


def test_artifacts_command_finds_a_history(dalil, tmp_path: Path) -> None:
    history = tmp_path / "History"
    with sqlite3.connect(history) as db:
        db.executescript("""
        CREATE TABLE urls (id INTEGER PRIMARY KEY, url TEXT, title TEXT, visit_count INTEGER,
            typed_count INTEGER);
        CREATE TABLE visits (id INTEGER PRIMARY KEY, url INTEGER, visit_time INTEGER,
            from_visit INTEGER, transition INTEGER);
        INSERT INTO urls VALUES (1, 'https://example.org/', 'Example', 1, 0);
        INSERT INTO visits VALUES (1, 1, 13350000000000000, 0, 0);
        """)
    image = fat_image(tmp_path, {"History": history.read_bytes(), "mmssms.db": b"junk" * 10})
    rows = dalil.json("artifacts", str(image))
    visit = next(r for r in rows if r["kind"] == "browser-visit")
    assert visit["url"] == "https://example.org/" and visit["source"]["path"] == "History"
    table = dalil("artifacts", str(image), check=True)
    assert "browser-visit" in table.stdout
