"""`dalil ingest NUMBER --exhibit E` as a user types it: examine, resume, fail clearly."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def ext4(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "docs" / "note.txt").write_bytes(b"meet at dawn\n")
    (tree / "gone.txt").write_bytes(b"x" * 5000)
    image = tmp_path / "disk.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(image), "4M"],
                   check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    subprocess.run(["debugfs", "-w", "-R", "rm gone.txt", str(image)], check=True,
                   capture_output=True)
    return image


def _case(dalil, image: Path) -> None:
    dalil("case", "create", "--number", "KZ-1", "--title", "Disk", check=True)
    dalil("evidence", "add", "KZ-1", str(image), "--exhibit", "E1", "--type", "image",
          check=True)


def test_ingest_examines_the_exhibit_and_records_custody(dalil, ext4: Path) -> None:
    _case(dalil, ext4)
    result = dalil.json("ingest", "KZ-1", "--exhibit", "E1")
    assert result["status"] == "succeeded" and result["case"] == "KZ-1"
    assert result["entries"] == result["total_records"] >= 4 and result["errors"] == 0
    assert result["image_sha256"] == hashlib.sha256(ext4.read_bytes()).hexdigest()
    with sqlite3.connect(dalil.database) as db:
        rows = dict(db.execute("SELECT path, sha256 FROM forensics_filerecord"))
        deleted = db.execute("SELECT path FROM forensics_filerecord WHERE deleted").fetchall()
    assert rows["docs/note.txt"] == hashlib.sha256(b"meet at dawn\n").hexdigest()
    assert rows["gone.txt"] == hashlib.sha256(b"x" * 5000).hexdigest()
    assert deleted == [("gone.txt",)]
    custody = dalil.json("custody", "show", "KZ-1")
    examined = [e for e in (custody["entries"] if isinstance(custody, dict) else custody)
                if e["action"] == "examined"]
    assert examined and examined[0]["details"]["tool"] == "dalil"

    again = dalil("ingest", "KZ-1", "--exhibit", "E1", check=True)  # a table this time
    assert "already stored" in again.stdout and "examined" in again.stderr
    second = dalil.json("ingest", "KZ-1", "--exhibit", "E1")
    assert second["entries"] == 0 and second["skipped"] == result["entries"]


def test_ingest_errors_name_the_exhibit(dalil, ext4: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.img"
    cut.write_bytes(ext4.read_bytes()[:1024])
    _case(dalil, cut)
    failed = dalil("ingest", "KZ-1", "--exhibit", "E1")
    assert failed.returncode == 1
    assert "KZ-1/E1" in failed.stderr and "no readable file system" in failed.stderr
    missing = dalil("ingest", "KZ-1", "--exhibit", "E7")
    assert missing.returncode == 1 and "no exhibit 'E7'" in missing.stderr
