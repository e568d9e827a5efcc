"""On images built here with Debian tools (no ../shared needed): hostile names, deleted
files, truncation, split sets; extraction never escapes its folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.forensics.extract import extract_all, safe_component
from dalil.engine.forensics.filesystem import FileSystemError, open_file_system, select_volume
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.walk import walk

HOSTILE = [b"..", b"...", b"a\nb", b"tab\there", b"bad\xff\xfeutf8", b"caf\xc3\xa9",
           b"cafe\xcc\x81", b"CAF\xc3\x89", b"Case", b"case",
           b"%2E%2E", b"back\\slash", b"colon:x", b"-rf", b"dalil-provenance.jsonl"]


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


@pytest.fixture
def ext4_image(tmp_path: Path) -> tuple[Path, dict[bytes, bytes]]:
    need("mke2fs", "debugfs")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    planted: dict[bytes, bytes] = {}
    for number, name in enumerate(HOSTILE):
        if name in (b"..",):
            continue
        content = f"content {number}\n".encode() * (number + 1)
        (tree / "sub").joinpath(os.fsdecode(name)).write_bytes(content)
        planted[name] = content
    (tree / "gone.txt").write_bytes(b"deleted soon\n" * 100)
    image = tmp_path / "ext4.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-b", "1024", "-d", str(tree), str(image),
                    "4M"], check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    subprocess.run(["debugfs", "-w", "-R", "rm gone.txt", str(image)], check=True,
                   capture_output=True)
    return image, planted


def test_ext4_walk_matches_fls_and_sees_deleted(ext4_image) -> None:
    image_path, _ = ext4_image
    with open_image(image_path) as image:
        fs = open_file_system(image, select_volume(image, None))
        entries = list(walk(fs))
        assert [fls_form(e) for e in entries] == fls("-r", "-p", str(image_path))
    assert fs.kind == "ext4"
    gone = [e for e in entries if e.path == "gone.txt"]
    assert gone and gone[0].deleted
    assert any(e.path == "sub/a^b" for e in entries)  # control bytes shown as fls does


def test_ext4_extraction_is_safe_and_exact(ext4_image, tmp_path: Path) -> None:
    image_path, planted = ext4_image
    out = tmp_path / "out"
    with open_image(image_path) as image:
        fs = open_file_system(image, select_volume(image, None))
        records = list(extract_all(fs, out, include_deleted=True))
    root = out.resolve()
    for path in out.rglob("*"):
        assert root in path.resolve().parents
        assert not path.is_symlink()
    by_digest = {r.sha256: r for r in records if r.complete}
    for name, content in planted.items():
        record = by_digest[hashlib.sha256(content).hexdigest()]
        assert (out / record.output).read_bytes() == content
    outputs = [r.output for r in records if r.output]
    assert len(outputs) == len(set(outputs))
    keys = [o.casefold() for o in outputs]
    assert len(keys) == len(set(keys))  # case and normalisation collisions got suffixes
    assert (out / "dalil-provenance.jsonl").is_file()
    assert not (tmp_path / "sub").exists()


def test_fat_deleted_file_is_listed_and_recovered(tmp_path: Path) -> None:
    need("mkfs.vfat", "mcopy", "mdel")
    image = tmp_path / "fat.img"
    subprocess.run(["mkfs.vfat", "-C", "-n", "DALIL", str(image), "2048"], check=True,
                   capture_output=True)
    keep, lost = tmp_path / "Keep Me.txt", tmp_path / "lost.bin"
    keep.write_bytes(b"kept\n" * 50)
    lost.write_bytes(bytes(range(256)) * 8)
    for source in (keep, lost):
        subprocess.run(["mcopy", "-i", str(image), str(source), "::"], check=True)
    subprocess.run(["mdel", "-i", str(image), "::lost.bin"], check=True)
    with open_image(image) as opened:
        fs = open_file_system(opened, select_volume(opened, None))
        entries = list(walk(fs))
        assert [fls_form(e) for e in entries] == fls("-r", "-p", str(image))
        records = list(extract_all(fs, tmp_path / "out", include_deleted=True))
    deleted = [r for r in records if r.deleted]
    assert deleted and deleted[0].sha256 == hashlib.sha256(lost.read_bytes()).hexdigest()
    assert any(r.sha256 == hashlib.sha256(keep.read_bytes()).hexdigest() for r in records)


def test_truncated_image_gives_a_clear_error(ext4_image, tmp_path: Path) -> None:
    image_path, _ = ext4_image
    cut = tmp_path / "cut.img"
    cut.write_bytes(image_path.read_bytes()[:1024])  # boot block only, no superblock
    with open_image(cut) as image, pytest.raises(FileSystemError) as caught:
        open_file_system(image, select_volume(image, None))
    assert str(cut) in str(caught.value) and "offset 0" in str(caught.value)


def test_truncated_in_half_walk_reports_and_goes_on(ext4_image, tmp_path: Path) -> None:
    image_path, _ = ext4_image
    cut = tmp_path / "half.img"
    data = image_path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    problems = []
    with open_image(cut) as image:
        try:
            fs = open_file_system(image, select_volume(image, None))
        except FileSystemError as exc:
            assert str(cut) in str(exc)
            return
        entries = list(walk(fs, on_problem=problems.append))
    assert entries or problems


def test_split_raw_sets(ext4_image, tmp_path: Path) -> None:
    image_path, _ = ext4_image
    data = image_path.read_bytes()
    third = len(data) // 3 + 1
    for names in (["x.aa", "x.ab", "x.ac"], ["y.000", "y.001", "y.002"],
                  ["z.001", "z.002", "z.003"]):
        for index, name in enumerate(names):
            (tmp_path / name).write_bytes(data[index * third:(index + 1) * third])
        with open_image(tmp_path / names[0]) as image:
            assert image.info.container == "split-raw"
            assert len(image.info.segments) == 3 and image.size == len(data)
            assert image.read(third - 5, 10) == data[third - 5:third + 5]
            fs = open_file_system(image, select_volume(image, None))
            assert any(e.path == "gone.txt" for e in walk(fs))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=120).map(lambda t: t.encode("utf-8")))
def test_safe_component_never_escapes(raw: bytes) -> None:
    name = safe_component(raw)
    assert "/" not in name and "\0" not in name and "\\" not in name
    assert name not in ("", ".", "..")
    assert len(name.encode("utf-8")) <= 255
    assert all(ord(c) >= 0x20 for c in name)
    root = Path("/srv/out")
    assert (root / name).resolve().parent == root
