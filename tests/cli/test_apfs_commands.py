"""`dalil image info`, `fs ls`, `fs cat` and `fs extract` on an APFS container made by
mkapfs with files planted by the scenario generator; `--logical` names the APFS volume."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dalil.cli.main import app
from dalil.engine.scenarios.apfs import ApfsAnswerKey, build_apfs_image

pytest.importorskip("pyfsapfs", reason="needs libfsapfs-python (pip install libfsapfs-python)")
if shutil.which("mkapfs") is None:
    pytest.skip("needs mkapfs (Debian apfsprogs)", allow_module_level=True)

runner = CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> ApfsAnswerKey:
    return build_apfs_image(tmp_path_factory.mktemp("apfs-cli") / "mac.img")


def dalil(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_image_info_shows_the_container_and_its_volumes(built: ApfsAnswerKey) -> None:
    document = json.loads(dalil("image", "info", built.image, "--json"))
    [volume] = document["volumes"]
    assert volume["file_system"]["type"] == "apfs" and "error" not in volume
    assert volume["apfs_container"] == {
        "offset": 0, "block_size": 4096, "size": built.size,
        "identifier": built.container_uuid,
        "volumes": [{"index": 0, "name": "Evidence Vol", "identifier": built.volume_uuid,
                     "encrypted": False}]}
    text = dalil("image", "info", built.image)
    assert f"APFS container {built.container_uuid}" in text
    assert f"APFS volume 0 'Evidence Vol' {built.volume_uuid}" in text


def test_fs_ls_lists_the_planted_tree(built: ApfsAnswerKey) -> None:
    listing = json.loads(dalil("fs", "ls", built.image, "-r", "--json"))
    found = {row["path"]: row for row in listing}
    assert sorted(found) == sorted(answer.path for answer in built.entries)
    ledger = built.entry("Documents/ledger.csv")
    row = found[ledger.path]
    assert (row["inode"], row["type"], row["size"], row["deleted"]) == (ledger.inode, "file",
                                                                        ledger.size, False)
    # 1_710_000_000_000_000_001 ns: the nanosecond is below what the listing keeps.
    assert (row["crtime"], row["mtime"]) == ("2024-03-09T16:00:00Z",
                                             "2024-03-09T16:00:01.999999Z")
    top = json.loads(dalil("fs", "ls", built.image, "--json", "--logical", "Evidence Vol"))
    assert sorted(r["path"] for r in top) == ["Documents", "ransom_note.txt"]


def test_fs_cat_by_path_and_inode(built: ApfsAnswerKey) -> None:
    for answer in built.entries:
        if answer.type != "file":
            continue
        by_path = runner.invoke(app, ["fs", "cat", built.image, "--path", answer.path])
        by_inode = runner.invoke(app, ["fs", "cat", built.image, "--inode", str(answer.inode),
                                       "--logical", "0"])
        for result in (by_path, by_inode):
            assert result.exit_code == 0, result.output
            assert hashlib.sha256(result.stdout_bytes).hexdigest() == answer.sha256
    folder = runner.invoke(app, ["fs", "cat", built.image, "--path", "Documents"])
    assert folder.exit_code == 1
    assert "mac.img, whole media (offset 0): Documents is a directory" in folder.output


def test_fs_extract_writes_every_file_with_provenance(built: ApfsAnswerKey,
                                                      tmp_path: Path) -> None:
    records = json.loads(dalil("fs", "extract", built.image, str(tmp_path / "out"), "--json"))
    files = [answer for answer in built.entries if answer.type == "file"]
    assert sorted((r["path"], r["sha256"], r["complete"]) for r in records) == sorted(
        (answer.path, answer.sha256, True) for answer in files)
    ledger = built.entry("Documents/ledger.csv")
    [record] = [r for r in records if r["path"] == ledger.path]
    written = (tmp_path / "out" / record["output"]).read_bytes()
    assert hashlib.sha256(written).hexdigest() == ledger.sha256


def test_an_unknown_apfs_volume_is_refused_with_the_choices(built: ApfsAnswerKey) -> None:
    result = runner.invoke(app, ["fs", "ls", built.image, "--logical", "Data"])
    assert result.exit_code == 1
    assert ("mac.img, whole media (offset 0): APFS container at offset 0: no volume 'Data' "
            "(volumes: 0 'Evidence Vol')") in " ".join(result.output.split())


def test_a_corrupt_container_is_named_not_a_crash(built: ApfsAnswerKey,
                                                  tmp_path: Path) -> None:
    bad = tmp_path / "bad.img"
    data = bytearray(Path(built.image).read_bytes())
    data[36:40] = (1000).to_bytes(4, "little")  # the block size
    bad.write_bytes(data)
    result = runner.invoke(app, ["fs", "ls", str(bad)])
    assert result.exit_code == 1
    assert ("bad.img, whole media (offset 0): APFS container superblock at offset 0: "
            "corrupt: block size 1000 is not a power of two") in " ".join(result.output.split())
    info = json.loads(dalil("image", "info", str(bad), "--json"))
    assert "block size 1000" in info["volumes"][0]["error"]
    assert "apfs_container" not in info["volumes"][0]
