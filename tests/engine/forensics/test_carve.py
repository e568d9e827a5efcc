"""Carving on images built here: planted files at known offsets, decoys, chunk boundaries,
unallocated space of a FAT file system, hostile output folders, cancel and resume."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from dalil.engine.forensics.carve import (
    AUDIT_FILE,
    CHECKPOINT_FILE,
    MANIFEST_FILE,
    CarveError,
    CarveOptions,
    carve,
    parse_types,
)
from dalil.engine.forensics.carve.samples import KINDS, make_sample, plant, sample_items
from dalil.engine.forensics.carve.space import SpaceError, free_extents
from dalil.engine.forensics.filesystem import open_file_system, select_volume
from dalil.engine.forensics.image import open_image

MIB = 1024 * 1024


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")


@pytest.fixture(scope="module")
def planted_image(tmp_path_factory: pytest.TempPathFactory):
    rng = random.Random(20240501)
    path = tmp_path_factory.mktemp("carve") / "planted.dd"
    planted = plant(path, 12 * MIB, sample_items(rng, per_type=3, decoys_per_type=2), rng)
    return path, planted


def test_planted_files_are_recovered_and_decoys_rejected(planted_image, tmp_path: Path) -> None:
    image, planted = planted_image
    out = tmp_path / "out"
    # Small chunks: many planted files straddle a chunk boundary.
    report = carve(image, out, CarveOptions(chunk_size=256 * 1024))
    valid = {(f.offset, f.type): f for f in report.valid}
    for item in planted:
        found = valid.get((item.offset, item.type))
        if item.valid:
            assert found is not None, f"planted {item.type} at {item.offset} not recovered"
            assert (found.sha256, found.md5, found.length) == (item.sha256, item.md5,
                                                               item.length)
            data = (out / found.name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == item.sha256
            assert found.name.startswith(f"{item.offset}.")
            assert found.extents == [[item.offset, item.length]]
        else:
            assert found is None, f"{item.decoy} {item.type} decoy at {item.offset} accepted"
    assert len(report.valid) == sum(p.valid for p in planted)  # nothing else, no duplicate
    rejected_at = {f.offset for f in report.files if not f.valid}
    assert {p.offset for p in planted if not p.valid} <= rejected_at
    counts = report.counts()
    assert all(counts[kind]["valid"] == 3 for kind in KINDS)
    assert all(counts[kind]["rejected"] >= 2 for kind in KINDS)
    # Nothing but the carved files and the audit files; no leftovers.
    names = {p.name for p in out.iterdir()}
    assert names == {f.name for f in report.valid} | {MANIFEST_FILE, AUDIT_FILE}
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    whole = image.read_bytes()
    assert manifest["image"]["path"] == str(image)
    assert manifest["image"]["hashes"] == {"md5": hashlib.md5(whole).hexdigest(),
                                           "sha256": hashlib.sha256(whole).hexdigest()}
    assert manifest["complete"] is True and manifest["scanned"] == len(whole)
    assert len(manifest["files"]) == len(report.valid)
    assert len(manifest["rejected"]) == len(report.files) - len(report.valid)
    audit = [json.loads(line) for line in (out / AUDIT_FILE).read_text().splitlines()]
    assert len(audit) == len(report.files)


def test_the_whole_chunk_size_gives_the_same_files(planted_image, tmp_path: Path) -> None:
    image, _ = planted_image
    small = carve(image, tmp_path / "a", CarveOptions(chunk_size=4096, hash_source=False))
    large = carve(image, tmp_path / "b", CarveOptions(hash_source=False))
    assert [(f.offset, f.sha256) for f in small.valid] == [
        (f.offset, f.sha256) for f in large.valid]


@pytest.mark.parametrize("engine", ["find", "hyperscan"])
@pytest.mark.parametrize("shift", [-9, -3, -1, 0, 1])
def test_a_header_across_the_chunk_boundary_is_found_once(tmp_path: Path, engine: str,
                                                          shift: int) -> None:
    if engine == "hyperscan":
        pytest.importorskip("hyperscan")
    rng = random.Random(5)
    chunk = 64 * 1024
    data = {kind: make_sample(kind, rng) for kind in ("jpg", "sqlite", "png")}
    blob = bytearray(rng.randbytes(4 * chunk))
    # The header starts `shift` bytes from the first boundary (inside the signature for
    # negative shifts); the others sit on and after the next boundaries.
    offsets = {"png": chunk + shift, "jpg": 2 * chunk + shift + 7, "sqlite": 3 * chunk - 5}
    for kind, offset in offsets.items():
        blob[offset:offset + len(data[kind])] = data[kind]
    image = tmp_path / "edge.dd"
    image.write_bytes(bytes(blob))
    report = carve(image, tmp_path / "out",
                   CarveOptions(chunk_size=chunk, search_engine=engine, hash_source=False))
    found = [(f.type, f.offset, f.sha256) for f in report.valid]
    expected = sorted(((k, o, hashlib.sha256(data[k]).hexdigest()) for k, o in offsets.items()),
                      key=lambda row: row[1])
    assert found == expected


def test_types_are_parsed_and_filter_the_run(planted_image, tmp_path: Path) -> None:
    assert parse_types("JPEG, png,.pdf,docx") == ("jpg", "png", "pdf", "zip")
    assert parse_types(None) == KINDS
    with pytest.raises(ValueError, match="'bmp'"):
        parse_types("jpg,bmp")
    image, planted = planted_image
    report = carve(image, tmp_path / "out", CarveOptions(types=("png", "sqlite"),
                                                         hash_source=False))
    assert {f.type for f in report.files} <= {"png", "sqlite"}
    assert sorted(f.offset for f in report.valid) == sorted(
        p.offset for p in planted if p.valid and p.type in ("png", "sqlite"))


def test_hostile_output_folders_give_clear_errors(planted_image, tmp_path: Path) -> None:
    image, _ = planted_image
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "evidence.txt").write_text("do not overwrite")
    with pytest.raises(CarveError, match="busy: the output folder is not empty"):
        carve(image, busy)
    assert (busy / "evidence.txt").read_text() == "do not overwrite"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(CarveError, match="a-file: exists and is not a folder"):
        carve(image, a_file)
    with pytest.raises(CarveError, match="cannot create the output folder"):
        carve(image, a_file / "sub")
    with pytest.raises(CarveError, match="nothing to resume"):
        carve(image, busy, CarveOptions(resume=True))
    with pytest.raises(CarveError, match="no such image file"):
        carve(tmp_path / "missing.dd", tmp_path / "new")
    inside = tmp_path / "inside"
    inside.mkdir()
    shutil.copy(image, inside / "copy.dd")
    (inside / "copy.dd").rename(tmp_path / "copy.dd")
    with pytest.raises(CarveError, match="inside the output folder"):
        carve(tmp_path / "copy.dd", tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_folder_is_refused(planted_image, tmp_path: Path) -> None:
    image, _ = planted_image
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(CarveError, match="locked"):
            carve(image, locked / "out")
        with pytest.raises(CarveError, match="not writable"):
            carve(image, locked)
    finally:
        locked.chmod(0o700)


def test_cancel_then_resume_gives_the_same_result(planted_image, tmp_path: Path) -> None:
    image, _ = planted_image
    reference = carve(image, tmp_path / "ref", CarveOptions(chunk_size=MIB,
                                                            hash_source=False))
    out = tmp_path / "out"
    stop = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= 5 * MIB:
            stop.set()

    first = carve(image, out, CarveOptions(chunk_size=MIB, hash_source=False),
                  progress=progress, cancel=stop)
    assert not first.complete and first.scanned == 5 * MIB
    assert (out / CHECKPOINT_FILE).exists()
    assert seen == [MIB * n for n in range(1, 6)]
    with pytest.raises(CarveError, match="not empty"):
        carve(image, out)
    second = carve(image, out, CarveOptions(chunk_size=MIB, resume=True))
    assert second.complete and not (out / CHECKPOINT_FILE).exists()
    assert [(f.offset, f.sha256, f.valid) for f in second.files] == [
        (f.offset, f.sha256, f.valid) for f in reference.files]
    assert sorted(p.name for p in out.iterdir() if p.name[0].isdigit()) == sorted(
        f.name for f in reference.valid)


def _fat_image(tmp_path: Path, fat_bits: str, size_kib: int) -> tuple[Path, dict[str, bytes]]:
    need("mkfs.fat", "mcopy", "mdel")
    rng = random.Random(11)
    files = {"kept.jpg": make_sample("jpg", rng), "also.jpg": make_sample("jpg", rng),
             "gone.jpg": make_sample("jpg", rng), "kept.png": make_sample("png", rng),
             "gone.pdf": make_sample("pdf", rng)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    image = tmp_path / f"fat{fat_bits}.img"
    subprocess.run(["mkfs.fat", "-C", "-F", fat_bits, str(image), str(size_kib)], check=True,
                   capture_output=True)
    subprocess.run(["mcopy", "-i", str(image), *(str(tmp_path / n) for n in files), "::/"],
                   check=True)
    subprocess.run(["mdel", "-i", str(image), "::/gone.jpg", "::/gone.pdf"], check=True)
    return image, files


@pytest.mark.parametrize(("fat_bits", "size_kib"), [("12", 2048), ("16", 16384),
                                                    ("32", 40000)])
def test_unallocated_only_finds_the_deleted_files(tmp_path: Path, fat_bits: str,
                                                 size_kib: int) -> None:
    image, files = _fat_image(tmp_path, fat_bits, size_kib)
    report = carve(image, tmp_path / "unalloc", CarveOptions(unallocated=True))
    assert report.space["mode"] == "unallocated" and report.space["bytes"] < image.stat().st_size
    found = sorted((f.type, f.sha256) for f in report.valid)
    assert found == sorted([("jpg", hashlib.sha256(files["gone.jpg"]).hexdigest()),
                            ("pdf", hashlib.sha256(files["gone.pdf"]).hexdigest())])
    whole = image.read_bytes()
    for item in report.valid:  # the offsets are in the image, not in the carved space
        assert whole[item.offset:item.offset + item.length] == files[f"gone.{item.type}"]
    everything = carve(image, tmp_path / "all", CarveOptions())
    assert len(everything.valid) == len(files)


def test_unallocated_needs_a_supported_file_system(tmp_path: Path) -> None:
    need("mke2fs")
    image = tmp_path / "ext4.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", str(image), "4M"], check=True)
    with open_image(image) as opened:
        fs = open_file_system(opened, select_volume(opened, None))
        fs.kind = "hfs"  # one TSK opens but whose free space Dalil does not compute
        with pytest.raises(SpaceError, match=r"supports FAT, NTFS, ext2/3/4 and exFAT, not hfs"):
            free_extents(fs)
    report = carve(image, tmp_path / "whole", CarveOptions(volume=0))
    assert report.space["mode"] == "volume" and report.complete


def test_headers_in_noise_never_end_the_run(tmp_path: Path) -> None:
    """Signatures (and half-plausible structures) sprinkled over random bytes: every
    candidate is rejected and counted, nothing is written, nothing crashes."""
    rng = random.Random(1234)
    blob = bytearray(rng.randbytes(2 * MIB))
    heads = [b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"\xff\xd8\xff\xdb\x00\x43",
             b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", b"GIF89a\x10\x00\x10\x00\x80",
             b"%PDF-1.7\n", b"PK\x03\x04\x14\x00\x08\x00", b"PK\x03\x04\x14\x00\x00\x00\x08",
             b"SQLite format 3\x00\x10\x00\x01\x01\x00\x40\x20\x20"]
    for _ in range(400):
        head = rng.choice(heads)
        at = rng.randrange(len(blob) - 64)
        blob[at:at + len(head)] = head
    blob[-200:-100] = b"%%EOF startxref 12 PK\x05\x06" * 4  # ends with nothing before them
    image = tmp_path / "noise.dd"
    image.write_bytes(bytes(blob))
    report = carve(image, tmp_path / "out", CarveOptions(chunk_size=64 * 1024))
    assert report.complete and report.valid == []
    assert len(report.files) >= 390
    assert all(f.reason for f in report.files)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {AUDIT_FILE, MANIFEST_FILE}


def _mbr(partition_start: int, partition_sectors: int) -> bytes:
    entry = (b"\x00" + b"\xfe\xff\xff" + b"\x06" + b"\xfe\xff\xff"
             + partition_start.to_bytes(4, "little") + partition_sectors.to_bytes(4, "little"))
    return bytes(446) + entry + bytes(48) + b"\x55\xaa"


def test_unallocated_covers_partition_gaps_and_one_volume(tmp_path: Path) -> None:
    fat, files = _fat_image(tmp_path, "16", 16384)
    rng = random.Random(8)
    in_gap, at_end = make_sample("jpg", rng), make_sample("png", rng)
    head = bytearray(MIB)
    head[:512] = _mbr(2048, fat.stat().st_size // 512)
    head[100 * 512:100 * 512 + len(in_gap)] = in_gap
    tail = bytearray(MIB)
    tail[4096:4096 + len(at_end)] = at_end
    disk = tmp_path / "disk.dd"
    disk.write_bytes(bytes(head) + fat.read_bytes() + bytes(tail))
    report = carve(disk, tmp_path / "all", CarveOptions(unallocated=True))
    found = {(f.type, f.offset): f.sha256 for f in report.valid}
    end_offset = MIB + fat.stat().st_size + 4096
    assert found[("jpg", 100 * 512)] == hashlib.sha256(in_gap).hexdigest()
    assert found[("png", end_offset)] == hashlib.sha256(at_end).hexdigest()
    gone = {hashlib.sha256(files[n]).hexdigest() for n in ("gone.jpg", "gone.pdf")}
    assert set(found.values()) == gone | {hashlib.sha256(in_gap).hexdigest(),
                                          hashlib.sha256(at_end).hexdigest()}
    one = carve(disk, tmp_path / "one", CarveOptions(unallocated=True, volume=2))
    assert {f.sha256 for f in one.valid} == gone
    assert all(f.offset >= MIB for f in one.valid)
    with pytest.raises(CarveError, match="no volume 7"):
        carve(disk, tmp_path / "bad", CarveOptions(unallocated=True, volume=7))
