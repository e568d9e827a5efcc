"""`dalil scan IMAGE.E01 -o OUT` scans the media inside the container, at the disk's offsets."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dalil.cli.main import app

runner = CliRunner()
EMAIL = b"aigerim.n@example.kz"
OFFSET = 1_000_003


def _media() -> bytes:
    # Random bytes do not compress: the E01 stores the email deflated among them, so it
    # can only be found by reading the media, not the container file.
    data = bytearray(random.Random(5).randbytes(2 * 1024 * 1024))
    data[OFFSET:OFFSET + len(EMAIL) + 2] = b" " + EMAIL + b" "
    return bytes(data)


def _e01(folder: Path, data: bytes) -> Path:
    if shutil.which("ewfacquirestream") is None:
        pytest.skip("needs ewfacquirestream (ewf-tools)")
    subprocess.run(["ewfacquirestream", "-q", "-c", "deflate:best", "-f", "encase6",
                    "-t", str(folder / "stick"), "-C", "KZ-1", "-E", "E1", "-e", "examiner"],
                   input=data, check=True, capture_output=True, timeout=120)
    return folder / "stick.E01"


def test_an_e01_is_scanned_through_its_container(tmp_path):
    image = _e01(tmp_path, _media())
    result = runner.invoke(app, ["scan", str(image), "-o", str(tmp_path / "out"), "--json",
                                 "-j", "1", "--scanners", "email"])
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in
             (tmp_path / "out" / "email.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert [(int(offset), feature) for offset, feature, *_ in lines] == [
        (OFFSET + 1, EMAIL.decode())]
    assert json.loads(result.stdout)["counts"]["email"] == 1


def test_container_bytes_scans_the_file_as_it_is(tmp_path):
    image = _e01(tmp_path, _media())
    result = runner.invoke(app, ["scan", str(image), "-o", str(tmp_path / "out"), "--json",
                                 "-j", "1", "--scanners", "email", "--container-bytes"])
    assert result.exit_code == 0, result.output
    # The email is deflated inside the EWF chunks: the scanner's zlib recursion may find it
    # at a forensic path, but never at the media offset.
    text = (tmp_path / "out" / "email.txt").read_text()
    assert f"{OFFSET + 1}\t" not in text
