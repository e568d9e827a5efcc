"""An extracted file's provenance says which layer of the image its file system lies in
(an LVM logical volume, a decrypted LUKS volume), in `dalil fs extract --json` and in the
folder's manifest; a file system directly in the image has no layer."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_forensics_volumes import luks1
from typer.testing import CliRunner

from dalil.cli.main import app
from dalil.engine.forensics.extract import PROVENANCE_FILE
from dalil.engine.scenarios.lvm import (
    BuiltPhysicalVolume,
    build_lvm_image,
    default_volumes,
    tools_missing,
)

SEED = 77
KEYS = {"image", "volume_index", "volume_offset", "inode", "address", "path", "output",
        "size", "deleted", "sha256", "md5", "complete", "error"}  # before layers were named


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> BuiltPhysicalVolume:
    _need("sfdisk", *tools_missing(default_volumes(SEED)))
    return build_lvm_image(tmp_path_factory.mktemp("extract-layer") / "disk.img", seed=SEED,
                           mbr=True)


def _extract(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, ["fs", "extract", *args, "--json"])
    assert result.exit_code == 0, result.output
    records: list[dict[str, Any]] = json.loads(result.stdout)
    return records


def _manifest(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / PROVENANCE_FILE).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_a_file_in_a_logical_volume_names_its_lv(disk: BuiltPhysicalVolume,
                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    records = _extract(str(disk.path), str(out), "--logical", "exchange")
    layer = f"LVM logical volume exchange in volume at offset {disk.pv_offset}"
    assert records and all(r["layer"] == layer for r in records)
    assert all(r.keys() >= KEYS for r in records)
    # Offsets within the layer: the LV's file system starts at 0 of the LV.
    assert {(r["volume_index"], r["volume_offset"]) for r in records} == {(0, 0)}
    by_path = {r["path"]: r for r in records}
    for planted in disk.volumes[1].files:
        assert by_path[planted.path]["sha256"] == planted.sha256
    assert _manifest(out) == records


def test_a_file_directly_in_the_image_has_no_layer(tmp_path: Path) -> None:
    _need("mke2fs")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "note.txt").write_bytes(b"meet at dawn\n")
    image = tmp_path / "plain.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(image), "4M"],
                   check=True)
    records = _extract(str(image), str(tmp_path / "out"))
    [note] = [r for r in records if r["path"] == "note.txt"]
    assert note["layer"] == "" and note["volume_offset"] == 0
    assert _manifest(tmp_path / "out") == records


def test_a_file_in_a_decrypted_volume_names_the_decryption(tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="needs cryptography")
    _need("mke2fs")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "seed.txt").write_bytes(b"abandon ability able\n")
    inner = tmp_path / "inner.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(inner), "4M"],
                   check=True)
    container = luks1(tmp_path, inner.read_bytes(), "correct horse")  # skips if no tool
    records = _extract(str(container), str(tmp_path / "out"), "--password", "correct horse")
    [seed] = [r for r in records if r["path"] == "seed.txt"]
    assert seed["layer"] == "LUKS1 volume at offset 0, decrypted"
