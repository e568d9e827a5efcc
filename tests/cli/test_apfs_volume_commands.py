"""`dalil image info`, `fs ls`, `fs cat` and `fs extract` on an APFS container of two
volumes (``Macintosh HD`` and ``Data``): `--logical NAME|K` reaches the second volume's
files; without it the first volume is read, as before."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dalil.cli.main import app
from dalil.engine.scenarios.apfs import (
    DATA_LABEL,
    DATA_UUID,
    DATA_VOLUME,
    ApfsAnswerKey,
    build_apfs_image,
)

pytest.importorskip("pyfsapfs", reason="needs libfsapfs-python (pip install libfsapfs-python)")
if shutil.which("mkapfs") is None:
    pytest.skip("needs mkapfs (Debian apfsprogs)", allow_module_level=True)

runner = CliRunner()
SYSTEM = "Macintosh HD"


@pytest.fixture(scope="module")
def mac(tmp_path_factory: pytest.TempPathFactory) -> ApfsAnswerKey:
    return build_apfs_image(tmp_path_factory.mktemp("apfs-volumes-cli") / "mac.img",
                            label=SYSTEM, more_volumes=(DATA_VOLUME,))


def dalil(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _listed(mac: ApfsAnswerKey, *options: str) -> dict[str, tuple[int, str, int]]:
    rows = json.loads(dalil("fs", "ls", mac.image, "-r", "--json", *options))
    return {row["path"]: (row["inode"], row["type"], row["size"]) for row in rows}


def _answers(mac: ApfsAnswerKey, volume: str) -> dict[str, tuple[int, str, int]]:
    return {a.path: (a.inode, a.type, a.size) for a in mac.in_volume(volume)}


def test_image_info_lists_both_volumes(mac: ApfsAnswerKey) -> None:
    [volume] = json.loads(dalil("image", "info", mac.image, "--json"))["volumes"]
    assert volume["apfs_container"]["volumes"] == [
        {"index": 0, "name": SYSTEM, "identifier": mac.volume_uuid, "encrypted": False},
        {"index": 1, "name": DATA_LABEL, "identifier": DATA_UUID, "encrypted": False}]
    assert f"APFS volume 1 'Data' {DATA_UUID}" in dalil("image", "info", mac.image)


def test_fs_ls_with_logical_lists_the_second_volume(mac: ApfsAnswerKey) -> None:
    data = _answers(mac, DATA_LABEL)
    assert _listed(mac, "--logical", DATA_LABEL) == data
    assert _listed(mac, "--logical", "1") == data
    assert _listed(mac, "--logical", SYSTEM) == _answers(mac, SYSTEM)
    assert _listed(mac) == _answers(mac, SYSTEM)  # no --logical: the first volume


def test_fs_cat_and_extract_read_the_second_volume(mac: ApfsAnswerKey,
                                                   tmp_path: Path) -> None:
    note = mac.entry("ransom_note.txt", DATA_LABEL)
    cat = runner.invoke(app, ["fs", "cat", mac.image, "--logical", DATA_LABEL,
                              "--path", note.path])
    assert cat.exit_code == 0, cat.output
    assert hashlib.sha256(cat.stdout_bytes).hexdigest() == note.sha256
    first = runner.invoke(app, ["fs", "cat", mac.image, "--path", note.path])
    assert hashlib.sha256(first.stdout_bytes).hexdigest() == \
        mac.entry("ransom_note.txt").sha256 != note.sha256

    records = json.loads(dalil("fs", "extract", mac.image, str(tmp_path / "out"),
                               "--logical", DATA_LABEL, "--json"))
    files = [a for a in mac.in_volume(DATA_LABEL) if a.type == "file"]
    assert sorted((r["path"], r["sha256"]) for r in records) == sorted(
        (a.path, a.sha256) for a in files)
    for record in records:
        written = (tmp_path / "out" / record["output"]).read_bytes()
        assert hashlib.sha256(written).hexdigest() == record["sha256"]
