"""File systems inside LVM2 logical volumes, end to end, on PVs written by
:mod:`dalil.engine.scenarios.lvm` (checked by libvslvm, vslvminfo and lvm2's pvck)."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_forensics_volumes import luks1

from dalil.engine.forensics.carve import CarveOptions, carve
from dalil.engine.forensics.encryption import Keys
from dalil.engine.forensics.extract import extract_all, find_by_path, read_content
from dalil.engine.forensics.filesystem import (
    EncryptedVolumeError,
    FileSystemError,
    LogicalFileSystemError,
    select_file_system,
)
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.logical import (
    LogicalVolumeError,
    list_logical_volumes,
    open_logical_volume,
)
from dalil.engine.forensics.lvmtext import parse_metadata
from dalil.engine.forensics.timeline import bodyfile
from dalil.engine.forensics.walk import WalkProblem, walk
from dalil.engine.scenarios.artifacts import jpeg
from dalil.engine.scenarios.lvm import (
    MIB,
    BuiltPhysicalVolume,
    PlantedFile,
    VolumeSpec,
    build_lvm_image,
    default_volumes,
    lvm_crc,
    rewrite_metadata,
    tools_missing,
)

SEED = 41


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")


def _build(path: Path, **options) -> BuiltPhysicalVolume:
    missing = tools_missing(options.get("volumes") or default_volumes(SEED))
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    if options.get("mbr"):
        _need("sfdisk")
    return build_lvm_image(path, seed=options.pop("seed", SEED), **options)


@pytest.fixture(scope="module")
def pv(tmp_path_factory: pytest.TempPathFactory) -> BuiltPhysicalVolume:
    """A bare PV: the ext4 LV `root` in two segments around the FAT32 LV `exchange`."""
    return _build(tmp_path_factory.mktemp("lvm") / "pv.img")


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> BuiltPhysicalVolume:
    """The same PV in an MBR partition of type 0x8e."""
    return _build(tmp_path_factory.mktemp("lvm") / "disk.img", mbr=True)


def lv_bytes(built: BuiltPhysicalVolume, name: str) -> bytes:
    """The LV's bytes gathered from the image by the generator's own segment list."""
    volume = next(v for v in built.volumes if v.name == name)
    data = built.path.read_bytes()
    parts = []
    for _first, count, physical in volume.segments:
        start = built.pv_offset + MIB + physical * built.extent_size
        parts.append(data[start:start + count * built.extent_size])
    return b"".join(parts)


def crc_bitwise(data: bytes, crc: int = 0xF597A6CF) -> int:
    """lvm2's calc_crc written out bit by bit (reflected CRC-32, no inversions)."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc


# The generator, checked by readers that are not ours.

def test_the_generator_is_deterministic(tmp_path: Path, pv: BuiltPhysicalVolume) -> None:
    again = _build(tmp_path / "again.img")
    assert hashlib.sha256(again.path.read_bytes()).digest() == hashlib.sha256(
        pv.path.read_bytes()).digest()
    other = _build(tmp_path / "other.img", seed=SEED + 1)
    assert other.pv_uuid != pv.pv_uuid
    assert other.path.read_bytes() != pv.path.read_bytes()


def test_crcs_are_lvm2s(pv: BuiltPhysicalVolume) -> None:
    sample = random.Random(3).randbytes(1000)
    assert lvm_crc(sample) == crc_bitwise(sample)
    data = pv.path.read_bytes()
    label, header = data[512:1024], data[4096:4608]
    assert int.from_bytes(label[16:20], "little") == crc_bitwise(label[20:])
    assert int.from_bytes(header[:4], "little") == crc_bitwise(header[4:])
    size = int.from_bytes(header[48:56], "little")
    assert int.from_bytes(header[56:60], "little") == crc_bitwise(data[4608:4608 + size])
    assert data[4608:4608 + size] == pv.metadata.encode() + b"\0"


def test_libvslvm_reads_the_generated_pv(tmp_path: Path) -> None:
    pyvslvm = pytest.importorskip("pyvslvm", reason="needs libvslvm-python")
    # One segment per LV: libvslvm cannot open LVs of several (see lvmtext).
    flat = [dataclasses.replace(v, split=False) for v in default_volumes(SEED)]
    built = _build(tmp_path / "flat.img", volumes=flat)
    handle = pyvslvm.handle()
    handle.open(str(built.path))
    handle.open_physical_volume_files([str(built.path)])
    group = handle.get_volume_group()
    assert group.name == built.vg_name
    assert group.identifier.replace("-", "") == built.vg_uuid
    assert group.get_physical_volume(0).identifier.replace("-", "") == built.pv_uuid
    found = [(lv.name, lv.size) for lv in group.logical_volumes]
    assert found == [(v.name, v.size) for v in built.volumes]
    for index, volume in enumerate(built.volumes):
        logical = group.get_logical_volume(index)
        assert logical.read_buffer_at_offset(volume.size, 0) == lv_bytes(built, volume.name)
    handle.close()


def test_vslvminfo_reads_the_generated_pv(tmp_path: Path) -> None:
    _need("vslvminfo")
    flat = [dataclasses.replace(v, split=False) for v in default_volumes(SEED)]
    built = _build(tmp_path / "flat.img", volumes=flat, mbr=True)
    result = subprocess.run(["vslvminfo", "-o", str(built.pv_offset), str(built.path)],
                            capture_output=True, text=True, check=True)
    assert re.search(rf"Name:\s+{built.vg_name}\n", result.stdout)
    assert re.findall(r"Logical Volume \(LV\): \d+\n\s+Name:\s+(\S+)", result.stdout) == [
        v.name for v in built.volumes]
    sizes = [int(s) for s in re.findall(r"Size:\s+[^(]+\((\d+) bytes\)", result.stdout)]
    assert sizes == [v.size for v in built.volumes]


def test_lvm2_pvck_accepts_the_generated_pv(pv: BuiltPhysicalVolume) -> None:
    _need("pvck")
    headers = subprocess.run(["pvck", "--dump", "headers", str(pv.path)],
                             capture_output=True, text=True)
    if "label_header.id" not in headers.stdout:
        pytest.skip(f"pvck cannot read a plain file here: {headers.stderr.strip()[-200:]}")
    assert headers.returncode == 0
    assert "CHECK" not in headers.stdout, headers.stdout
    assert f"pv_header.pv_uuid {pv.pv_uuid}" in headers.stdout
    assert f"vgname {pv.vg_name} seqno 1" in headers.stdout
    metadata = subprocess.run(["pvck", "--dump", "metadata", str(pv.path)],
                              capture_output=True, text=True, check=True).stdout
    assert pv.metadata.strip() in metadata
    bad = pv.path.read_bytes()
    damaged = pv.path.with_name("pvck-bad.img")
    damaged.write_bytes(bad[:4700] + b"X" + bad[4701:])
    check = subprocess.run(["pvck", "--dump", "headers", str(damaged)], capture_output=True,
                           text=True).stdout
    assert "CHECK: metadata text at 4608 crc does not match" in check


def test_metadata_parses_back(pv: BuiltPhysicalVolume) -> None:
    group = parse_metadata(pv.metadata)[pv.vg_name]
    assert group["extent_size"] == pv.extent_size // 512
    root = group["logical_volumes"]["root"]
    assert root["segment_count"] == 2
    assert root["segment2"]["stripes"] == ["pv0", pv.volumes[0].segments[1][2]]


# Walking the file systems inside.

def test_fs_ls_lists_the_planted_files_of_each_lv(pv: BuiltPhysicalVolume) -> None:
    with open_image(pv.path) as image:
        listed = list_logical_volumes(image, 0, image.size)
        assert [(lv.name, lv.size, lv.kind) for lv in listed] == [
            (v.name, v.size, "lvm") for v in pv.volumes]
        for volume in pv.volumes:
            fs = select_file_system(image, None, volume.name)
            assert fs.kind == volume.filesystem
            assert f"LVM logical volume {volume.name} in volume at offset 0" in fs.where()
            paths = {e.path: e for e in walk(fs, recursive=True) if not e.deleted}
            for planted in volume.files:
                entry = paths[planted.path]
                assert entry.size == len(planted.data)
                assert entry.mtime == planted.mtime.replace(microsecond=0)
            assert "home/azamat/keys" in paths or volume.filesystem == "fat32"


def test_lv_bytes_follow_the_segments(pv: BuiltPhysicalVolume) -> None:
    with open_image(pv.path) as image:
        for index, volume in enumerate(pv.volumes):
            inner = open_logical_volume(image, 0, image.size, index)
            assert inner.read(0, inner.size) == lv_bytes(pv, volume.name)
            assert inner.read(inner.size - 10, 100) == lv_bytes(pv, volume.name)[-10:]


def test_fs_cat_gives_the_planted_bytes(disk: BuiltPhysicalVolume) -> None:
    with open_image(disk.path) as image:
        for volume in disk.volumes:
            fs = select_file_system(image, 2, volume.name)
            for planted in volume.files:
                data = b"".join(read_content(fs, find_by_path(fs, planted.path)))
                assert data == planted.data


def test_extract_writes_every_planted_file(disk: BuiltPhysicalVolume, tmp_path: Path) -> None:
    root = disk.volumes[0]
    with open_image(disk.path) as image:
        fs = select_file_system(image, None, "0")
        records = {r.path: r for r in extract_all(fs, tmp_path / "out")}
    for planted in root.files:
        record = records[planted.path]
        assert record.complete and record.sha256 == planted.sha256
        assert (tmp_path / "out" / record.output).read_bytes() == planted.data


def test_timeline_matches_fls_on_the_lv_bytes(pv: BuiltPhysicalVolume, tmp_path: Path) -> None:
    _need("fls")
    copy = tmp_path / "root.lv"
    copy.write_bytes(lv_bytes(pv, "root"))
    expected = subprocess.run(["fls", "-r", "-m", "/", str(copy)], capture_output=True,
                              text=True, check=True).stdout.splitlines()
    with open_image(pv.path) as image:
        lines = list(bodyfile(select_file_system(image, None, "root"), "/"))
    # Sorted: Debian's fls (TSK 4.11) and pytsk3 (TSK 4.15) list htree folders in other orders.
    assert sorted(lines) == sorted(expected)
    notes = next(p for p in pv.volumes[0].files if p.path.endswith("notes.txt"))
    row = next(line for line in lines if line.split("|")[1] == "/home/azamat/notes.txt")
    assert int(row.split("|")[8]) == int(notes.mtime.timestamp())  # mtime, UTC epoch


# Choosing, and failing clearly.

def test_several_lvs_and_none_chosen_lists_them(disk: BuiltPhysicalVolume) -> None:
    with open_image(disk.path) as image, pytest.raises(LogicalFileSystemError) as raised:
        select_file_system(image, None)
    message = str(raised.value)
    assert isinstance(raised.value, LogicalVolumeError)
    assert isinstance(raised.value, FileSystemError)
    assert str(disk.path) in message and f"offset {disk.pv_offset}" in message
    assert "0 root (8388608 bytes)" in message and "1 exchange (35651584 bytes)" in message
    assert "--logical" in message


def test_a_wrong_choice_names_the_choices(pv: BuiltPhysicalVolume) -> None:
    with open_image(pv.path) as image:
        with pytest.raises(LogicalFileSystemError, match=r"no logical volume 'home'.*0 root"):
            select_file_system(image, None, "home")
        with pytest.raises(LogicalFileSystemError, match=r"no logical volume '7'"):
            select_file_system(image, None, 7)


def test_the_only_lv_is_taken_without_asking(tmp_path: Path) -> None:
    built = _build(tmp_path / "one.img", volumes=default_volumes(SEED, count=1), mbr=True)
    with open_image(built.path) as image:
        fs = select_file_system(image, None)
        assert fs.kind == "ext4"
        assert b"".join(read_content(fs, find_by_path(fs, "etc/hostname"))) == (
            b"warehouse-07\n")


def test_an_lvm_pv_inside_luks_is_reached_with_the_key(tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="needs cryptography")
    built = _build(tmp_path / "inner.img", volumes=default_volumes(SEED, count=1))
    container = luks1(tmp_path, built.path.read_bytes(), "correct horse")  # skips if no tool
    with open_image(container) as image:
        with pytest.raises(EncryptedVolumeError, match="LUKS1 volume at offset 0: supply"):
            select_file_system(image, None, "root")
        fs = select_file_system(image, None, keys=Keys(password="correct horse"))
        assert "LUKS1 volume at offset 0, decrypted, LVM logical volume root" in fs.where()
        assert b"".join(read_content(fs, find_by_path(fs, "etc/hostname"))) == (
            b"warehouse-07\n")


def test_logical_on_a_plain_volume_is_refused(tmp_path: Path) -> None:
    _need("mke2fs")
    plain = tmp_path / "plain.img"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", str(plain), "4M"], check=True)
    with open_image(plain) as image:
        assert select_file_system(image, None).kind == "ext4"
        with pytest.raises(LogicalFileSystemError,
                           match=r"plain\.img: volume at offset 0 has no LVM logical volumes"):
            select_file_system(image, None, "0")


def _damage(built: BuiltPhysicalVolume, target: Path, at: int) -> Path:
    data = bytearray(built.path.read_bytes())
    data[built.pv_offset + at] ^= 0x20
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize(("at", "what"), [
    (600, "LVM label at PV offset 512: CRC mismatch"),
    (4096 + 100, "LVM metadata area header at PV offset 4096: CRC mismatch"),
    (4608 + 20, "LVM metadata text at PV offset 4608: CRC mismatch"),
])
def test_damaged_metadata_is_named_with_its_place(disk: BuiltPhysicalVolume, tmp_path: Path,
                                                  at: int, what: str) -> None:
    bad = _damage(disk, tmp_path / "bad.img", at)
    with open_image(bad) as image:
        with pytest.raises(LogicalVolumeError) as raised:
            list_logical_volumes(image, disk.pv_offset, image.size - disk.pv_offset)
        assert str(raised.value) == (f"{bad}: LVM physical volume at offset "
                                     f"{disk.pv_offset}: {what}")
        with pytest.raises(LogicalFileSystemError, match=re.escape(what)):
            select_file_system(image, 2, "root")


def test_truncated_metadata_is_named_with_its_place(pv: BuiltPhysicalVolume,
                                                    tmp_path: Path) -> None:
    cut = tmp_path / "cut.img"
    cut.write_bytes(pv.path.read_bytes()[:5000])
    with open_image(cut) as image, pytest.raises(LogicalFileSystemError) as raised:
        select_file_system(image, None, "root")
    assert str(raised.value).startswith(f"{cut}: LVM physical volume at offset 0: "
                                        "LVM metadata text at PV offset 4608: truncated")


def test_a_pv_cut_inside_an_lv_names_the_lv_where_reading_stops(
        pv: BuiltPhysicalVolume, tmp_path: Path) -> None:
    cut = tmp_path / "cut.img"
    cut.write_bytes(pv.path.read_bytes()[:6 * MIB])  # root's first segment, exchange's 1st MiB
    problems: list[WalkProblem] = []
    with open_image(cut) as image:
        assert [lv.name for lv in list_logical_volumes(image, 0, image.size)] == [
            "root", "exchange"]
        root = open_logical_volume(image, 0, image.size, 0)
        assert root.read(0, 4 * MIB) == lv_bytes(pv, "root")[:4 * MIB]
        assert root.read(4 * MIB, 512) == b""  # its second segment lies past the end
        fs = select_file_system(image, None, "exchange")
        list(walk(fs, recursive=True, on_problem=problems.append))
    assert problems
    assert all(p.message.startswith(f"{cut}, LVM logical volume exchange in volume at "
                                    "offset 0") for p in problems)


def test_an_unsupported_segment_type_is_refused_by_name(tmp_path: Path) -> None:
    built = _build(tmp_path / "thin.img")
    text = built.metadata.replace(
        'type = "striped"\nstripe_count = 1\n\nstripes = [\n"pv0", 4\n]',
        'type = "thin"\nthin_pool = "pool0"\ntransaction_id = 1\ndevice_id = 1')
    assert text != built.metadata
    rewrite_metadata(built, text)
    with open_image(built.path) as image:
        assert select_file_system(image, None, "root").kind == "ext4"
        with pytest.raises(LogicalFileSystemError,
                           match=r"logical volume exchange: segment1 of type thin"):
            select_file_system(image, None, "exchange")


def test_carving_inside_a_logical_volume(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    photo = jpeg(rng, taken=datetime(2024, 3, 4, 10, 0), make="Canon", model="EOS",
                 gps=None)
    when = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
    volumes = [VolumeSpec("root", "ext4", 8, (PlantedFile("a.txt", b"a\n", when),),
                          split=True),
               VolumeSpec("photos", "fat32", 34, (PlantedFile("DCIM/1.JPG", photo, when),))]
    built = _build(tmp_path / "photos.img", volumes=volumes)
    report = carve(built.path, tmp_path / "out",
                   CarveOptions(types=("jpg",), logical="photos", hash_source=False))
    assert report.space["mode"] == "logical"
    assert "LVM logical volume photos" in report.space["layer"]
    [found] = report.valid
    lv = lv_bytes(built, "photos")
    assert lv[found.offset:found.offset + len(photo)] == photo
    assert (tmp_path / "out" / found.name).read_bytes() == photo
    free = carve(built.path, tmp_path / "free", CarveOptions(
        types=("jpg",), logical="photos", unallocated=True, hash_source=False))
    assert free.space["mode"] == "unallocated" and free.valid == []
