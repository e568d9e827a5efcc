"""`dalil fs ls -r` shared out between two processes prints exactly what one process (and
fls) prints: order, paths, deleted names, damaged directories reported once; a child that
fails or is no longer wanted is handled."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.cli import listing
from dalil.engine.forensics.filesystem import FileSystem, select_file_system
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.walk import walk

DALIL = str(Path(sys.executable).with_name("dalil"))


def _dalil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DALIL, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def uneven(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root names whose subtrees differ a lot in size, and deleted files in two of them."""
    folder = tmp_path_factory.mktemp("uneven")
    tree = folder / "tree"
    sizes = {"a-small": 3, "b-huge": 400, "c-none": 0, "d-mid": 60, "e-huge": 300, "f": 1}
    for name, count in sizes.items():
        (tree / name / "deeper" / "deepest").mkdir(parents=True)
        for number in range(count):
            where = tree / name / ("deeper" if number % 3 else "") / f"n{number:03}.txt"
            where.write_text(f"{name} {number}")
    (tree / "top-file.txt").write_text("top")
    image = folder / "uneven.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-N", "2048", "-d", str(tree), str(image),
                    "16M"], check=True)
    for gone in ("b-huge/n000.txt", "e-huge/deeper/n001.txt"):
        subprocess.run(["debugfs", "-w", "-R", f"rm {gone}", str(image)], check=True,
                       capture_output=True)
    return image


def test_the_shared_listing_is_fls_and_the_one_process_walk(uneven: Path) -> None:
    fs = select_file_system(open_image(uneven), None)
    assert listing.shareable(fs) >= 7  # the root's names (lost+found, top-file.txt...)

    text = _dalil("fs", "ls", "-r", str(uneven))
    assert text.returncode == 0, text.stderr
    fls = subprocess.run(["fls", "-r", "-p", str(uneven)], capture_output=True, text=True,
                         check=True).stdout
    assert text.stdout == fls

    rows = json.loads(_dalil("fs", "ls", "-r", "--json", str(uneven)).stdout)
    one_process = list(walk(fs))
    assert [(r["inode"], r["path"], r["deleted"]) for r in rows] == [
        (e.inode, e.path, e.deleted) for e in one_process]
    deleted = json.loads(_dalil("fs", "ls", "-r", "--deleted", "--json", str(uneven)).stdout)
    assert [r["path"] for r in deleted] == [e.path for e in one_process if e.deleted]
    assert {"b-huge/n000.txt", "e-huge/deeper/n001.txt"} <= {r["path"] for r in deleted}


def test_a_damaged_directory_in_either_part_is_reported_once(uneven: Path,
                                                              tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.img"
    damaged.write_bytes(uneven.read_bytes())
    for folder in ("a-small/deeper", "e-huge/deeper"):  # one near each end of the root
        subprocess.run(["debugfs", "-w", "-R", f"sif {folder} block[0] 0x12345678",
                        str(damaged)], check=True, capture_output=True)
    result = _dalil("fs", "ls", "-r", "--json", str(damaged))
    assert result.returncode == 3  # listed, but some directories could not be read
    assert result.stderr.count("a-small/deeper") == 1
    assert result.stderr.count("e-huge/deeper") == 1
    paths = [r["path"] for r in json.loads(result.stdout)]
    assert "d-mid/n000.txt" in paths and not any(p.startswith("e-huge/deeper/") for p in paths)


@settings(max_examples=40, deadline=None)
@given(names=st.integers(min_value=0, max_value=12), front_first=st.lists(st.booleans(),
                                                                          max_size=30))
def test_claims_from_both_ends_meet_once(names: int, front_first: list[bool]) -> None:
    claims = listing._Claims(names)
    front: list[int] = []
    back: list[int] = []
    position = 0
    for front_turn in [*front_first, *[True] * (names + 1), *[False] * (names + 1)]:
        if front_turn:
            if claims.take_front(position):
                front.append(position)
                position += 1
        elif (taken := claims.take_back()) is not None:
            back.append(taken)
    assert front + sorted(back) == list(range(names))  # each name once, in two runs
    assert back == sorted(back, reverse=True)
    assert not claims.take_front(position) and claims.take_back() is None


def _opened(image: Path) -> FileSystem:
    return select_file_system(open_image(image), None)


def _keep_all(entry: object) -> bool:
    return True


def _encode(entry: object) -> bytes:
    return str(getattr(entry, "path", "")).encode()


def test_a_child_that_fails_stops_the_listing_with_its_reason(uneven: Path) -> None:
    def fail_to_open() -> FileSystem:
        raise OSError("the image went away")

    with listing.SharedListing(7, fail_to_open, _keep_all, _encode) as shared:
        list(shared.first(_opened(uneven), lambda problem: None))
        with pytest.raises(RuntimeError, match=r"exit code 1.*the image went away"):
            list(shared.rest(lambda problem: None))

    def killed() -> FileSystem:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("not reached")

    with listing.SharedListing(7, killed, _keep_all, _encode) as shared, \
            pytest.raises(RuntimeError, match="exit code -9"):
        list(shared.rest(lambda problem: None))


def test_a_listing_left_early_stops_its_child(uneven: Path) -> None:
    def slow() -> FileSystem:
        signal.pause()  # never returns on its own
        raise AssertionError("not reached")

    shared = listing.SharedListing(7, slow, _keep_all, _encode)
    pid = shared.pid
    shared.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left
    assert not multiprocessing.active_children()


def test_file_systems_walked_by_their_own_library_are_not_shared(uneven: Path,
                                                                 monkeypatch) -> None:
    fs = _opened(uneven)
    monkeypatch.setattr(fs, "kind", "xfs")
    assert listing.shareable(fs) == 0
    with pytest.raises(ValueError, match="xfs"):
        list(walk(fs, top=range(0, 1)))
