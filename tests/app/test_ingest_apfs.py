"""The ingest walks every APFS volume of a container, each as a unit of its own (a Mac's
files are on its Data volume, not on the first): every planted file of both volumes
stored with its volume's name, path and SHA-256 from the answer key; resume inside the
second volume; the artifact step inside it; an encrypted volume recorded as a problem
while the other is walked; two volumes of one name; and an exhibit whose first volume an
earlier run stored as the volume itself. Images from :mod:`dalil.engine.scenarios.apfs`."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from ingest_contexts import InterruptAfter, Messages
from typer.testing import CliRunner

from dalil.app.cases import services as cases
from dalil.app.forensics import services
from dalil.app.forensics.models import ArtifactRecord, FileRecord, IngestProblem, IngestRun
from dalil.cli.main import app
from dalil.engine.forensics import apfs
from dalil.engine.forensics.apfs import ApfsVolumeInfo
from dalil.engine.scenarios.apfs import (
    DATA_LABEL,
    DATA_VOLUME,
    ApfsAnswerKey,
    ApfsPlant,
    ApfsVolumePlan,
    build_apfs_image,
)
from dalil.engine.scenarios.artifacts import jpeg

pytest.importorskip("pyfsapfs", reason="needs libfsapfs-python (pip install libfsapfs-python)")
if shutil.which("mkapfs") is None:
    pytest.skip("needs mkapfs (Debian apfsprogs)", allow_module_level=True)

pytestmark = pytest.mark.django_db

SYSTEM = "Macintosh HD"
PHOTO_PATH = "Users/azamat/Pictures/IMG_0001.JPG"
UNITS = [{"volume": 0, "logical_volume": SYSTEM}, {"volume": 0, "logical_volume": DATA_LABEL}]


@pytest.fixture(scope="module")
def mac(tmp_path_factory: pytest.TempPathFactory) -> ApfsAnswerKey:
    """A bare APFS container (no partition table: volume 0 at offset 0) holding ``Macintosh
    HD`` and ``Data``, with a camera photo (EXIF, GPS) among Data's files."""
    photo = jpeg(random.Random(5), taken=datetime(2024, 5, 6, 7, 8), make="Apple",
                 model="iPhone 12", gps=(42.8746, 74.5698))
    data = dataclasses.replace(DATA_VOLUME, plants=(*DATA_VOLUME.plants,
                                                    ApfsPlant(PHOTO_PATH, photo)))
    return build_apfs_image(tmp_path_factory.mktemp("apfs-ingest") / "mac.img", label=SYSTEM,
                            more_volumes=(data,))


@pytest.fixture
def case():
    return cases.create_case(number="KG-2026-044", title="Courier's laptop", actor="examiner")


def _exhibit(case, key: ApfsAnswerKey, number: str = "E1"):
    return cases.add_exhibit_from_path(case, Path(key.image), number=number, actor="examiner",
                                       type="image", description="MacBook SSD image")


def _stored(exhibit) -> list[tuple[Any, ...]]:
    return list(FileRecord.objects.filter(exhibit=exhibit).order_by(
        "volume_index", "logical_volume", "seq").values_list(
        "volume_index", "logical_volume", "seq", "inode", "path", "sha256"))


def _answers(key: ApfsAnswerKey, volume: str) -> dict[str, tuple[Any, ...]]:
    return {a.path: (a.inode, a.type, a.size, a.sha256 or None)
            for a in key.in_volume(volume)}


def _records(exhibit, unit: str) -> dict[str, tuple[Any, ...]]:
    return {r.path: (r.inode, r.type, r.size, r.sha256)
            for r in FileRecord.objects.filter(exhibit=exhibit, logical_volume=unit)}


def test_every_file_of_both_apfs_volumes_is_stored(case, mac):
    exhibit = _exhibit(case, mac)
    ctx = Messages()
    run = services.ingest_exhibit(exhibit, ctx, actor="examiner")
    assert run.status == "succeeded", run.error
    assert not IngestProblem.objects.filter(exhibit=exhibit).exists()
    assert run.completed_volumes == UNITS
    assert services.completed_volumes(exhibit) == {(0, SYSTEM), (0, DATA_LABEL)}
    # Progress is shown at most every 0.1 s: the first unit's is sure to be.
    assert any(m.startswith(f"volume 0, APFS volume {SYSTEM} (apfs): ") for m in ctx.seen), \
        ctx.seen

    for name in (SYSTEM, DATA_LABEL):
        assert _records(exhibit, name) == _answers(mac, name), name
        records = FileRecord.objects.filter(exhibit=exhibit, logical_volume=name)
        assert {(r.volume_index, r.volume_offset, r.fs_type) for r in records} == {
            (0, 0, "apfs")}  # the container's place in the image
        assert sorted(r.seq for r in records) == list(range(len(records)))
        # The same entries as `dalil fs ls --logical NAME` lists.
        listed = CliRunner().invoke(app, ["fs", "ls", mac.image, "-r", "--json",
                                          "--logical", name])
        assert listed.exit_code == 0, listed.output
        assert sorted((r["path"], r["inode"]) for r in json.loads(listed.stdout)) == sorted(
            (r.path, r.inode) for r in records)
    assert not FileRecord.objects.filter(exhibit=exhibit, logical_volume="").exists()
    summary = services.summary(run)
    assert summary["problems"] == [] and summary["total_records"] == run.entries


def test_an_ingest_interrupted_inside_the_second_volume_resumes(case, mac):
    exhibit = _exhibit(case, mac)
    # Batches of 3: Macintosh HD (4 entries) makes one whole batch, Data the next ones.
    with pytest.raises(KeyboardInterrupt):
        services.ingest_exhibit(exhibit, InterruptAfter(2), actor="examiner", batch_size=3)
    first = IngestRun.objects.get(exhibit=exhibit)
    assert first.status == "interrupted" and first.completed_volumes == [UNITS[0]]
    data = FileRecord.objects.filter(exhibit=exhibit, logical_volume=DATA_LABEL)
    assert sorted(data.values_list("seq", flat=True)) == [0, 1, 2]

    # Stopped again, further into Data.
    with pytest.raises(KeyboardInterrupt):
        services.ingest_exhibit(exhibit, InterruptAfter(2), actor="examiner", batch_size=3)
    assert services.completed_volumes(exhibit) == {(0, SYSTEM)}
    partial = data.count()
    assert partial == 9

    last = services.ingest_exhibit(exhibit, actor="examiner", batch_size=3)
    assert last.status == "succeeded" and last.skipped > 0
    assert data.count() == len(mac.in_volume(DATA_LABEL)) > partial
    resumed = _stored(exhibit)
    for name in (SYSTEM, DATA_LABEL):
        seqs = [row[2] for row in resumed if row[1] == name]
        assert seqs == list(range(len(seqs)))  # no gap, no double
        assert _records(exhibit, name) == _answers(mac, name)

    clean = _exhibit(case, mac, number="E2")
    services.ingest_exhibit(clean, actor="examiner")
    assert resumed == _stored(clean)

    again = services.ingest_exhibit(exhibit, actor="examiner")
    assert again.entries == 0 and again.skipped == len(resumed)


def test_the_artifact_step_reads_a_photo_in_the_data_volume(case, mac):
    exhibit = _exhibit(case, mac)
    services.ingest_exhibit(exhibit, actor="examiner")
    photo = ArtifactRecord.objects.get(exhibit=exhibit, kind="exif")
    assert photo.record.logical_volume == DATA_LABEL and photo.record.path == PHOTO_PATH
    assert (photo.data["make"], photo.data["model"]) == ("Apple", "iPhone 12")
    assert photo.data["gps_latitude"] == pytest.approx(42.8746, abs=1e-4)


def test_an_encrypted_apfs_volume_is_a_problem_and_the_other_is_walked(case, mac,
                                                                     monkeypatch):
    # mkapfs makes no encrypted volume: the container reports Data locked (the walk's
    # child process is forked, so it sees the same).
    listed = apfs._Container.volumes

    def data_locked(self: apfs._Container) -> list[tuple[ApfsVolumeInfo, Any]]:
        return [(dataclasses.replace(info, encrypted=info.name == DATA_LABEL), handle)
                for info, handle in listed(self)]

    monkeypatch.setattr(apfs._Container, "volumes", data_locked)
    exhibit = _exhibit(case, mac)
    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.status == "succeeded" and run.errors == 1
    assert run.completed_volumes == [UNITS[0]]
    problem = IngestProblem.objects.get(exhibit=exhibit)
    assert (problem.kind, problem.volume_index, problem.volume_offset,
            problem.logical_volume) == ("volume", 0, 0, DATA_LABEL)
    assert problem.message == (
        f"exhibit {exhibit}, volume 0 at offset 0, APFS volume Data: encrypted APFS volume "
        "1 'Data': supply --password or --recovery-password to read it (dalil fs ... "
        "--logical Data); not walked")
    assert _records(exhibit, SYSTEM) == _answers(mac, SYSTEM)
    assert not FileRecord.objects.filter(exhibit=exhibit, logical_volume=DATA_LABEL).exists()

    again = services.ingest_exhibit(exhibit, actor="examiner")  # still locked: one problem
    assert again.status == "succeeded" and again.entries == 0
    assert IngestProblem.objects.filter(exhibit=exhibit).count() == 1


def test_two_apfs_volumes_of_one_name_are_stored_apart(case, tmp_path):
    twin = ApfsVolumePlan(DATA_LABEL, "a9f50000-da11-4000-8000-0000000000b3",
                          (ApfsPlant("notes.txt", b"in the second Data volume\n"),))
    key = build_apfs_image(tmp_path / "twins.img", label=DATA_LABEL,
                           plants=(ApfsPlant("notes.txt", b"in the first\n"),),
                           more_volumes=(twin,))
    exhibit = _exhibit(case, key)
    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.status == "succeeded", run.error
    assert run.completed_volumes == [{"volume": 0, "logical_volume": "Data#0"},
                                     {"volume": 0, "logical_volume": "Data#1"}]
    first, second = (FileRecord.objects.get(exhibit=exhibit, logical_volume=unit,
                                            path="notes.txt") for unit in ("Data#0", "Data#1"))
    assert (first.sha256, second.sha256) == (key.entries[0].sha256, key.entries[1].sha256)
    assert first.sha256 != second.sha256
    assert b"".join(services.iter_content(second)) == b"in the second Data volume\n"


def test_a_volume_name_of_255_bytes_is_stored_whole(case, tmp_path):
    """APFS allows 255 bytes of name (and a unit may add "#index"): PostgreSQL refuses a
    value over the column's length, so the column must hold it."""
    long_name = "Evidence " + "x" * 246
    plan = ApfsVolumePlan(long_name, "a9f50000-da11-4000-8000-0000000000b4",
                          (ApfsPlant("notes.txt", b"in a volume with a long name\n"),))
    key = build_apfs_image(tmp_path / "long.img", more_volumes=(plan,))
    exhibit = _exhibit(case, key)
    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.status == "succeeded", run.error
    record = FileRecord.objects.get(exhibit=exhibit, path="notes.txt")
    assert len(long_name.encode()) == 255 and record.logical_volume == long_name


def test_a_first_volume_stored_as_the_volume_itself_is_not_stored_again(case, mac,
                                                                        monkeypatch):
    # As runs did before APFS volumes were walk units: the first volume, as volume 0.
    monkeypatch.setattr(services, "_apfs_units", lambda state, image, volume: [
        services._WalkUnit()])
    exhibit = _exhibit(case, mac)
    older = services.ingest_exhibit(exhibit, actor="examiner")
    assert older.completed_volumes == [0]
    monkeypatch.undo()

    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.status == "succeeded", run.error
    assert run.completed_volumes == [UNITS[1]]
    assert _records(exhibit, "") == _answers(mac, SYSTEM)
    assert _records(exhibit, DATA_LABEL) == _answers(mac, DATA_LABEL)
    assert not FileRecord.objects.filter(exhibit=exhibit, logical_volume=SYSTEM).exists()
    note = FileRecord.objects.get(exhibit=exhibit, logical_volume="", path="ransom_note.txt")
    assert b"".join(services.iter_content(note)).startswith(b"Send 0.5 BTC")
