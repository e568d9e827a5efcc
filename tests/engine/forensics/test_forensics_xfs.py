"""XFS through libfsxfs: a generated image (xfsprogs) read back against its answer key by
the engine (walk, content, times, block map) and by `dalil fs`, `dalil timeline` and
`dalil image info`; bad superblocks and truncated images fail with the place named."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dalil.cli.forensics  # noqa: F401 - registers `image`, `fs` and `timeline`
from dalil.cli.root import app
from dalil.engine.forensics.blockmap import map_image
from dalil.engine.forensics.extract import ExtractError, find_by_inode, find_by_path, read_content
from dalil.engine.forensics.filehash import TskFileStream, hash_files
from dalil.engine.forensics.filesystem import (
    FileSystem,
    FileSystemError,
    open_file_system,
    select_volume,
)
from dalil.engine.forensics.image import Image, open_image
from dalil.engine.forensics.walk import Walk, walk
from dalil.engine.scenarios.xfs import XfsAnswerKey, XfsPlant, build_xfs_image

pytest.importorskip("pyfsxfs", reason="needs libfsxfs-python (pip install libfsxfs-python)")
if shutil.which("mkfs.xfs") is None or shutil.which("xfs_db") is None:
    pytest.skip("needs mkfs.xfs and xfs_db (Debian xfsprogs)", allow_module_level=True)

runner = CliRunner()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> XfsAnswerKey:
    return build_xfs_image(tmp_path_factory.mktemp("xfs") / "xfs.img")


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> XfsAnswerKey:
    if shutil.which("sfdisk") is None:
        pytest.skip("needs sfdisk (Debian fdisk)")
    return build_xfs_image(tmp_path_factory.mktemp("xfs-mbr") / "disk.img", partitioned=True)


def _open(key: XfsAnswerKey) -> tuple[Image, FileSystem]:
    image = open_image(key.image)
    return image, open_file_system(image, select_volume(image, None))


def _utc(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


def _invoke(*args: str) -> object:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_generation_is_reproducible_and_xfs_repair_accepts_it(built: XfsAnswerKey,
                                                              tmp_path: Path) -> None:
    again = build_xfs_image(tmp_path / "again.img")
    other = build_xfs_image(tmp_path / "other.img", seed=1)
    digest = [hashlib.sha256(Path(k.image).read_bytes()).hexdigest()
              for k in (built, again, other)]
    assert digest[0] == digest[1] != digest[2]
    assert again.to_dict() | {"image": ""} == built.to_dict() | {"image": ""}
    with pytest.raises(ValueError, match="already exists"):
        build_xfs_image(again.image)
    with pytest.raises(ValueError, match="whitespace"):
        build_xfs_image(tmp_path / "bad.img", [XfsPlant("a b.txt", b"x")])
    assert not (tmp_path / "bad.img").exists()
    if shutil.which("xfs_repair"):
        check = subprocess.run(["xfs_repair", "-n", "-f", built.image], capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr


def test_walk_lists_every_planted_item_with_its_type_size_and_owner(built: XfsAnswerKey
                                                                    ) -> None:
    image, fs = _open(built)
    with image:
        assert (fs.kind, fs.offset, fs.block_size, fs.size) == ("xfs", 0, 4096, built.fs_size)
        walker = Walk(fs)
        entries = {e.path: e for e in walker}
    assert walker.problems == []
    assert set(entries) == {item.path for item in built.items}
    for item in built.items:
        entry = entries[item.path]
        assert (entry.type, entry.mode, entry.uid, entry.gid, entry.link) == (
            item.type, item.mode, item.uid, item.gid, item.link), item.path
        assert entry.name == item.path.rsplit("/", 1)[-1]
        assert entry.parent == item.path.rpartition("/")[0] + ("/" if "/" in item.path else "")
        assert not entry.deleted and entry.name_allocated and entry.meta_allocated
        if item.size is not None:
            assert entry.size == item.size, item.path
        else:
            assert entry.size > 0 and entry.is_dir  # XFS's own directory size
    assert entries["usr/local/bin/sync-tool"].mode & 0o4000
    assert entries["var/log/app"].size >= 4096  # 150 names: a block directory


def test_times_are_the_planted_ones_in_utc(built: XfsAnswerKey) -> None:
    image, fs = _open(built)
    with image:
        entries = {e.path: e for e in walk(fs)}
    for item in built.items:
        entry = entries[item.path]
        for name in ("atime", "mtime", "ctime", "crtime"):
            value = getattr(entry, name)
            assert value is not None and value.tzinfo == UTC
            assert value == _utc(getattr(item, f"{name}_ns")), (item.path, name)
        assert entry.epoch_times == tuple(getattr(item, f"{n}_ns") // 10**9
                                          for n in ("atime", "mtime", "ctime", "crtime"))
    note = entries["home/aigerim/Documents/contract_draft.txt"]
    assert datetime(2024, 3, 1, tzinfo=UTC) < note.crtime < note.mtime < note.atime < \
        datetime(2024, 4, 1, tzinfo=UTC)
    assert note.mtime is not None and note.mtime.microsecond  # sub-second part kept


def test_content_hashes_match_the_key(built: XfsAnswerKey) -> None:
    image, fs = _open(built)
    with image:
        hashed = {r.entry.path: r for r in hash_files(fs, algorithms=("sha256",))}
        for item in built.files:
            entry = find_by_path(fs, "/" + item.path)
            data = b"".join(read_content(fs, entry))
            assert hashlib.sha256(data).hexdigest() == item.sha256, item.path
            assert hashed[item.path].complete
            assert hashed[item.path].hashes["sha256"] == item.sha256
        archive = find_by_path(fs, "srv/backup/archive.bin")
        whole = b"".join(read_content(fs, archive))
        with TskFileStream(fs, archive) as stream:
            stream.seek(1_000_000)
            assert stream.read(70_000) == whole[1_000_000:1_070_000]
        assert find_by_inode(fs, archive.inode).path == "srv/backup/archive.bin"
        root = find_by_inode(fs, fs.root_inode)
        assert (root.path, root.type) == (f"$inode-{fs.root_inode}", "directory")
        with pytest.raises(ExtractError, match=f"{built.image}.*no inode 999999"):
            find_by_inode(fs, 999_999)
        with pytest.raises(ExtractError, match="no such path"):
            find_by_path(fs, "home/nobody")


def test_block_map_finds_the_file_that_holds_a_byte(built: XfsAnswerKey) -> None:
    raw = Path(built.image).read_bytes()
    needle = b"Supply contract, draft 3"
    at = raw.index(needle)
    with open_image(built.image) as image:
        found = map_image(image).locate(at + 7)
    assert found is not None
    extent, file_offset = found
    assert (extent.path, extent.fs_type, file_offset) == (
        "home/aigerim/Documents/contract_draft.txt", "xfs", 7)


def test_cli_lists_reads_extracts_and_times_an_xfs_image(built: XfsAnswerKey,
                                                          tmp_path: Path) -> None:
    info = json.loads(_invoke("image", "info", built.image, "--json").stdout)
    assert [v["file_system"]["type"] for v in info["volumes"]] == ["xfs"]
    rows = json.loads(_invoke("fs", "ls", built.image, "-r", "--json").stdout)
    assert {(r["path"], r["type"]) for r in rows} == {(i.path, i.type) for i in built.items}
    assert all(not r["deleted"] and r["mtime"].endswith("Z") for r in rows)
    assert json.loads(_invoke("fs", "ls", built.image, "-r", "--deleted", "--json").stdout) == []
    item = built.item("home/aigerim/Documents/Отчёт_2024.txt")
    by_path = _invoke("fs", "cat", built.image, "--path", "/" + item.path)
    assert hashlib.sha256(by_path.stdout_bytes).hexdigest() == item.sha256
    inode = next(r["inode"] for r in rows if r["path"] == "srv/backup/archive.bin")
    by_inode = _invoke("fs", "cat", built.image, "--inode", str(inode))
    assert hashlib.sha256(by_inode.stdout_bytes).hexdigest() == \
        built.item("srv/backup/archive.bin").sha256
    records = json.loads(_invoke("fs", "extract", built.image, str(tmp_path / "out"),
                                 "--json").stdout)
    assert {r["path"]: r["sha256"] for r in records} == {i.path: i.sha256 for i in built.files}
    for record in records:
        assert record["complete"] and (tmp_path / "out" / record["output"]).is_file()
    body = tmp_path / "body.txt"
    _invoke("timeline", built.image, "-o", str(body))
    lines = body.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(built.items)
    draft = built.item("home/aigerim/Documents/contract_draft.txt")
    inode = next(r["inode"] for r in rows if r["path"] == draft.path)
    times = "|".join(str(getattr(draft, f"{n}_ns") // 10**9)
                     for n in ("atime", "mtime", "ctime", "crtime"))
    assert f"0|/{draft.path}|{inode}|r/rrw-r--r--|1000|1000|{draft.size}|{times}" in lines
    assert any(line.startswith("0|/home/aigerim/latest -> Documents/contract_draft.txt|")
               for line in lines)


def test_xfs_in_an_mbr_partition(disk: XfsAnswerKey, tmp_path: Path) -> None:
    info = json.loads(_invoke("image", "info", disk.image, "--json").stdout)
    [volume] = [v for v in info["volumes"] if v.get("file_system")]
    assert (volume["offset"], volume["file_system"]["type"]) == (disk.fs_offset, "xfs")
    rows = json.loads(_invoke("fs", "ls", disk.image, "-r", "--json").stdout)
    assert {r["path"] for r in rows} == {i.path for i in disk.items}
    records = json.loads(_invoke("fs", "extract", disk.image, str(tmp_path / "out"),
                                 "--volume", str(volume["index"]), "--json").stdout)
    assert {r["path"]: r["sha256"] for r in records} == {i.path: i.sha256 for i in disk.files}
    assert {r["volume_offset"] for r in records} == {disk.fs_offset}
    with open_image(disk.image) as image:
        located = map_image(image).locate(Path(disk.image).read_bytes().index(b"Supply contract"))
    assert located is not None and located[0].path.endswith("contract_draft.txt")


def test_corrupt_superblock_is_named_with_its_offset(built: XfsAnswerKey,
                                                      tmp_path: Path) -> None:
    data = bytearray(Path(built.image).read_bytes())
    struct.pack_into(">I", data, 4, 3000)  # sb_blocksize
    bad = tmp_path / "bad-sb.img"
    bad.write_bytes(bytes(data))
    with open_image(bad) as image, pytest.raises(FileSystemError) as caught:
        open_file_system(image, select_volume(image, None))
    assert str(bad) in str(caught.value)
    assert "XFS superblock at offset 0: corrupt: block size 3000" in str(caught.value)
    struct.pack_into(">I", data, 4, 4096)
    struct.pack_into(">Q", data, 56, 1 << 40)  # sb_rootino, far outside the geometry
    bad.write_bytes(bytes(data))
    result = runner.invoke(app, ["fs", "ls", str(bad)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{bad}, whole media (offset 0): XFS superblock at offset 0: corrupt: root " \
           f"inode {1 << 40}" in result.stderr


def test_truncated_images_fail_or_report_with_the_place(built: XfsAnswerKey,
                                                        disk: XfsAnswerKey,
                                                        tmp_path: Path) -> None:
    whole = Path(built.image).read_bytes()
    cut = tmp_path / "cut.img"
    cut.write_bytes(whole[:65536])
    with open_image(cut) as image, pytest.raises(FileSystemError) as caught:
        open_file_system(image, select_volume(image, None))
    message = str(caught.value)
    assert f"{cut}, whole media (offset 0): XFS file system at offset 0 cannot be read" \
        in message and "truncated image?" in message
    cut_disk = tmp_path / "cut-disk.img"
    cut_disk.write_bytes(Path(disk.image).read_bytes()[:disk.fs_offset + 1024])
    result = runner.invoke(app, ["fs", "ls", str(cut_disk)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"volume 2 at offset {disk.fs_offset}" in result.stderr
    assert "truncated" in result.stderr
    # Cut inside the second allocation group: the superblocks are there, the inodes of the
    # top directories are not. The listing goes on and says where it stopped.
    half = tmp_path / "half.img"
    half.write_bytes(whole[:built.fs_size // 2 + 1024 * 1024])
    result = runner.invoke(app, ["fs", "ls", "-r", str(half)])
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert f"{half}, whole media (offset 0): directory / (inode" in result.stderr
    assert "read past the end of the image" in result.stderr


def test_a_name_libfsxfs_cannot_decode_is_listed_by_its_inode(built: XfsAnswerKey,
                                                              tmp_path: Path) -> None:
    data = bytearray(Path(built.image).read_bytes())
    assert data.count(b"empty.txt") == 1  # in home/aigerim's short-form directory
    data[data.index(b"empty.txt")] = 0xFF  # not UTF-8 any more
    bad = tmp_path / "bad-name.img"
    bad.write_bytes(bytes(data))
    image, fs = _open(XfsAnswerKey(str(bad), 0, built.fs_size, "none", "", "", ""))
    with image:
        walker = Walk(fs)
        names = {e.path: e for e in walker if e.parent == "home/aigerim/"}
    assert walker.problems == []
    [odd] = [e for p, e in names.items() if p.startswith("home/aigerim/$unreadable-name-")]
    assert odd.path == f"home/aigerim/$unreadable-name-{odd.inode}" and odd.size == 0
    assert "home/aigerim/.bash_history" in names
