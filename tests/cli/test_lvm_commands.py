"""`dalil image info`, `fs ls/cat/extract`, `timeline` and `carve` with `--logical` on a
disk whose MBR partition (type 0x8e) holds an LVM2 PV with an ext4 and a FAT32 LV."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dalil.cli.main import app
from dalil.engine.scenarios.lvm import BuiltPhysicalVolume, build_lvm_image

runner = CliRunner()


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> BuiltPhysicalVolume:
    for tool in ("mke2fs", "debugfs", "mkfs.vfat", "mcopy", "sfdisk"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    return build_lvm_image(tmp_path_factory.mktemp("lvm-cli") / "disk.img", seed=9, mbr=True)


def dalil(*args: str) -> object:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_image_info_shows_each_lvs_file_system(disk: BuiltPhysicalVolume) -> None:
    document = json.loads(dalil("image", "info", str(disk.path), "--json").stdout)
    [pv] = [v for v in document["volumes"] if v["offset"] == disk.pv_offset and v["allocated"]]
    assert pv["file_system"] is None and "error" not in pv
    assert [(lv["type"], lv["index"], lv["name"], lv["size"], lv["file_system"]["type"])
            for lv in pv["logical_volumes"]] == [
        ("lvm", 0, "root", 8 * 1024 * 1024, "ext4"),
        ("lvm", 1, "exchange", 34 * 1024 * 1024, "fat32")]
    text = dalil("image", "info", str(disk.path)).stdout
    assert f"volume {pv['index']}: lvm 0 root (8388608 bytes): ext4" in text
    assert f"volume {pv['index']}: lvm 1 exchange (35651584 bytes): fat32" in text
    assert "LVM PV" in text


def test_fs_ls_cat_extract_timeline_in_a_logical_volume(disk: BuiltPhysicalVolume,
                                                        tmp_path: Path) -> None:
    root, exchange = disk.volumes
    rows = json.loads(dalil("fs", "ls", str(disk.path), "-r", "--json", "--volume", "2",
                            "--logical", "root").stdout)
    listed = {r["path"]: r for r in rows}
    for planted in root.files:
        assert listed[planted.path]["size"] == len(planted.data)
    planted = exchange.files[0]
    cat = dalil("fs", "cat", str(disk.path), "--logical", "1", "--path", planted.path)
    assert cat.stdout_bytes == planted.data
    records = json.loads(dalil("fs", "extract", str(disk.path), str(tmp_path / "out"),
                               "--logical", "exchange", "--json").stdout)
    by_path = {r["path"]: r for r in records}
    for item in exchange.files:
        assert by_path[item.path]["sha256"] == hashlib.sha256(item.data).hexdigest()
        assert (tmp_path / "out" / by_path[item.path]["output"]).read_bytes() == item.data
    table = dalil("timeline", str(disk.path), "--logical", "root", "--format", "csv").stdout
    modified = {(row["path"], row["time_utc"]) for row in csv.DictReader(io.StringIO(table))
                if row["macb"].startswith("m")}
    for item in root.files:
        stamp = item.mtime.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert (f"/{item.path}", stamp) in modified


def test_several_lvs_without_logical_is_an_error_naming_them(disk: BuiltPhysicalVolume) -> None:
    result = runner.invoke(app, ["fs", "ls", str(disk.path)])
    assert result.exit_code == 1
    assert (f"{disk.path}: LVM physical volume at offset {disk.pv_offset} holds 2 logical "
            "volumes (0 root (8388608 bytes), 1 exchange (35651584 bytes)): choose one with "
            "--logical") in result.stderr
    wrong = runner.invoke(app, ["fs", "ls", str(disk.path), "--logical", "swap"])
    assert wrong.exit_code == 1 and "no logical volume 'swap'" in wrong.stderr


def test_damaged_metadata_fails_clearly(disk: BuiltPhysicalVolume, tmp_path: Path) -> None:
    data = bytearray(disk.path.read_bytes())
    data[disk.pv_offset + 4608 + 30] ^= 0x01
    bad = tmp_path / "bad.img"
    bad.write_bytes(bytes(data))
    result = runner.invoke(app, ["fs", "ls", str(bad), "--logical", "root"])
    assert result.exit_code == 1
    assert (f"{bad}: LVM physical volume at offset {disk.pv_offset}: LVM metadata text at PV "
            "offset 4608: CRC mismatch") in result.stderr
    assert "Traceback" not in result.output
    info = json.loads(dalil("image", "info", str(bad), "--json").stdout)
    [pv] = [v for v in info["volumes"] if v["offset"] == disk.pv_offset and v["allocated"]]
    assert "CRC mismatch" in pv["logical_volumes_error"]


def test_carve_inside_a_logical_volume(disk: BuiltPhysicalVolume, tmp_path: Path) -> None:
    result = dalil("carve", str(disk.path), str(tmp_path / "carved"), "--logical", "exchange",
                   "--json")
    report = json.loads(result.stdout)
    assert report["space"]["mode"] == "logical"
    assert report["space"]["bytes"] == 34 * 1024 * 1024
    assert "LVM logical volume exchange" in report["space"]["layer"]
    assert report["options"]["logical"] == "exchange"



def test_hashset_build_and_artifacts_reach_a_logical_volume(disk: BuiltPhysicalVolume,
                                                            tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            ) -> None:
    monkeypatch.setenv("DALIL_HOME", str(tmp_path / "home"))
    root, _exchange = disk.volumes
    built = json.loads(dalil("hashset", "build", str(disk.path), "--name", "lv-root",
                             "--volume", "2", "--logical", "root", "--json").stdout)
    assert built["entries"] >= len(root.files)
    planted = root.files[0]
    digest = hashlib.sha256(planted.data).hexdigest()
    found = dalil("hashset", "lookup", digest).stdout
    assert "lv-root" in found
    result = runner.invoke(app, ["artifacts", str(disk.path), "--volume", "2", "--logical",
                                 "nothing-here", "--json"])
    assert result.exit_code != 0 and "nothing-here" in result.output
    assert dalil("artifacts", str(disk.path), "--volume", "2", "--logical", "root",
                 "--json").stdout.startswith(("[", "{"))
