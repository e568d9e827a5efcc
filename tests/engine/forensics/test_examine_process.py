"""The ingest's examining process (:mod:`dalil.engine.forensics.examine`) on images the
project generates: rows in walk order and in batches, digests equal to the answer key and
to the content ``dalil fs cat`` reads, the checks of a resumed run, damaged and truncated
input, and a child process that is stopped early, killed or cannot start its work."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.forensics.examine import (
    HASHED_HERE,
    ROW_FIELDS,
    ExamineError,
    Message,
    Opened,
    Problem,
    Progress,
    Rows,
    Skipped,
    Unit,
    Unreadable,
    examine,
    examine_in_process,
)
from dalil.engine.forensics.extract import read_content
from dalil.engine.forensics.filehash import is_regular_file
from dalil.engine.forensics.filesystem import open_file_system, select_volume
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.volume import Volume
from dalil.engine.forensics.walk import Entry, walk
from dalil.engine.scenarios.disk import DiskKey, build_disk
from dalil.engine.scenarios.fat32 import Fat32File, Fat32Layout, build_fat32

FILESYSTEMS = ["ext4", "fat32"]
MIB = 1024 * 1024
LOCAL = datetime(2024, 3, 12, 10, 0)  # FAT stores naive local times
STOP = 30  # seconds: only reached when the child or the caller hangs (a failure)

Disks = dict[str, tuple[Path, DiskKey]]


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")


@pytest.fixture(scope="module")
def disks(tmp_path_factory: pytest.TempPathFactory) -> Disks:
    """The generated suspect disk on each file system; ext4 only where e2fsprogs is."""
    root = tmp_path_factory.mktemp("examine-disks")
    built = {}
    for fs in FILESYSTEMS:
        if fs == "ext4" and not (shutil.which("mke2fs") and shutil.which("debugfs")):
            continue
        path = root / f"{fs}.img"
        built[fs] = (path, build_disk(path, seed=5, filesystem=fs, size_mib=36,
                                      hash_image=False))
    return built


def disk(disks: Disks, fs: str) -> tuple[Path, DiskKey]:
    if fs not in disks:
        need("mke2fs", "debugfs")
    return disks[fs]


def fat_image(path: Path, files: list[Fat32File]) -> Fat32Layout:
    return build_fat32(path, files, size=36 * MIB, volume_id=0x5EED, label="EXAMINE",
                       formatted=LOCAL)


def fat_file(path: str, data: bytes, deleted: bool = False) -> Fat32File:
    return Fat32File(path, data, LOCAL, LOCAL, LOCAL, deleted)


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FAT32 image whose rows, one per batch, are far more than a pipe holds (64 KiB):
    after the first messages the child is certainly still at work, blocked or walking."""
    path = tmp_path_factory.mktemp("examine-many") / "many.img"
    fat_image(path, [fat_file(f"d{n % 3}/note-{n:04}.txt", f"note {n}\n".encode())
                     for n in range(1200)])
    return path


def unit_of(path: Path, **options: Any) -> Unit:
    with open_image(path) as image:
        volume = select_volume(image, None)
    return Unit(str(path), volume, **options)


def messages(unit: Unit, run: Callable[[Unit], Iterator[Message]] = examine_in_process,
             ) -> list[Message]:
    """Every message but Progress (whose number depends on the clock)."""
    return [m for m in run(unit) if not isinstance(m, Progress)]


def rows_of(found: list[Message]) -> list[dict[str, Any]]:
    return [row for m in found if isinstance(m, Rows) for row in m.rows]


def walked(path: Path) -> list[tuple[Entry, bytes | None]]:
    """The walk of ``path`` in this process, each regular file with the bytes ``dalil fs
    cat`` writes for it (read_content); None for other entries."""
    with open_image(path) as image:
        fs = open_file_system(image, select_volume(image, None))
        return [(e, b"".join(read_content(fs, e)) if is_regular_file(e) else None)
                for e in walk(fs)]


def examiners() -> set[multiprocessing.process.BaseProcess]:
    return set(multiprocessing.active_children())


def within(seconds: float, action: Callable[[], Any]) -> Any:
    """``action()`` in a daemon thread: its result or exception, or a failure if it hangs."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = action()
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# --- rows, batches and digests -------------------------------------------------------------

@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_rows_follow_the_walk_in_batches_of_the_size_asked(disks: Disks, fs: str) -> None:
    path, _ = disk(disks, fs)
    entries = [entry for entry, _ in walked(path)]
    count = len(entries)
    for batch_size in (1, 7, count, count + 1, 5000):
        found = list(examine_in_process(unit_of(path, batch_size=batch_size)))
        assert found[0] == Opened(fs)
        batches = [m for m in found if isinstance(m, Rows)]
        full, last = divmod(count, batch_size)
        assert [len(b.rows) for b in batches] == [batch_size] * full + [last], batch_size
        assert [b.full for b in batches] == [True] * full + [False]
        assert isinstance(found[-1], Rows)  # the last batch ends the examination
        rows = rows_of(found)
        assert [r["seq"] for r in rows] == list(range(count))
        assert [(r["inode"], r["path"]) for r in rows] == [(e.inode, e.path) for e in entries]
        assert all(tuple(r) == ROW_FIELDS for r in rows)


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_digests_equal_the_answer_key_and_the_content_read(disks: Disks, fs: str) -> None:
    path, key = disk(disks, fs)
    rows = rows_of(messages(unit_of(path, batch_size=4)))
    by_path = {r["path"]: r for r in rows}
    planted = [item for item in key.items if item["path"] is not None]
    assert sum(item["deleted"] for item in planted) >= 3
    for item in planted:
        row = by_path[item["path"]]
        assert (row["inode"], row["deleted"], row["size"]) == (
            item["inode"], item["deleted"], item["size"]), item["path"]
        assert (row["md5"], row["sha256"]) == (item["md5"], item["sha256"]), item["path"]
        assert row["sha1"] is None  # not asked
        assert row["error"] == "" and row["bytes_read"] == item["size"]
    hashed = 0
    for row, (entry, content) in zip(rows, walked(path), strict=True):
        if content is None:
            assert row["md5"] is None and row["sha256"] is None, row["path"]
            continue
        assert row["md5"] == hashlib.md5(content).hexdigest(), row["path"]
        assert row["sha256"] == hashlib.sha256(content).hexdigest(), row["path"]
        assert row["deleted"] == entry.deleted
        hashed += 1
    assert hashed >= len(planted)


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_the_child_gives_what_examine_gives_in_this_process(disks: Disks, fs: str) -> None:
    path, _ = disk(disks, fs)
    unit = unit_of(path, batch_size=5, algorithms=("md5", "sha1", "sha256"))
    child = messages(unit)
    assert child == messages(unit, examine)
    rows = rows_of(child)
    assert any(r["file_type"] for r in rows) and any(r["mime"] for r in rows)
    assert all(r["sha1"] for r in rows if r["md5"])


@settings(max_examples=8, deadline=None)
@given(sizes=st.lists(st.one_of(st.integers(0, 5000),
                                # around HASHED_HERE: hashed while walking or in a thread
                                st.sampled_from([0, 512, 4096, HASHED_HERE, HASHED_HERE + 1,
                                                 MIB + 3, 2 * MIB + 1])),
                      min_size=1, max_size=10),
       deleted=st.lists(st.booleans(), min_size=10, max_size=10),
       batch_size=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_any_tree_of_files_is_hashed_as_written(sizes: list[int], deleted: list[bool],
                                                batch_size: int, seed: int) -> None:
    rng = random.Random(seed)
    files = [fat_file(f"dir{n % 3}/file{n:02}.bin", rng.randbytes(size), deleted[n])
             for n, size in enumerate(sizes)]
    with tempfile.TemporaryDirectory(prefix="dalil-examine-") as folder:
        path = Path(folder) / "tree.img"
        fat_image(path, files)
        found = messages(unit_of(path, batch_size=batch_size))
    batches = [m for m in found if isinstance(m, Rows)]
    assert all(len(b.rows) == batch_size and b.full for b in batches[:-1])
    assert len(batches[-1].rows) < batch_size and not batches[-1].full
    rows = rows_of(found)
    assert [r["seq"] for r in rows] == list(range(len(rows)))
    by_path = {r["path"]: r for r in rows}
    for planted in files:
        row = by_path[planted.path]
        assert row["deleted"] == planted.deleted and row["size"] == len(planted.data)
        assert row["md5"] == hashlib.md5(planted.data).hexdigest(), planted.path
        assert row["sha256"] == hashlib.sha256(planted.data).hexdigest(), planted.path


# --- resume ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_a_resumed_run_skips_what_was_stored_and_checks_the_last_entry(disks: Disks,
                                                                       fs: str) -> None:
    path, _ = disk(disks, fs)
    rows = rows_of(messages(unit_of(path, batch_size=3)))
    for k in (0, 9, len(rows) - 2, len(rows) - 1):
        expected = (rows[k]["inode"], rows[k]["path"])
        found = list(examine_in_process(unit_of(path, batch_size=3, resume_after=k,
                                                expected=expected)))
        assert found[:2] == [Opened(fs), Skipped(k + 1)], k
        assert rows_of(found) == rows[k + 1:]
        assert not any(isinstance(m, Skipped) for m in found[2:])
        assert [m.full for m in found if isinstance(m, Rows)][-1] is False


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_a_resumed_run_on_another_image_is_refused(disks: Disks, fs: str) -> None:
    path, _ = disk(disks, fs)
    rows = rows_of(messages(unit_of(path)))
    inode, stored = rows[5]["inode"], rows[5]["path"]
    for expected in ((inode + 1, stored), (inode, stored + ".other")):
        with pytest.raises(ExamineError) as caught:
            list(examine_in_process(unit_of(path, resume_after=5, expected=expected)))
        text = str(caught.value)
        assert "the image does not match what an earlier run stored" in text
        assert f"entry 5 was {expected[1]!r}, inode {expected[0]}" in text
        assert f"it is now {stored!r}, inode {inode}" in text


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_a_resumed_run_on_an_image_with_fewer_entries_is_refused(disks: Disks, fs: str) -> None:
    # An earlier run stored more entries than this image has: it was another image, and
    # the entry to check never comes; taking the volume as done would mix the two.
    path, _ = disk(disks, fs)
    count = len(rows_of(messages(unit_of(path))))
    for resume_after in (count, count + 10):
        with pytest.raises(ExamineError) as caught:
            list(examine_in_process(unit_of(path, resume_after=resume_after,
                                             expected=(99, "Users/someone/else.txt"))))
        assert str(caught.value) == (
            "the image does not match what an earlier run stored (entry "
            f"{resume_after} was 'Users/someone/else.txt', inode 99; the walk now ends "
            f"after {count} entries)")


# --- unreadable, truncated and damaged input -----------------------------------------------

def test_a_volume_without_a_file_system_is_unreadable_naming_its_offset(tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.img"
    with open(zeros, "wb") as handle:
        handle.truncate(4 * MIB)
    partition = Volume(2, 2048, 4096, 512, "Linux (0x83)", True, "dos")
    found = list(examine_in_process(Unit(str(zeros), partition)))
    assert len(found) == 1 and isinstance(found[0], Unreadable)
    assert found[0].message.startswith(f"{zeros}, volume 2 at offset {MIB} (sector 2048): "
                                       "no readable file system")
    [whole] = list(examine_in_process(unit_of(zeros)))
    assert isinstance(whole, Unreadable)
    assert whole.message.startswith(f"{zeros}, whole media (offset 0): no readable file system")


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_an_image_cut_after_its_first_kib(disks: Disks, fs: str, tmp_path: Path) -> None:
    path, _ = disk(disks, fs)
    cut = tmp_path / "cut.img"
    with open(path, "rb") as source:
        cut.write_bytes(source.read(1024))
    found = list(examine_in_process(Unit(str(cut), unit_of(path).volume)))
    if fs == "ext4":  # the superblock (at 1024) is gone: no file system
        [only] = found
        assert isinstance(only, Unreadable)
        assert only.message.startswith(f"{cut}, whole media (offset 0): no readable file "
                                       "system")
        return
    # FAT's boot sector is whole: the file system opens, its root directory is missing.
    assert found[0] == Opened("fat32") and found[-1] == Rows([], False)
    [problem] = [m.problem for m in found if isinstance(m, Problem)]
    assert problem.path == "/" and problem.message.startswith(
        f"{cut}, whole media (offset 0): directory / (inode {problem.inode}): ")


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.1, 0.2, 0.5])
def test_an_image_cut_anywhere_is_reported_never_crashes(disks: Disks, fraction: float,
                                                    tmp_path: Path) -> None:
    path, _ = disk(disks, "ext4")
    data = path.read_bytes()
    end = len(data.rstrip(b"\0"))  # the image is sparse: cut inside what was written
    cut = tmp_path / "cut.img"
    cut.write_bytes(data[:max(4096, int(end * fraction))])
    found = messages(Unit(str(cut), unit_of(path).volume))
    if isinstance(found[0], Unreadable):
        assert len(found) == 1 and found[0].message.startswith(f"{cut}, whole media (offset 0)")
        return
    assert found[0] == Opened("ext4")
    last = found[-1]
    assert isinstance(last, Rows) and not last.full
    for problem in (m.problem for m in found if isinstance(m, Problem)):
        assert problem.message.startswith(f"{cut}, whole media (offset 0): directory "
                                          f"/{problem.path.strip('/')} (inode {problem.inode})")
    for row in rows_of(found):
        if row["error"]:
            assert row["error"].startswith(f"{cut}, whole media (offset 0): {row['path']}")
            assert row["md5"] is None and row["sha256"] is None  # partial: no digest stored


@pytest.mark.parametrize("size", [MIB + 4000, HASHED_HERE - 1000],
                         ids=["hashing-thread", "hashed-while-walking"])
def test_content_cut_off_by_truncation_gets_an_error_and_no_digest(tmp_path: Path,
                                                                   size: int) -> None:
    big = random.Random(3).randbytes(size)
    small = b"read in full\n" * 10
    whole = tmp_path / "whole.img"
    layout = fat_image(whole, [fat_file("first.txt", small), fat_file("big.bin", big),
                               fat_file("later/after.txt", b"after\n")])
    start = layout.placed["big.bin"].data_offset
    assert start > layout.placed["first.txt"].data_offset
    cut = tmp_path / "cut.img"
    with open(whole, "rb") as source:
        cut.write_bytes(source.read(start + 50_000))  # the later folder's cluster is lost
    found = messages(unit_of(cut))
    assert found[0] == Opened("fat32") and isinstance(found[-1], Rows)
    by_path = {r["path"]: r for r in rows_of(found)}
    assert by_path["first.txt"]["md5"] == hashlib.md5(small).hexdigest()
    broken = by_path["big.bin"]
    assert broken["md5"] is None and broken["sha256"] is None
    assert broken["bytes_read"] == 50_000 < broken["size"] == len(big)
    assert broken["error"].startswith(f"{cut}, whole media (offset 0): big.bin (inode "
                                      f"{broken['inode']}): read error at file offset 50000")
    [problem] = [m.problem for m in found if isinstance(m, Problem)]
    assert problem.path == "later" and "later/after.txt" not in by_path
    assert problem.message.startswith(f"{cut}, whole media (offset 0): directory /later "
                                      f"(inode {problem.inode}): ")


def test_a_damaged_directory_is_a_problem_and_the_walk_goes_on(disks: Disks,
                                                               tmp_path: Path) -> None:
    path, key = disk(disks, "ext4")
    damaged = tmp_path / "damaged.img"
    shutil.copyfile(path, damaged)
    located = subprocess.run(["debugfs", "-R", "imap Users/aidar/Desktop", str(damaged)],
                             capture_output=True, text=True, check=True).stdout
    match = re.search(r"located at block (\d+), offset (0x[0-9a-f]+)", located)
    assert match, located
    inode_at = int(match[1]) * 4096 + int(match[2], 16)
    with open(damaged, "r+b") as handle:
        handle.seek(inode_at + 40)  # i_block: the extent header
        assert handle.read(2) == b"\x0a\xf3"
        handle.seek(inode_at + 40)
        handle.write(b"\0\0")
    found = messages(unit_of(damaged, batch_size=4))
    [problem] = [m.problem for m in found if isinstance(m, Problem)]
    assert problem.path == "Users/aidar/Desktop"
    assert problem.message.startswith(f"{damaged}, whole media (offset 0): directory "
                                      f"/Users/aidar/Desktop (inode {problem.inode}): ")
    rows = rows_of(found)
    assert [r["seq"] for r in rows] == list(range(len(rows)))
    by_path = {r["path"]: r for r in rows}
    assert not any(p.startswith("Users/aidar/Desktop/") for p in by_path)
    for item in key.items:  # everything outside the damaged folder is still there
        if item["path"] and not item["path"].startswith("Users/aidar/Desktop/"):
            assert by_path[item["path"]]["sha256"] == item["sha256"], item["path"]


# --- the child process ----------------------------------------------------------------------

def test_leaving_early_stops_the_child(many_files: Path) -> None:
    before = examiners()
    stream = examine_in_process(unit_of(many_files, batch_size=1))
    assert next(stream) == Opened("fat32")
    first = next(m for m in stream if isinstance(m, Rows))
    assert first.full and [r["seq"] for r in first.rows] == [0]
    [child] = examiners() - before
    assert child.name == "dalil-examine-0"
    assert child.is_alive()  # far from done: its rows fill the pipe many times over
    pid = child.pid
    assert pid is not None
    within(STOP, stream.close)
    assert examiners() - before == set()
    assert gone(pid)  # terminated and reaped: no zombie left


def test_a_killed_child_is_an_examine_error_with_its_exit_code(many_files: Path) -> None:
    before = examiners()
    stream = examine_in_process(unit_of(many_files, batch_size=1))
    assert next(stream) == Opened("fat32")
    [child] = examiners() - before
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(ExamineError) as caught:
        within(STOP, lambda: list(stream))  # what was sent before comes, then the error
    assert str(caught.value) == (f"{many_files}: the examining process stopped "
                                 f"(exit code {-signal.SIGKILL})")
    assert examiners() - before == set()


def test_an_image_that_is_not_there_fails_naming_its_path(tmp_path: Path) -> None:
    before = examiners()
    missing = tmp_path / "no-such.img"
    volume = Volume(0, 0, 8192, 512, "whole media (no partition table)", True, "none")
    with pytest.raises(ExamineError) as caught:
        within(STOP, lambda: list(examine_in_process(Unit(str(missing), volume))))
    assert str(caught.value) == f"{missing}: no such image file"
    assert examiners() - before == set()
