"""`dalil image info` and `dalil fs ls` on bad or encrypted input, as a user sees them:
exit codes (1: nothing read, 3: listed but some directories unreadable) and messages."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

MIB = 1024 * 1024


@pytest.fixture
def ext2(tmp_path: Path) -> Path:
    if shutil.which("mke2fs") is None:
        pytest.skip("needs mke2fs")
    tree = tmp_path / "tree"
    for folder in ("a", "b"):
        (tree / folder).mkdir(parents=True)
        (tree / folder / "f.txt").write_text(f"in {folder}\n")
    image = tmp_path / "disk.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext2", "-b", "1024", "-d", str(tree), str(image),
                    "2M"], check=True)
    return image


def test_damaged_directory_exit_code_3_and_the_rest_listed(dalil, ext2: Path) -> None:
    rows = dalil.json("fs", "ls", str(ext2), "-r")
    b_inode = next(r["inode"] for r in rows if r["path"] == "b")
    data = bytearray(ext2.read_bytes())
    per_group = struct.unpack_from("<I", data, 1024 + 40)[0]
    inode_size = struct.unpack_from("<H", data, 1024 + 88)[0]
    table = struct.unpack_from("<I", data, 2048 + 8)[0]
    at = table * 1024 + ((b_inode - 1) % per_group) * inode_size
    struct.pack_into("<I", data, at + 40, 0x0FFFFFF0)
    ext2.write_bytes(bytes(data))
    result = dalil("fs", "ls", str(ext2), "-r")
    assert result.returncode == 3
    assert "a/f.txt" in result.stdout and "b/f.txt" not in result.stdout
    assert f"{ext2}, whole media (offset 0): directory /b (inode {b_inode})" in result.stderr


def test_encrypted_volume_is_named_not_no_file_system(dalil, tmp_path: Path) -> None:
    sector = bytearray(512)
    sector[0:11] = b"\xeb\x58\x90-FVE-FS-"
    sector[510:512] = b"\x55\xaa"
    image = tmp_path / "bitlocker.img"
    image.write_bytes(bytes(sector) + bytes(MIB))
    result = dalil("fs", "ls", str(image))
    assert result.returncode == 1
    assert "BitLocker volume at offset 0: supply --recovery-password" in result.stderr
    info = dalil.json("image", "info", str(image))
    [volume] = info["volumes"]
    assert volume["encryption"] == {"type": "bitlocker", "label": "BitLocker", "offset": 0,
                                    "unlocked": False}
    assert volume["file_system"] is None and "supply --recovery-password" in volume["error"]
    wrong = dalil("fs", "ls", str(image), "--recovery-password", "-".join(["111111"] * 8))
    assert wrong.returncode == 1 and "BitLocker volume at offset 0" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_corrupt_superblock_and_missing_ewf_segment(dalil, ext2: Path, tmp_path: Path) -> None:
    data = bytearray(ext2.read_bytes())
    data[1024 + 56:1024 + 58] = b"\0\0"
    ext2.write_bytes(bytes(data))
    result = dalil("fs", "ls", str(ext2), "-r")
    assert result.returncode == 1
    assert str(ext2) in result.stderr and "offset 0" in result.stderr
    assert "Traceback" not in result.stderr
    info = dalil.json("image", "info", str(ext2))
    assert info["volumes"][0]["file_system"] is None
    if shutil.which("ewfacquire") is None:
        return
    target = tmp_path / "set" / "ev"
    target.parent.mkdir()
    big = tmp_path / "big.raw"
    big.write_bytes(bytes(range(256)) * (3 * MIB // 256))
    subprocess.run(["ewfacquire", "-u", "-t", str(target), "-c", "none", "-S", "1MiB",
                    "-f", "encase6", str(big)], check=True, capture_output=True)
    target.with_suffix(".E02").unlink()
    missing = dalil("image", "info", str(target.with_suffix(".E01")))
    assert missing.returncode == 1 and "ev.E02 is missing" in missing.stderr
