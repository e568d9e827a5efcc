"""APFS through libfsapfs: a container made by mkapfs (apfsprogs) with files planted by
the scenario generator, read back against its answer key (walk, times, content, inode
look-up, block map, volume choice); truncated and corrupt containers fail with the image,
the volume and the offset named, and fuzzed header bytes never crash the engine."""

from __future__ import annotations

import hashlib
import shutil
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dalil.engine.forensics import apfs
from dalil.engine.forensics.apfs import ApfsVolumeInfo, EncryptedApfsVolumeError, fletcher64
from dalil.engine.forensics.blockmap import file_extents
from dalil.engine.forensics.encryption import Keys
from dalil.engine.forensics.extract import ExtractError, find_by_inode, find_by_path, read_content
from dalil.engine.forensics.filesystem import (
    FileSystem,
    FileSystemError,
    open_file_system,
    select_file_system,
    select_volume,
)
from dalil.engine.forensics.image import Image, open_image
from dalil.engine.forensics.walk import Entry, WalkProblem, walk
from dalil.engine.scenarios.apfs import BLOCK, ApfsAnswerKey, ApfsScenarioError, build_apfs_image

pytest.importorskip("pyfsapfs", reason="needs libfsapfs-python (pip install libfsapfs-python)")
if shutil.which("mkapfs") is None:
    pytest.skip("needs mkapfs (Debian apfsprogs)", allow_module_level=True)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ApfsAnswerKey:
    return build_apfs_image(tmp_path_factory.mktemp("apfs") / "apfs.img")


@pytest.fixture
def opened(built: ApfsAnswerKey) -> Iterator[tuple[Image, FileSystem]]:
    with open_image(built.image) as image:
        yield image, open_file_system(image, select_volume(image, None))


def _utc(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


def _copy(source: str, target: Path, size: int | None = None) -> Path:
    """A copy of the image, cut to ``size`` bytes, sparse as the original."""
    data = Path(source).read_bytes()[:size]
    with target.open("wb") as handle:
        for at in range(0, len(data), BLOCK):
            chunk = data[at:at + BLOCK]
            if chunk.count(0) != len(chunk):
                handle.seek(at)
                handle.write(chunk)
        handle.truncate(len(data))
    return target


def test_open_names_the_container_and_its_volume(built: ApfsAnswerKey,
                                                 opened: tuple[Image, FileSystem]) -> None:
    image, fs = opened
    assert (fs.kind, fs.root_inode, fs.block_size, fs.size) == ("apfs", 2, 4096, built.size)
    assert fs.tsk.info == ApfsVolumeInfo(0, built.label, built.volume_uuid, False)
    info = apfs.container_info(image, fs.volume)
    assert info.to_dict() == {
        "offset": 0, "block_size": 4096, "size": built.size,
        "identifier": built.container_uuid,
        "volumes": [{"index": 0, "name": built.label, "identifier": built.volume_uuid,
                     "encrypted": False}]}
    assert fs.last_inode >= max(answer.inode for answer in built.entries)


def test_walk_lists_every_planted_name_with_its_times(
        built: ApfsAnswerKey, opened: tuple[Image, FileSystem]) -> None:
    _, fs = opened
    problems: list[WalkProblem] = []
    entries = {entry.path: entry for entry in walk(fs, on_problem=problems.append)}
    assert not problems
    assert sorted(entries) == sorted(answer.path for answer in built.entries)
    for answer in built.entries:
        entry = entries[answer.path]
        assert (entry.inode, entry.type, entry.size, entry.deleted) == (
            answer.inode, answer.type, answer.size, False), answer.path
        # Apple's create_time is the creation time, though libfsapfs names it otherwise.
        assert (entry.crtime, entry.mtime, entry.ctime, entry.atime) == (
            _utc(answer.crtime), _utc(answer.mtime), _utc(answer.ctime),
            _utc(answer.atime)), answer.path
        assert entry.epoch_times == (answer.atime // 10**9, answer.mtime // 10**9,
                                     answer.ctime // 10**9, answer.crtime // 10**9)
        assert (entry.uid, entry.gid) == (501, 20)
    top = [entry.path for entry in walk(fs, recursive=False)]
    assert sorted(top) == sorted(a.path for a in built.entries if "/" not in a.path)


def test_content_by_path_and_by_inode(built: ApfsAnswerKey,
                                      opened: tuple[Image, FileSystem]) -> None:
    _, fs = opened
    for answer in built.entries:
        if answer.type != "file":
            continue
        for entry in (find_by_path(fs, f"/{answer.path}"), find_by_inode(fs, answer.inode)):
            content = b"".join(read_content(fs, entry))
            assert hashlib.sha256(content).hexdigest() == answer.sha256, answer.path
    private = find_by_inode(fs, 3)  # private-dir: no name under the root reaches it
    assert (private.path, private.type, private.name_allocated) == ("$inode-3", "directory",
                                                                   False)
    with pytest.raises(ExtractError, match=r"apfs\.img, whole media \(offset 0\): no inode "
                                           r"9999: libfsapfs: .*9999"):
        find_by_inode(fs, 9999)
    with pytest.raises(ExtractError, match=r"no such path: Documents/missing\.txt"):
        find_by_path(fs, "Documents/missing.txt")


def test_block_map_points_at_the_content(built: ApfsAnswerKey,
                                         opened: tuple[Image, FileSystem]) -> None:
    image, fs = opened
    problems: list[str] = []
    extents = list(file_extents(fs, problems))
    assert not problems
    for answer in built.entries:
        if answer.type != "file" or not answer.size:
            assert not [e for e in extents if e.inode == answer.inode]
            continue
        [data] = [e for e in extents if e.inode == answer.inode and not e.slack]
        [slack] = [e for e in extents if e.inode == answer.inode and e.slack]
        assert (data.file_offset, data.end - data.start, data.fs_type) == (0, answer.size,
                                                                           "apfs")
        assert hashlib.sha256(image.read(data.start, answer.size)).hexdigest() == \
            answer.sha256
        assert (slack.start, slack.end % BLOCK) == (data.end, 0)


def test_logical_chooses_a_volume_by_name_or_index(built: ApfsAnswerKey) -> None:
    with open_image(built.image) as image:
        for choice in (built.label, "0", 0, None):
            assert select_file_system(image, None, choice).tsk.info.name == built.label
        with pytest.raises(FileSystemError, match=r"APFS container at offset 0: no volume "
                                                  r"'Data' \(volumes: 0 'Evidence Vol'\)"):
            select_file_system(image, None, "Data")


def test_an_empty_mkapfs_volume_opens_with_nothing_in_it(tmp_path: Path) -> None:
    key = build_apfs_image(tmp_path / "empty.img", plants=(), label="Blank")
    with open_image(key.image) as image:
        fs = open_file_system(image, select_volume(image, None))
        assert (fs.kind, fs.tsk.info.name, list(walk(fs))) == ("apfs", "Blank", [])
    with pytest.raises(ApfsScenarioError, match="already exists"):
        build_apfs_image(key.image)


def test_an_encrypted_volume_is_reported_as_such(built: ApfsAnswerKey,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # mkapfs makes no encrypted volume and libfsapfs only locks one with a real keybag:
    # the container reports the volume locked here, and libfsapfs refuses the password.
    listed = apfs._Container.volumes

    class Refusing:
        def __init__(self, handle: object) -> None:
            self.handle = handle

        def __getattr__(self, name: str) -> object:
            return getattr(self.handle, name)

        def unlock(self) -> bool:
            return False

    def locked(self: apfs._Container) -> list[tuple[ApfsVolumeInfo, object]]:
        return [(ApfsVolumeInfo(i.index, i.name, i.identifier, True), Refusing(handle))
                for i, handle in listed(self)]

    monkeypatch.setattr(apfs._Container, "volumes", locked)
    with open_image(built.image) as image:
        with pytest.raises(EncryptedApfsVolumeError,
                           match=r"apfs\.img, whole media \(offset 0\): APFS container at "
                                 r"offset 0: APFS volume 0 'Evidence Vol' is encrypted: give "
                                 "its --password or --recovery-password"):
            open_file_system(image, select_volume(image, None))
        with pytest.raises(EncryptedApfsVolumeError, match="is encrypted: the password or "
                                                           "recovery password does not"):
            select_file_system(image, None, None, keys=Keys(password="wrong"))
        assert apfs.container_info(image, select_volume(image, None)).volumes[0].encrypted


def test_a_truncated_container_names_image_volume_and_offset(built: ApfsAnswerKey,
                                                             tmp_path: Path) -> None:
    for size, needed in ((900, 984), (2000, 4096)):  # its fields, then its whole block
        short = _copy(built.image, tmp_path / f"short{size}.img", size)
        with open_image(short) as image, pytest.raises(
                FileSystemError, match=rf"short{size}\.img, whole media \(offset 0\): APFS "
                                       rf"container superblock at offset 0: only {size} of "
                                       rf"its {needed} bytes .* truncated image"):
            open_file_system(image, select_volume(image, None))
    half = _copy(built.image, tmp_path / "half.img", 64 * 1024 * 1024)
    with open_image(half) as image, pytest.raises(
            FileSystemError, match=r"half\.img, whole media \(offset 0\): APFS container at "
                                   r"offset 0 cannot be read: read past the end of the image "
                                   r"at offset \d+ \(the image is 67108864 bytes; the container "
                                   r"spans 134217728 bytes from offset 0\): truncated image"):
        open_file_system(image, select_volume(image, None))  # mkapfs's metadata is at 78 MiB
    cut = _copy(built.image, tmp_path / "cut.img", 100 * 1024 * 1024)
    with open_image(cut) as image:
        # The metadata is there, the planted content (at the container's end) is not.
        fs = open_file_system(image, select_volume(image, None))
        entry = find_by_path(fs, "ransom_note.txt")
        with pytest.raises(ExtractError, match=r"cut\.img, whole media \(offset 0\): "
                                               r"ransom_note\.txt \(inode 16\): read error at "
                                               r"file offset 0: read past the end of the image"
                                               r".*container spans 134217728 bytes from "
                                               r"offset 0\): truncated image"):
            b"".join(read_content(fs, entry))


def _patched(source: str, target: Path, at: int, value: bytes, checksum: bool) -> Path:
    data = bytearray(Path(source).read_bytes()[:BLOCK])
    data[at:at + len(value)] = value
    if checksum:
        struct.pack_into("<Q", data, 0, fletcher64(bytes(data)))
    copy = _copy(source, target)
    with copy.open("r+b") as handle:
        handle.write(data)
    return copy


@pytest.mark.parametrize(("at", "value", "checksum", "message"), [
    (36, struct.pack("<I", 1000), True, "block size 1000 is not a power of two"),
    (40, bytes(8), True, "the container has 0 blocks"),
    (180, struct.pack("<I", 0), True, r"room for 0 volumes \(1 to 100 exist\)"),
    (200, b"\x01", False, r"checksum 0x[0-9a-f]{16} stored, 0x[0-9a-f]{16} computed"),
])
def test_a_corrupt_container_superblock_is_named(built: ApfsAnswerKey, tmp_path: Path,
                                                 at: int, value: bytes, checksum: bool,
                                                 message: str) -> None:
    bad = _patched(built.image, tmp_path / "bad.img", at, value, checksum)
    with open_image(bad) as image, pytest.raises(
            FileSystemError, match=r"bad\.img, whole media \(offset 0\): APFS container "
                                   rf"superblock at offset 0: corrupt: {message}"):
        open_file_system(image, select_volume(image, None))


@pytest.fixture(scope="module")
def fuzz_copy(built: ApfsAnswerKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(built.image, tmp_path_factory.mktemp("apfs-fuzz") / "fuzz.img")


def _metadata_blocks(path: Path) -> list[int]:
    """The container superblock, the volume superblock and the file-system tree root."""
    data = path.read_bytes()
    found = [0]
    for block in range(1, len(data) // BLOCK):
        kind = struct.unpack_from("<HHI", data, block * BLOCK + 24)
        if kind in ((0x000D, 0, 0), (0x0002, 0, 0x0E)):
            found.append(block)
    return found


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 2), at=st.integers(0, BLOCK - 8),
       value=st.binary(min_size=1, max_size=8), checksum=st.booleans())
def test_fuzzed_metadata_bytes_fail_only_as_file_system_errors(
        fuzz_copy: Path, which: int, at: int, value: bytes, checksum: bool) -> None:
    block = _metadata_blocks(fuzz_copy)[which] * BLOCK
    with fuzz_copy.open("r+b") as handle:
        handle.seek(block)
        original = handle.read(BLOCK)
        data = bytearray(original)
        data[at:at + len(value)] = value
        if checksum:
            struct.pack_into("<Q", data, 0, fletcher64(bytes(data)))
        handle.seek(block)
        handle.write(data)
    try:
        with open_image(fuzz_copy) as image:
            _read_everything(image)
    finally:
        with fuzz_copy.open("r+b") as handle:
            handle.seek(block)
            handle.write(original)


def _read_everything(image: Image) -> None:
    try:
        fs = open_file_system(image, select_volume(image, None))
    except FileSystemError as exc:
        assert "offset 0" in str(exc)
        return
    problems: list[WalkProblem] = []
    entries: list[Entry] = list(walk(fs, on_problem=problems.append))
    assert all(problem.message.startswith(fs.where()) for problem in problems)
    for entry in entries:
        if entry.type == "file":
            try:
                b"".join(read_content(fs, entry))
            except ExtractError as exc:
                assert fs.where() in str(exc)
