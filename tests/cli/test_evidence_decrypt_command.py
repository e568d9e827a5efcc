"""`dalil evidence decrypt NUMBER --exhibit E --volume N --password P` as a user types it:
the derived exhibit in one JSON document, then ingested; a wrong key or a volume that is
not encrypted exits 1 naming the exhibit, the volume and its offset, and adds nothing."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from dalil.engine.scenarios.luks import luks1_container

MIB = 1024 * 1024
NOTE = b"wallet seed on the back of the photo\n"


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, bytes]:
    """An MBR disk whose only partition (mmls slot 2) is LUKS1 around an ext4 file system;
    and that file system's bytes."""
    _need("mke2fs", "sfdisk", "cryptsetup")
    tree = tmp_path / "tree"
    (tree / "notes").mkdir(parents=True)
    (tree / "notes" / "seed.txt").write_bytes(NOTE)
    inner = tmp_path / "inner.ext4"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(inner), "4M"],
                   check=True, capture_output=True)
    container = luks1_container(tmp_path / "luks.img", inner.read_bytes(), "s3cret words")
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as handle:
        handle.truncate(8 * MIB)
    # The partition holds the container exactly: LUKS's payload runs to the volume's end,
    # so the decrypted volume is then the inner file system, byte for byte.
    script = f"label: dos\nstart=2048, size={container.stat().st_size // 512}, type=L\n"
    subprocess.run(["sfdisk", "-q", str(disk)], input=script.encode(), check=True,
                   capture_output=True)
    with open(disk, "r+b") as handle:
        handle.seek(MIB)
        handle.write(container.read_bytes())
    return disk, inner.read_bytes()


def test_decrypt_then_ingest_the_derived_exhibit(dalil, images: tuple[Path, bytes]) -> None:
    disk, inner = images
    dalil("case", "create", "--number", "KZ-7", "--title", "Laptop", check=True)
    dalil("evidence", "add", "KZ-7", str(disk), "--exhibit", "E1", "--type", "image",
          check=True)

    locked = dalil("ingest", "KZ-7", "--exhibit", "E1")
    assert locked.returncode == 1
    assert ("decrypt it into a derived exhibit with `dalil evidence decrypt KZ-7 --exhibit "
            "E1 --volume 2 --password ...`") in " ".join(locked.stderr.split())

    wrong = dalil("evidence", "decrypt", "KZ-7", "--exhibit", "E1", "--volume", "2",
                  "--password", "not it")
    message = " ".join(wrong.stderr.split())
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert f"exhibit KZ-7/E1, volume 2 at offset {MIB}: LUKS1 volume" in message
    gap = dalil("evidence", "decrypt", "KZ-7", "--exhibit", "E1", "--volume", "1",
                "--password", "s3cret words")  # mmls slot 1: the gap before the partition
    assert gap.returncode == 1 and "exhibit KZ-7/E1: no volume 1 (volumes: 2)" in gap.stderr
    plain_image = disk.with_name("plain.ext4")
    plain_image.write_bytes(inner)
    dalil("evidence", "add", "KZ-7", str(plain_image), "--exhibit", "E2", "--type", "image",
          check=True)
    plain = dalil("evidence", "decrypt", "KZ-7", "--exhibit", "E2", "--password", "x")
    assert plain.returncode == 1
    assert ("exhibit KZ-7/E2: volume 0 at offset 0 is not encrypted: ingest the exhibit "
            "itself") in " ".join(plain.stderr.split())
    with sqlite3.connect(dalil.database) as db:
        assert db.execute("SELECT number FROM cases_exhibit ORDER BY number").fetchall() == [
            ("E1",), ("E2",)]

    result = dalil.json("evidence", "decrypt", "KZ-7", "--exhibit", "E1", "--volume", "2",
                        "--password", "s3cret words")
    assert isinstance(result, dict)
    assert result["exhibit"] == "E1.1" and result["derived_from"] == "E1"
    (file,) = result["files"]
    assert file["hashes"]["sha256"] == hashlib.sha256(inner).hexdigest()
    assert file["size"] == len(inner)
    assert result["provenance"]["key_supplied"] == ["passphrase"]
    assert result["provenance"]["volume"]["index"] == 2

    ingested = dalil.json("ingest", "KZ-7", "--exhibit", "E1.1")
    assert isinstance(ingested, dict) and ingested["status"] == "succeeded"
    with sqlite3.connect(dalil.database) as db:
        rows = dict(db.execute("SELECT path, sha256 FROM forensics_filerecord"))
        stored = "\n".join(str(row) for table in ("cases_custodyentry", "jobs_job")
                           for row in db.execute(f"SELECT * FROM {table}"))
    assert rows["notes/seed.txt"] == hashlib.sha256(NOTE).hexdigest()
    assert "s3cret words" not in stored
