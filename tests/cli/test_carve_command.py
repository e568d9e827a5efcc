"""`dalil carve` as a user types it: planted files, --types, --unallocated, bad input."""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from dalil.engine.forensics.carve.samples import make_sample, plant, sample_items

MIB = 1024 * 1024


@pytest.fixture
def planted(tmp_path: Path):
    rng = random.Random(99)
    image = tmp_path / "seized.dd"
    items = plant(image, 6 * MIB, sample_items(rng, per_type=2, decoys_per_type=1), rng)
    return image, items


def test_carve_recovers_planted_files(dalil, planted, tmp_path: Path) -> None:
    image, items = planted
    out = tmp_path / "carved"
    manifest = dalil.json("carve", str(image), str(out))
    assert manifest["image"]["path"] == str(image)
    assert manifest["image"]["hashes"]["sha256"] == hashlib.sha256(
        image.read_bytes()).hexdigest()
    got = {(f["offset"], f["sha256"]) for f in manifest["files"]}
    assert got == {(p.offset, p.sha256) for p in items if p.valid}
    for row in manifest["files"]:
        assert row["name"].startswith(f"{row['offset']}.")
        assert hashlib.md5((out / row["name"]).read_bytes()).hexdigest() == row["md5"]
    decoys = {p.offset for p in items if not p.valid}
    assert decoys <= {r["offset"] for r in manifest["rejected"]}
    assert all(r["reason"] for r in manifest["rejected"])
    assert {k: v["valid"] for k, v in manifest["counts"].items()} == {
        "jpg": 2, "png": 2, "gif": 2, "pdf": 2, "zip": 2, "sqlite": 2}

    again = dalil("carve", str(image), str(out))
    assert again.returncode == 1
    assert str(out) in again.stderr and "not empty" in again.stderr

    only = dalil.json("carve", str(image), str(tmp_path / "only"), "--types", "jpeg,sqlite")
    assert {f["type"] for f in only["files"]} == {"jpg", "sqlite"}

    plain = dalil("carve", str(image), str(tmp_path / "plain"), check=True)
    assert "jpg" in plain.stdout and "12 valid files carved" in plain.stderr


def test_carve_bad_input(dalil, planted, tmp_path: Path) -> None:
    image, _ = planted
    unknown = dalil("carve", str(image), str(tmp_path / "o"), "--types", "jpg,exe")
    assert unknown.returncode == 2 and "'exe'" in unknown.stderr
    missing = dalil("carve", str(tmp_path / "nope.dd"), str(tmp_path / "o2"))
    assert missing.returncode == 1 and "nope.dd" in missing.stderr
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    nested = dalil("carve", str(image), str(blocker / "out"))
    assert nested.returncode == 1 and "cannot create the output folder" in nested.stderr
    volume = dalil("carve", str(image), str(tmp_path / "o3"), "--volume", "4")
    assert volume.returncode == 1 and "no volume 4" in volume.stderr
    nothing = dalil("carve", str(image), str(tmp_path / "o4"), "--resume")
    assert nothing.returncode == 0  # an empty folder: a fresh run


def test_carve_unallocated_on_fat(dalil, tmp_path: Path) -> None:
    for tool in ("mkfs.fat", "mcopy", "mdel"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    rng = random.Random(3)
    files = {name: make_sample("jpg", rng) for name in ("a.jpg", "b.jpg", "gone.jpg")}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    image = tmp_path / "card.img"
    subprocess.run(["mkfs.fat", "-C", str(image), "8192"], check=True, capture_output=True)
    subprocess.run(["mcopy", "-i", str(image), *(str(tmp_path / n) for n in files), "::/"],
                   check=True)
    subprocess.run(["mdel", "-i", str(image), "::/gone.jpg"], check=True)
    manifest = dalil.json("carve", str(image), str(tmp_path / "out"), "--unallocated")
    assert manifest["space"]["mode"] == "unallocated"
    assert [f["sha256"] for f in manifest["files"]] == [
        hashlib.sha256(files["gone.jpg"]).hexdigest()]
    whole = dalil.json("carve", str(image), str(tmp_path / "all"))
    assert len(whole["files"]) == 3
