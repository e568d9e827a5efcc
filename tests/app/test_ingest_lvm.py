"""The ingest walks the LVM2 logical volumes of an exhibit's image, each as a unit of its
own: every file stored with its LV's name and hashes, resume within an LV, the artifact
step inside an LV, and damaged LVM metadata or an unreadable LV recorded while the other
volumes are walked. Images from :mod:`dalil.engine.scenarios.lvm`."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ingest_contexts import InterruptAfter, Messages
from typer.testing import CliRunner

from dalil.app.cases import services as cases
from dalil.app.forensics import services
from dalil.app.forensics.models import ArtifactRecord, FileRecord, IngestProblem, IngestRun
from dalil.cli.main import app
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.volume import file_system_volumes
from dalil.engine.scenarios.artifacts import jpeg
from dalil.engine.scenarios.lvm import (
    MIB,
    BuiltPhysicalVolume,
    PlantedFile,
    build_lvm_image,
    default_volumes,
    tools_missing,
    with_volume_blanked,
)

pytestmark = pytest.mark.django_db

SEED = 23
PHOTO_PATH = "DCIM/IMG_0001.JPG"
PV_INDEX = 2  # mmls slot of the MBR's only partition (0: the table, 1: the gap before it)


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def _volumes() -> list:
    """The generator's two LVs (``root``: ext4 in two segments; ``exchange``: FAT32), with
    a camera photo (EXIF, GPS) added to ``exchange``."""
    root, exchange = default_volumes(SEED)
    photo = jpeg(random.Random(SEED), taken=datetime(2024, 3, 4, 14, 5), make="Canon",
                 model="EOS 200D", gps=(43.2389, 76.8897))
    planted = PlantedFile(PHOTO_PATH, photo, datetime(2024, 3, 4, 9, 10, tzinfo=UTC))
    return [root, dataclasses.replace(exchange, files=(*exchange.files, planted))]


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> BuiltPhysicalVolume:
    """An MBR disk whose partition (type 0x8e) is an LVM2 PV holding ``root`` and
    ``exchange``."""
    volumes = _volumes()
    _need("sfdisk", *tools_missing(volumes))
    return build_lvm_image(tmp_path_factory.mktemp("lvm-ingest") / "disk.img", seed=SEED,
                           volumes=volumes, mbr=True)


@pytest.fixture
def case():
    return cases.create_case(number="KZ-2026-031", title="Warehouse server", actor="examiner")


def _exhibit(case, image: Path, number: str = "E1"):
    return cases.add_exhibit_from_path(case, image, number=number, actor="examiner",
                                       type="image", description="server disk")


def _stored(exhibit) -> list[tuple]:
    return list(FileRecord.objects.filter(exhibit=exhibit).order_by(
        "volume_index", "logical_volume", "seq").values_list(
        "volume_index", "logical_volume", "seq", "inode", "path", "sha256"))


def test_every_file_of_each_logical_volume_is_stored(case, disk):
    exhibit = _exhibit(case, disk.path)
    ctx = Messages()
    run = services.ingest_exhibit(exhibit, ctx, actor="examiner")
    assert run.status == "succeeded", run.error
    assert not IngestProblem.objects.filter(exhibit=exhibit).exists()
    assert run.completed_volumes == [
        {"volume": PV_INDEX, "logical_volume": "root"},
        {"volume": PV_INDEX, "logical_volume": "exchange"}]
    assert services.completed_volumes(exhibit) == {(PV_INDEX, "root"), (PV_INDEX, "exchange")}
    assert any(m.startswith(f"volume {PV_INDEX}, LV root (ext4): ") for m in ctx.seen), ctx.seen

    for volume in disk.volumes:
        records = FileRecord.objects.filter(exhibit=exhibit, logical_volume=volume.name)
        assert {r.fs_type for r in records} == {volume.filesystem}
        assert {(r.volume_index, r.volume_offset) for r in records} == {
            (PV_INDEX, disk.pv_offset)}  # the PV's place in the image
        by_path = {r.path: r for r in records}
        for planted in volume.files:
            record = by_path[planted.path]
            assert record.sha256 == planted.sha256 and record.size == len(planted.data)
        # The same entries as `dalil fs ls --logical NAME` lists, in the same walk.
        listed = CliRunner().invoke(app, ["fs", "ls", str(disk.path), "-r", "--json",
                                          "--volume", str(PV_INDEX), "--logical", volume.name])
        assert listed.exit_code == 0, listed.output
        assert sorted((r["path"], r["inode"]) for r in json.loads(listed.stdout)) == sorted(
            (r.path, r.inode) for r in records)
        assert sorted(r.seq for r in records) == list(range(len(records)))

    summary = services.summary(run)
    assert summary["problems"] == [] and summary["total_records"] == run.entries


def test_an_ingest_interrupted_inside_a_logical_volume_resumes(case, disk):
    exhibit = _exhibit(case, disk.path)
    with pytest.raises(KeyboardInterrupt):
        services.ingest_exhibit(exhibit, InterruptAfter(2), actor="examiner", batch_size=3)
    first = IngestRun.objects.get(exhibit=exhibit)
    assert first.status == "interrupted" and first.completed_volumes == []
    assert [row[1:3] for row in _stored(exhibit)] == [("root", seq) for seq in range(6)]

    # Stopped again, this time inside the second LV: root is finished by now.
    with pytest.raises(KeyboardInterrupt):
        services.ingest_exhibit(exhibit, InterruptAfter(2), actor="examiner", batch_size=3)
    assert services.completed_volumes(exhibit) == {(PV_INDEX, "root")}
    in_exchange = FileRecord.objects.filter(exhibit=exhibit, logical_volume="exchange")
    partial = in_exchange.count()

    last = services.ingest_exhibit(exhibit, actor="examiner", batch_size=3)
    assert last.status == "succeeded" and last.skipped > 0
    assert 0 < partial < in_exchange.count()
    resumed = _stored(exhibit)
    for name in ("root", "exchange"):
        seqs = [row[2] for row in resumed if row[1] == name]
        assert seqs == list(range(len(seqs)))  # no gap, no double

    clean = _exhibit(case, disk.path, number="E2")
    services.ingest_exhibit(clean, actor="examiner")
    assert resumed == _stored(clean)

    again = services.ingest_exhibit(exhibit, actor="examiner")
    assert again.entries == 0 and again.skipped == len(resumed)


def test_the_artifact_step_reads_a_photo_inside_a_logical_volume(case, disk):
    exhibit = _exhibit(case, disk.path)
    services.ingest_exhibit(exhibit, actor="examiner")
    photo = ArtifactRecord.objects.get(exhibit=exhibit, kind="exif")
    assert photo.record.logical_volume == "exchange" and photo.record.path == PHOTO_PATH
    assert photo.data["make"] == "Canon" and photo.data["model"] == "EOS 200D"
    assert photo.data["gps_latitude"] == pytest.approx(43.2389, abs=1e-4)
    assert photo.data["taken_local"] == "2024:03:04 14:05:00", photo.data


def test_an_unreadable_logical_volume_is_a_problem_and_the_others_are_walked(case, disk,
                                                                            tmp_path):
    damaged = with_volume_blanked(disk, 1, tmp_path / "damaged.img")  # exchange's FAT gone
    exhibit = _exhibit(case, damaged)
    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.status == "succeeded" and run.errors == 1
    problem = IngestProblem.objects.get(exhibit=exhibit)
    assert (problem.kind, problem.volume_index, problem.volume_offset,
            problem.logical_volume) == ("volume", PV_INDEX, disk.pv_offset, "exchange")
    assert problem.message.startswith(
        f"exhibit {exhibit}, volume {PV_INDEX} at offset {disk.pv_offset}, LVM logical "
        "volume exchange: ")
    assert "no readable file system" in problem.message and "ingest-" not in problem.message
    assert services.summary(run)["problems"][0]["logical_volume"] == "exchange"
    root = {r.path: r.sha256 for r in FileRecord.objects.filter(exhibit=exhibit)}
    assert {p.path: p.sha256 for p in disk.volumes[0].files}.items() <= root.items()
    assert not FileRecord.objects.filter(exhibit=exhibit, logical_volume="exchange").exists()


def _two_partitions(folder: Path, pv: BuiltPhysicalVolume) -> tuple[Path, int]:
    """An MBR disk: the bare PV ``pv`` as its first partition (type 0x8e, at 1 MiB), then
    an ext4 partition holding ``docs/note.txt``; returns the disk and the PV's offset."""
    tree = folder / "tree"
    (tree / "docs").mkdir(parents=True)
    (tree / "docs" / "note.txt").write_bytes(b"meet at the border\n")
    ext4 = folder / "ext4.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-b", "1024", "-d", str(tree), str(ext4),
                    "4M"], check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    ext4_offset = MIB + pv.pv_size
    disk = folder / "two.img"
    with open(disk, "wb") as handle:
        handle.truncate(ext4_offset + 4 * MIB)
    table = (f"label: dos\nstart=2048, size={pv.pv_size // 512}, type=8e\n"
             f"start={ext4_offset // 512}, size={4 * MIB // 512}, type=83\n")
    subprocess.run(["sfdisk", "-q", str(disk)], input=table.encode(), check=True,
                   capture_output=True)
    with open(disk, "r+b") as handle:
        handle.seek(MIB)
        handle.write(pv.path.read_bytes())
        handle.seek(ext4_offset)
        handle.write(ext4.read_bytes())
    return disk, MIB


def test_damaged_lvm_metadata_is_a_problem_and_the_next_volume_is_walked(case, tmp_path):
    _need("mke2fs", "sfdisk", *tools_missing(default_volumes(SEED)))
    pv = build_lvm_image(tmp_path / "pv.img", seed=SEED)
    disk, pv_offset = _two_partitions(tmp_path, pv)
    data = bytearray(disk.read_bytes())
    data[pv_offset + 4608 + 20] ^= 0x20  # inside the VG's text metadata
    disk.write_bytes(bytes(data))
    with open_image(disk) as image:
        [pv_volume, ext4_volume] = file_system_volumes(image)
    assert pv_volume.offset == pv_offset

    exhibit = _exhibit(case, disk)
    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.status == "succeeded" and run.completed_volumes == [ext4_volume.index]
    problem = IngestProblem.objects.get(exhibit=exhibit)
    assert (problem.kind, problem.volume_index, problem.volume_offset,
            problem.logical_volume) == ("volume", pv_volume.index, pv_offset, "")
    assert problem.message == (
        f"exhibit {exhibit}, volume {pv_volume.index} at offset {pv_offset}: two.img: LVM "
        f"physical volume at offset {pv_offset}: LVM metadata text at PV offset 4608: CRC "
        "mismatch")
    note = FileRecord.objects.get(exhibit=exhibit, path="docs/note.txt")
    assert note.volume_index == ext4_volume.index and note.logical_volume == ""
    assert not FileRecord.objects.filter(exhibit=exhibit, volume_index=pv_volume.index).exists()
