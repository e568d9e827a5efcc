"""`dalil hash`: JSON and table output, bad paths, bad algorithms, the real console script."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dalil.cli.main import app


@pytest.fixture
def files(tmp_path):
    paths = []
    for index, size in enumerate((0, 70_000, 1_300_000)):
        path = tmp_path / f"file-{index}.bin"
        path.write_bytes(random.Random(index).randbytes(size))
        paths.append(path)
    return paths


def _expected(path: Path, algorithms=("md5", "sha1", "sha256")) -> dict:
    data = path.read_bytes()
    return {"path": str(path), "size": len(data),
            "hashes": {a: hashlib.new(a, data).hexdigest() for a in algorithms}}


def test_json_lists_every_file_with_the_default_algorithms(files):
    result = CliRunner().invoke(app, ["hash", *map(str, files), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [_expected(p) for p in files]


def test_chosen_algorithms(files):
    result = CliRunner().invoke(app, ["hash", str(files[2]), "-a", "sha512,blake2b", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [_expected(files[2], ("sha512", "blake2b"))]


def test_table_shows_whole_digests(files):
    result = CliRunner().invoke(app, ["hash", str(files[1]), "-a", "md5,sha256"])
    assert result.exit_code == 0
    data = files[1].read_bytes()
    assert hashlib.md5(data).hexdigest() in result.stdout
    assert hashlib.sha256(data).hexdigest() in result.stdout  # never folded or truncated
    assert "70,000" in result.stdout


def test_a_bad_path_is_named_the_others_still_hashed_exit_1(files, tmp_path):
    missing = tmp_path / "seized-phone.img"
    result = CliRunner().invoke(app, ["hash", str(files[1]), str(missing), str(files[2]),
                                      "--json"])
    assert result.exit_code == 1
    assert str(missing) in result.stderr
    assert "No such file" in result.stderr
    assert json.loads(result.stdout) == [_expected(files[1]), _expected(files[2])]


def test_unknown_algorithm_exits_2(files):
    result = CliRunner().invoke(app, ["hash", str(files[0]), "-a", "md5,crc32"])
    assert result.exit_code == 2
    assert "crc32" in result.stderr
    assert result.stdout == ""


def test_the_installed_console_script(files):
    script = Path(sys.executable).with_name("dalil")
    if not script.exists():
        found = shutil.which("dalil")
        if found is None:
            pytest.skip("the dalil console script is not installed (pip install -e .)")
        script = Path(found)
    run = subprocess.run([str(script), "hash", str(files[2]), "-a", "md5,sha256", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [_expected(files[2], ("md5", "sha256"))]
    if shutil.which("sha256sum"):
        tool = subprocess.run(["sha256sum", str(files[2])], capture_output=True, text=True)
        assert tool.stdout.split()[0] == json.loads(run.stdout)[0]["hashes"]["sha256"]
