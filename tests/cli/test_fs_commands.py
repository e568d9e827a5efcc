"""`dalil image info`, `dalil fs ls/cat/extract`, `dalil timeline` as a user types them."""

from __future__ import annotations

import hashlib
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
                   check=True)
    subprocess.run(["debugfs", "-w", "-R", "rm gone.txt", str(image)], check=True,
                   capture_output=True)
    return image


def test_fs_commands_on_a_generated_image(dalil, ext4: Path, tmp_path: Path) -> None:
    info = dalil.json("image", "info", str(ext4))
    assert info["container"] == "raw" and info["volumes"][0]["file_system"]["type"] == "ext4"
    rows = dalil.json("fs", "ls", str(ext4), "-r")
    assert {"inode", "path", "type", "size", "deleted", "mtime", "atime", "ctime",
            "crtime"} <= set(rows[0])
    assert any(r["path"] == "docs/note.txt" and not r["deleted"] for r in rows)
    assert [r["path"] for r in dalil.json("fs", "ls", str(ext4), "-r", "--deleted")] == [
        "gone.txt"]
    assert dalil("fs", "cat", str(ext4), "--path", "/docs/note.txt", check=True).stdout == (
        "meet at dawn\n")
    inode = next(r["inode"] for r in rows if r["path"] == "docs/note.txt")
    assert dalil("fs", "cat", str(ext4), "--inode", str(inode), check=True).stdout == (
        "meet at dawn\n")
    records = dalil.json("fs", "extract", str(ext4), str(tmp_path / "out"))
    note = next(r for r in records if r["path"] == "docs/note.txt")
    assert note["sha256"] == hashlib.sha256(b"meet at dawn\n").hexdigest()
    assert (tmp_path / "out" / note["output"]).read_bytes() == b"meet at dawn\n"
    body = tmp_path / "body.txt"
    dalil("timeline", str(ext4), "--format", "bodyfile", "-o", str(body), check=True)
    expected = subprocess.run(["fls", "-r", "-m", "/", str(ext4)], capture_output=True,
                              text=True, check=True).stdout
    assert body.read_text() == expected


def test_bad_images_fail_clearly(dalil, ext4: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.img"
    cut.write_bytes(ext4.read_bytes()[:1024])
    result = dalil("fs", "ls", str(cut))
    assert result.returncode == 1
    assert str(cut) in result.stderr and "offset 0" in result.stderr
    missing = dalil("image", "info", str(tmp_path / "nope.E01"))
    assert missing.returncode == 1 and "nope.E01" in missing.stderr


@pytest.mark.shared_data
def test_partitioned_e01_needs_a_volume(dalil, shared_data: Path) -> None:
    image = str(shared_data / "forensics/tsk/imageformat_mmls_1.E01")
    info = dalil.json("image", "info", image)
    assert info["stored_hashes"]["md5"] == "8ec671e301095c258224aad701740503"
    assert [(v["index"], v["offset"]) for v in info["volumes"] if v["allocated"]] == [
        (2, 65536), (3, 28377088)]
    result = dalil("fs", "ls", image)
    assert result.returncode == 1 and "--volume" in result.stderr
    expected = subprocess.run(["fls", "-p", "-o", "128", image], capture_output=True,
                              text=True, check=True).stdout
    assert dalil("fs", "ls", image, "--volume", "2", check=True).stdout == expected
