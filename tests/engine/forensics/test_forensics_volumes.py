"""Containers, volume systems, encryption and file systems beyond raw/MBR/ext: GPT, VHD and
VHDX, LUKS (unlocked end to end), BitLocker (detected), exFAT, EWF stored metadata."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from dalil.engine.forensics.encryption import Keys, detect_encryption
from dalil.engine.forensics.extract import find_by_path, read_content
from dalil.engine.forensics.filesystem import (
    EncryptedVolumeError,
    open_file_system,
    select_volume,
)
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.logical import has_vss, is_lvm
from dalil.engine.forensics.volume import list_volumes
from dalil.engine.forensics.walk import Walk
from dalil.engine.scenarios.luks import luks1_container

MIB = 1024 * 1024
NOTE = b"the ledger is in the safe\n"


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")


def fls(*args: str) -> list[str]:
    result = subprocess.run(["fls", *args], capture_output=True, check=True)
    return result.stdout.decode("utf-8", "replace").splitlines()


def fls_form(entry) -> str:
    return (f"{entry.name_type}/{entry.meta_type or '-'} {'* ' if entry.deleted else ''}"
            f"{entry.address}{'(realloc)' if entry.reallocated else ''}:\t{entry.path}")


def ext2_bytes(tmp_path: Path, size: str = "2M") -> bytes:
    need("mke2fs")
    tree = tmp_path / "tree"
    (tree / "docs").mkdir(parents=True, exist_ok=True)
    (tree / "docs" / "note.txt").write_bytes(NOTE)
    image = tmp_path / "fs.ext2"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", "-b", "1024", "-L", "inner", "-d",
                    str(tree), str(image), size], check=True,
                   env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    return image.read_bytes()


def partitioned(tmp_path: Path, label: str, parts: list[bytes], name: str) -> Path:
    """A disk with ``parts`` in consecutive partitions from 1 MiB, made by sfdisk."""
    need("sfdisk")
    sizes = [-(-len(p) // MIB) for p in parts]
    disk = tmp_path / name
    with open(disk, "wb") as handle:
        handle.truncate((2 + sum(sizes)) * MIB)
    script = f"label: {label}\n" + "".join(
        f"start={2048 + 2048 * sum(sizes[:i])}, size={2048 * s}, type=L\n"
        if label == "dos" else
        f"start={2048 + 2048 * sum(sizes[:i])}, size={2048 * s}\n"
        for i, s in enumerate(sizes))
    subprocess.run(["sfdisk", "-q", str(disk)], input=script.encode(), check=True,
                   capture_output=True)
    with open(disk, "r+b") as handle:
        for i, part in enumerate(parts):
            handle.seek(MIB + MIB * sum(sizes[:i]))
            handle.write(part)
    return disk


def test_gpt_volumes_are_listed_and_read_like_mmls_and_fls(tmp_path: Path) -> None:
    data = ext2_bytes(tmp_path)
    disk = partitioned(tmp_path, "gpt", [data, data], "gpt.img")
    with open_image(disk) as image:
        volumes = list_volumes(image)
        allocated = [v for v in volumes if v.allocated]
        assert {v.table for v in volumes} == {"gpt"}
        assert [v.offset for v in allocated] == [MIB, 3 * MIB]
        second = select_volume(image, allocated[1].index)
        fs = open_file_system(image, second)
        entries = list(Walk(fs))
        assert [fls_form(e) for e in entries] == fls("-r", "-p", "-o", "6144", str(disk))
        assert b"".join(read_content(fs, find_by_path(fs, "docs/note.txt"))) == NOTE


@pytest.mark.parametrize("fmt", ["vhdx", "vpc"])
def test_vhd_and_vhdx_containers(tmp_path: Path, fmt: str) -> None:
    need("qemu-img")
    raw = tmp_path / "disk.raw"
    raw.write_bytes(ext2_bytes(tmp_path))
    target = tmp_path / f"disk.{fmt}"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", fmt, str(raw), str(target)],
                   check=True)
    with open_image(target) as image:
        assert image.info.container == ("vhdx" if fmt == "vhdx" else "vhd")
        assert image.read(0, 2 * MIB) == raw.read_bytes()
        fs = open_file_system(image, select_volume(image, None))
        assert [fls_form(e) for e in Walk(fs)] == fls("-r", "-p", str(raw))


def test_exfat_file_system(tmp_path: Path) -> None:
    need("mkfs.exfat")
    image = tmp_path / "exfat.img"
    with open(image, "wb") as handle:
        handle.truncate(8 * MIB)
    subprocess.run(["mkfs.exfat", "-L", "EVIDENCE", str(image)], check=True,
                   capture_output=True)
    with open_image(image) as opened:
        fs = open_file_system(opened, select_volume(opened, None))
        assert fs.kind == "exfat"
        assert [fls_form(e) for e in Walk(fs)] == fls("-r", "-p", str(image))


def luks1(tmp_path: Path, inner: bytes, passphrase: str) -> Path:
    """A LUKS1 container around ``inner`` (see dalil.engine.scenarios.luks); skips the
    test where cryptsetup is not installed."""
    need("cryptsetup")
    return luks1_container(tmp_path / "luks.img", inner, passphrase)


def test_luks1_is_reported_then_unlocked_into_its_file_system(tmp_path: Path) -> None:
    inner = ext2_bytes(tmp_path)
    container = luks1(tmp_path, inner, "correct horse")
    disk = partitioned(tmp_path, "dos", [container.read_bytes()], "disk.img")
    with open_image(disk) as image:
        volume = select_volume(image, None)
        assert detect_encryption(image, volume.offset).kind == "luks1"
        with pytest.raises(EncryptedVolumeError) as locked:
            open_file_system(image, volume)
        assert f"LUKS1 volume at offset {MIB}: supply --password" in str(locked.value)
        assert str(disk) in str(locked.value)
        assert "no readable file system" not in str(locked.value)
        with pytest.raises(EncryptedVolumeError, match=r"key was refused|cannot open"):
            open_file_system(image, volume, keys=Keys(password="wrong"))
        fs = open_file_system(image, volume, keys=Keys(password="correct horse"))
        assert fs.kind == "ext2" and "LUKS1 volume at offset" in fs.where()
        assert fs.image.read(0, len(inner)) == inner  # the decrypted bytes, exactly
        entries = list(Walk(fs))
        assert "docs/note.txt" in [e.path for e in entries]
        assert b"".join(read_content(fs, find_by_path(fs, "docs/note.txt"))) == NOTE
    key_file = tmp_path / "pass.txt"
    key_file.write_text("correct horse")
    with open_image(container) as image:
        fs = open_file_system(image, select_volume(image, None),
                              keys=Keys(key_file=str(key_file)))
        assert fs.kind == "ext2"


def test_luks2_is_reported_as_encrypted(tmp_path: Path) -> None:
    need("cryptsetup")
    container = tmp_path / "luks2.img"
    with open(container, "wb") as handle:
        handle.truncate(20 * MIB)
    subprocess.run(["cryptsetup", "luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2",
                    "--pbkdf-force-iterations", "1000", "--key-file", "-", str(container)],
                   input=b"pw", check=True, capture_output=True)
    with open_image(container) as image:
        volume = select_volume(image, None)
        with pytest.raises(EncryptedVolumeError, match="LUKS2 volume at offset 0: supply"):
            open_file_system(image, volume)
        with pytest.raises(EncryptedVolumeError, match="LUKS1 only"):
            open_file_system(image, volume, keys=Keys(password="pw"))


def bitlocker_boot_sector(to_go: bool = False) -> bytes:
    sector = bytearray(512)
    sector[0:3] = b"\xeb\x58\x90"
    if to_go:
        sector[3:11] = b"MSWIN4.1"
        sector[424:440] = bytes.fromhex("3bd66749292ed84a8399f6a339e3d001")
    else:
        sector[3:11] = b"-FVE-FS-"
    struct.pack_into("<HB", sector, 11, 512, 8)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


@pytest.mark.parametrize("to_go", [False, True])
def test_bitlocker_is_reported_with_its_offset(tmp_path: Path, to_go: bool) -> None:
    volume_bytes = bitlocker_boot_sector(to_go) + bytes(MIB - 512)
    disk = partitioned(tmp_path, "dos", [volume_bytes], "bitlocker.img")
    with open_image(disk) as image:
        volume = select_volume(image, None)
        found = detect_encryption(image, volume.offset)
        assert found is not None and found.offset == MIB and found.is_bitlocker
        with pytest.raises(EncryptedVolumeError) as locked:
            open_file_system(image, volume)
        label = "BitLocker To Go" if to_go else "BitLocker"
        assert f"{label} volume at offset {MIB}: supply --recovery-password" in str(
            locked.value)
        # A synthetic header has no metadata: libbde refuses it with a clear message.
        with pytest.raises(EncryptedVolumeError, match=f"offset {MIB}"):
            open_file_system(image, volume, keys=Keys(
                recovery_password="-".join(["000000"] * 8)))


def test_lvm_and_vss_signatures_are_recognised(tmp_path: Path) -> None:
    lvm = bytearray(4096)
    lvm[512:520] = b"LABELONE"
    lvm[536:544] = b"LVM2 001"
    vss = bytearray(16384)
    vss[0x1E00:0x1E10] = bytes.fromhex("6b87083876c1484eb7ae04046e6cc752")
    path = tmp_path / "sig.img"
    path.write_bytes(bytes(lvm) + bytes(vss))
    with open_image(path) as image:
        assert is_lvm(image, 0) and not is_lvm(image, 4096)
        assert has_vss(image, 4096) and not has_vss(image, 0)


@pytest.mark.shared_data
def test_ewf_stored_metadata_and_hashes(shared_data: Path) -> None:
    with open_image(shared_data / "forensics/dfvfs/ext2.E01") as image:
        info = image.info.to_dict()
    assert info["container"] == "ewf"
    assert info["stored_hashes"]["md5"] == "196066add11fb71c4c49cf1bb50d6d24"
    assert {k: info["metadata"][k] for k in ("case_number", "description", "examiner_name",
                                             "evidence_number", "notes")} == {
        "case_number": "case", "description": "description", "examiner_name": "examiner",
        "evidence_number": "evidence", "notes": "notes"}
