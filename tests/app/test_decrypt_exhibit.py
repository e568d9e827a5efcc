"""Decrypting an encrypted volume of an exhibit into a derived exhibit (E1.1): the bytes
are exactly the inner file system, custody on both exhibits says what was done and never
holds the key, the derived exhibit ingests like any image; a wrong key, a missing key or a
volume that is not encrypted records nothing; the ingest of the encrypted exhibit itself
says which command decrypts it. LUKS1 containers from :mod:`dalil.engine.scenarios.luks`.

BitLocker: no real BitLocker volume can be made here (no tool writes one), so only the
locked case (a BitLocker boot sector without a key) is checked."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from django.apps import apps

from dalil.app.cases import services as cases
from dalil.app.cases.models import CustodyEntry, Exhibit
from dalil.app.forensics import services
from dalil.app.forensics.decrypt import DecryptError, decrypt_exhibit
from dalil.app.forensics.models import FileRecord, IngestProblem
from dalil.engine.forensics.encryption import Keys
from dalil.engine.scenarios.luks import luks1_container

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024
NOTE = b"the ledger is in the safe\n"
PASSPHRASE = "correct horse battery"
VOLUME = 2  # mmls slot of the MBR's only partition (0: the table, 1: the gap before it)


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def ext2(tmp_path: Path) -> bytes:
    _need("mke2fs")
    tree = tmp_path / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "docs" / "note.txt").write_bytes(NOTE)
    image = tmp_path / "inner.ext2"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-d", str(tree),
                    str(image), "2M"], check=True,
                   env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    return image.read_bytes()


def mbr_disk(path: Path, volume: bytes) -> Path:
    """``volume`` in the only partition of an MBR disk, from 1 MiB."""
    _need("sfdisk")
    size = -(-len(volume) // MIB)
    with open(path, "wb") as handle:
        handle.truncate((2 + size) * MIB)
    subprocess.run(["sfdisk", "-q", str(path)], input=f"label: dos\nstart=2048, "
                   f"size={2048 * size}, type=L\n".encode(), check=True, capture_output=True)
    with open(path, "r+b") as handle:
        handle.seek(MIB)
        handle.write(volume)
    return path


@pytest.fixture
def inner(tmp_path: Path) -> bytes:
    return ext2(tmp_path)


@pytest.fixture
def luks_disk(tmp_path: Path, inner: bytes) -> Path:
    _need("cryptsetup")
    container = luks1_container(tmp_path / "luks.img", inner, PASSPHRASE)
    return mbr_disk(tmp_path / "disk.img", container.read_bytes())


@pytest.fixture
def case():
    return cases.create_case(number="KZ-2026-044", title="Seized laptop", actor="examiner")


def _exhibit(case, image: Path, number: str = "E1") -> Exhibit:
    return cases.add_exhibit_from_path(case, image, number=number, actor="examiner",
                                       type="image", description="laptop disk")


def _everything_stored(home: Path) -> str:
    """Every database row and every file under DALIL_HOME, as text, to look for a key."""
    rows = [json.dumps(list(model.objects.values()), default=str)
            for model in apps.get_models()]
    files = [p.read_bytes().decode("latin-1") for p in home.rglob("*") if p.is_file()]
    return "\n".join(rows + files)


def test_luks1_volume_decrypts_into_a_derived_exhibit(case, luks_disk: Path, inner: bytes,
                                                      dalil_home: Path) -> None:
    source = _exhibit(case, luks_disk)
    seen: list[tuple[int, int]] = []
    derived = decrypt_exhibit(source, volume=VOLUME, keys=Keys(password=PASSPHRASE),
                              actor="examiner", progress=lambda d, t: seen.append((d, t)))

    inner_sha256 = hashlib.sha256(inner).hexdigest()
    assert derived.number == "E1.1" and derived.parent == source and derived.type == "image"
    (file,) = derived.files.all()
    assert file.sha256 == inner_sha256 and file.size == len(inner)
    with cases.blob_store().open(file.sha256) as handle:
        assert handle.read() == inner  # the decrypted bytes, exactly
    assert seen[-1] == (len(inner), len(inner))

    source_sha256 = source.files.get().sha256
    acquired = CustodyEntry.objects.get(exhibit=source, action="acquired").details
    created = CustodyEntry.objects.get(exhibit=derived, action="created").details
    for details in (acquired, created):
        assert details["source_exhibit"] == "E1"
        assert details["source_sha256"] == source_sha256
        assert details["source_sha256_check"]["before"] == source_sha256
        assert details["source_sha256_check"]["after"] == source_sha256
        assert details["volume"] == {"index": VOLUME, "offset": MIB, "size": 2 * MIB + len(inner)}
        assert details["encryption"]["type"] == "luks1"
        assert details["library"]["name"] == "libluksde" and details["library"]["version"]
        assert details["key_supplied"] == ["passphrase"]
        assert details["hashes"]["sha256"] == inner_sha256 and details["size"] == len(inner)
        assert details["tool"] == "dalil" and details["tool_version"]
    assert acquired["image_exhibit"] == "E1.1" and created["derived_from"] == "E1"
    assert CustodyEntry.objects.get(exhibit=derived, action="created").actor == "examiner"
    assert cases.verify_case(case, "examiner", record=False).intact
    assert PASSPHRASE not in _everything_stored(dalil_home)

    run = services.ingest_exhibit(derived, actor="examiner")
    assert run.status == "succeeded"
    note = FileRecord.objects.get(exhibit=derived, path="docs/note.txt")
    assert note.sha256 == hashlib.sha256(NOTE).hexdigest()


def test_a_wrong_or_missing_key_stores_nothing(case, luks_disk: Path,
                                               dalil_home: Path) -> None:
    source = _exhibit(case, luks_disk)
    entries = CustodyEntry.objects.count()
    blobs = sorted((dalil_home / "blobs" / "sha256").rglob("*"))
    with pytest.raises(DecryptError) as wrong:
        decrypt_exhibit(source, volume=VOLUME, keys=Keys(password="wrong guess"),
                        actor="examiner")
    assert f"exhibit KZ-2026-044/E1, volume {VOLUME} at offset {MIB}: LUKS1 volume" in str(
        wrong.value)
    assert "nothing was stored" in str(wrong.value) and "wrong guess" not in str(wrong.value)
    with pytest.raises(DecryptError, match=r"volume 2 at offset 1048576: LUKS1 volume is "
                                           r"locked: supply --password"):
        decrypt_exhibit(source, volume=VOLUME, keys=Keys(), actor="examiner")
    assert list(Exhibit.objects.values_list("number", flat=True)) == ["E1"]
    assert CustodyEntry.objects.count() == entries
    assert sorted((dalil_home / "blobs" / "sha256").rglob("*")) == blobs


def test_a_volume_that_is_not_encrypted_is_refused(case, tmp_path: Path,
                                                   inner: bytes) -> None:
    plain = tmp_path / "plain.ext2"
    plain.write_bytes(inner)
    source = _exhibit(case, plain)
    with pytest.raises(DecryptError, match=r"^exhibit KZ-2026-044/E1: volume 0 at offset 0 "
                                           r"is not encrypted: ingest the exhibit itself$"):
        decrypt_exhibit(source, volume=None, keys=Keys(password=PASSPHRASE), actor="examiner")
    assert Exhibit.objects.count() == 1


def test_ingest_of_the_encrypted_exhibit_says_how_to_decrypt_it(case, luks_disk: Path) -> None:
    source = _exhibit(case, luks_disk)
    with pytest.raises(services.IngestError):
        services.ingest_exhibit(source, actor="examiner")
    (problem,) = IngestProblem.objects.filter(run__exhibit=source)
    assert problem.message == (
        f"exhibit KZ-2026-044/E1, volume {VOLUME}: LUKS1 volume at offset {MIB} is "
        "encrypted: decrypt it into a derived exhibit with `dalil evidence decrypt "
        f"KZ-2026-044 --exhibit E1 --volume {VOLUME} --password ...`, then ingest that "
        "exhibit")


def bitlocker_volume() -> bytes:
    """A BitLocker boot sector (OEM id ``-FVE-FS-``) and nothing else: detected, locked."""
    sector = bytearray(512)
    sector[0:3] = b"\xeb\x58\x90"
    sector[3:11] = b"-FVE-FS-"
    struct.pack_into("<HB", sector, 11, 512, 8)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector) + bytes(MIB - 512)


def test_a_locked_bitlocker_volume_names_the_recovery_password(case, tmp_path: Path) -> None:
    source = _exhibit(case, mbr_disk(tmp_path / "bitlocker.img", bitlocker_volume()))
    with pytest.raises(DecryptError, match=r"BitLocker volume is locked: supply "
                                           r"--recovery-password"):
        decrypt_exhibit(source, volume=VOLUME, keys=Keys(), actor="examiner")
    with pytest.raises(services.IngestError):
        services.ingest_exhibit(source, actor="examiner")
    (problem,) = IngestProblem.objects.filter(run__exhibit=source)
    assert problem.message.endswith(
        f"BitLocker volume at offset {MIB} is encrypted: decrypt it into a derived exhibit "
        f"with `dalil evidence decrypt KZ-2026-044 --exhibit E1 --volume {VOLUME} "
        "--recovery-password ...`, then ingest that exhibit")
