"""Listings printed as one JSON array (`dalil fs ls --json`...): rows written in chunks
still make one valid document, and a pipe on stdout is widened so that the listing does
not wait for its reader every 64 KiB."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dalil.cli import output

F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


@pytest.mark.parametrize("count", [0, 1, 7, 500])
def test_rows_cut_into_chunks_make_one_json_array(monkeypatch, capfdbinary, count) -> None:
    monkeypatch.setattr(output, "_CHUNK", 64)  # a few rows a chunk
    rows = [{"inode": i, "path": f"dir/n\u00e9{i}", "big": 2 ** 70 if i == 3 else i,
             "mtime": datetime(2024, 5, 6, 7, 8, 9, i, tzinfo=UTC)} for i in range(count)]
    output.print_json_array(iter(rows))
    printed = json.loads(capfdbinary.readouterr().out)
    assert [r["inode"] for r in printed] == list(range(count))
    assert all(r["mtime"].endswith("Z") for r in printed)
    if count > 3:
        assert printed[3]["big"] == 2 ** 70  # beyond orjson's 64 bits: the fallback encoder


@pytest.fixture
def many_files(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for folder in range(30):
        (tree / f"d{folder:02}").mkdir(parents=True)
        for number in range(60):
            (tree / f"d{folder:02}" / f"file-{number:03}.txt").write_text(f"{folder}/{number}")
    image = tmp_path / "many.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-N", "4096", "-d", str(tree), str(image),
                    "16M"], check=True)
    return image


def test_a_listing_through_a_pipe_is_whole_and_the_pipe_widened(many_files: Path) -> None:
    dalil = Path(sys.executable).with_name("dalil")
    process = subprocess.Popen([str(dalil), "fs", "ls", "-r", "--json", str(many_files)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    # One byte straight from the pipe (communicate reads the descriptor, not a buffer):
    # the listing has started, so it has set its pipe's size by now.
    first = os.read(process.stdout.fileno(), 1)
    widened = fcntl.fcntl(process.stdout.fileno(), F_GETPIPE_SZ)
    rest, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors.decode()
    rows = json.loads(first + rest)
    assert sum(r["path"].endswith(".txt") for r in rows) == 30 * 60
    fls = subprocess.run(["fls", "-r", "-p", str(many_files)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert [r["path"] for r in rows] == [line.split("\t", 1)[1] for line in fls]
    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    assert widened == (output._CHUNK if limit >= output._CHUNK else 65536)
