"""A container of several APFS volumes (a Mac's system volume and its Data volume), made
by the scenario generator: libfsapfs lists every volume with its name and UUID and reads
each volume's own files; apfsck accepts it; the same arguments give the same bytes; each
volume is reopened by its walk-unit name (duplicate names told apart by index), and
without ``--logical`` the first volume is still the one opened."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dalil.engine.forensics import apfs
from dalil.engine.forensics.apfs import ApfsVolumeInfo, unit_names
from dalil.engine.forensics.extract import find_by_path, read_content
from dalil.engine.forensics.filesystem import (
    FileSystem,
    FileSystemError,
    open_file_system,
    open_volume_file_system,
    select_file_system,
    select_volume,
)
from dalil.engine.forensics.image import Image, open_image
from dalil.engine.forensics.walk import WalkProblem, walk
from dalil.engine.scenarios.apfs import (
    DATA_LABEL,
    DATA_UUID,
    DATA_VOLUME,
    DEFAULT_SIZE,
    VOLUME_ROOM,
    VOLUME_UUID,
    ApfsAnswerKey,
    ApfsPlant,
    ApfsScenarioError,
    ApfsVolumePlan,
    build_apfs_image,
)

pytest.importorskip("pyfsapfs", reason="needs libfsapfs-python (pip install libfsapfs-python)")
if shutil.which("mkapfs") is None:
    pytest.skip("needs mkapfs (Debian apfsprogs)", allow_module_level=True)

SYSTEM = "Macintosh HD"


@pytest.fixture(scope="module")
def mac(tmp_path_factory: pytest.TempPathFactory) -> ApfsAnswerKey:
    return build_apfs_image(tmp_path_factory.mktemp("apfs-mac") / "mac.img", label=SYSTEM,
                            more_volumes=(DATA_VOLUME,))


@pytest.fixture
def image(mac: ApfsAnswerKey) -> Iterator[Image]:
    with open_image(mac.image) as opened:
        yield opened


def _listing(fs: FileSystem) -> dict[str, tuple[int, str, int, str]]:
    """path -> (inode, type, size, SHA-256 of the content read back; "" for a folder)."""
    problems: list[WalkProblem] = []
    found = {}
    for entry in walk(fs, on_problem=problems.append):
        digest = ""
        if entry.type == "file":
            digest = hashlib.sha256(b"".join(read_content(fs, entry))).hexdigest()
        found[entry.path] = (entry.inode, entry.type, entry.size, digest)
    assert not problems
    return found


def _expected(key: ApfsAnswerKey, volume: str) -> dict[str, tuple[int, str, int, str]]:
    return {a.path: (a.inode, a.type, a.size, a.sha256) for a in key.in_volume(volume)}


def test_both_volumes_are_listed_with_their_names_and_uuids(mac: ApfsAnswerKey,
                                                            image: Image) -> None:
    assert mac.size == DEFAULT_SIZE + VOLUME_ROOM == image.size
    info = apfs.container_info(image, select_volume(image, None))
    assert [v.to_dict() for v in info.volumes] == [
        {"index": 0, "name": SYSTEM, "identifier": mac.volume_uuid, "encrypted": False},
        {"index": 1, "name": DATA_LABEL, "identifier": DATA_UUID, "encrypted": False}]
    assert [(v.index, v.name, v.uuid) for v in mac.volumes] == [
        (0, SYSTEM, mac.volume_uuid), (1, DATA_LABEL, DATA_UUID)]


def test_each_volume_reads_its_own_files(mac: ApfsAnswerKey, image: Image) -> None:
    volume = select_volume(image, None)
    for name in (SYSTEM, DATA_LABEL):
        fs = open_volume_file_system(image, volume, name)
        assert (fs.kind, fs.tsk.info.name) == ("apfs", name)
        assert _listing(fs) == _expected(mac, name), name
    # Both volumes hold a ransom_note.txt: each reads its own content.
    notes = {name: mac.entry("ransom_note.txt", name).sha256 for name in (SYSTEM, DATA_LABEL)}
    assert len(set(notes.values())) == 2
    for name, digest in notes.items():
        fs = select_file_system(image, None, name)
        content = b"".join(read_content(fs, find_by_path(fs, "ransom_note.txt")))
        assert hashlib.sha256(content).hexdigest() == digest


def test_without_logical_the_first_volume_is_opened(mac: ApfsAnswerKey, image: Image) -> None:
    volume = select_volume(image, None)
    for fs in (open_file_system(image, volume), open_volume_file_system(image, volume),
               select_file_system(image, None, None)):
        assert fs.tsk.info.name == SYSTEM
    assert select_file_system(image, None, "1").tsk.info.name == DATA_LABEL
    with pytest.raises(FileSystemError, match=r"APFS container at offset 0: no volume "
                                              r"'Recovery' \(volumes: 0 'Macintosh HD', "
                                              r"1 'Data'\)"):
        open_volume_file_system(image, volume, "Recovery")


def test_the_same_arguments_give_the_same_bytes(mac: ApfsAnswerKey, tmp_path: Path) -> None:
    again = build_apfs_image(tmp_path / "again.img", label=SYSTEM, more_volumes=(DATA_VOLUME,))
    assert again.entries == mac.entries
    assert Path(again.image).read_bytes() == Path(mac.image).read_bytes()
    other = build_apfs_image(tmp_path / "other.img", label=SYSTEM, more_volumes=(
        ApfsVolumePlan(DATA_LABEL, DATA_UUID, (ApfsPlant("a.txt", b"another file\n"),)),))
    assert Path(other.image).read_bytes() != Path(mac.image).read_bytes()


@pytest.mark.skipif(shutil.which("apfsck") is None, reason="needs apfsck (Debian apfsprogs)")
def test_apfsck_finds_nothing_to_report(mac: ApfsAnswerKey, tmp_path: Path) -> None:
    single = build_apfs_image(tmp_path / "single.img")
    for path in (mac.image, single.image):
        # -c crash signs, -u unsupported features, -w unexplained inconsistencies too.
        result = subprocess.run(["apfsck", "-cuw", str(path)], capture_output=True,
                                text=True, check=False)
        assert (result.returncode, result.stdout + result.stderr) == (0, ""), path


def test_volumes_of_one_name_are_told_apart_by_index(tmp_path: Path) -> None:
    twin = ApfsVolumePlan(DATA_LABEL, "a9f50000-da11-4000-8000-0000000000b3",
                          (ApfsPlant("twin.txt", b"the second Data\n"),))
    key = build_apfs_image(tmp_path / "twins.img", plants=(ApfsPlant("one.txt", b"first\n"),),
                           label=DATA_LABEL, more_volumes=(twin,))
    with open_image(key.image) as image:
        volume = select_volume(image, None)
        info = apfs.container_info(image, volume)
        assert unit_names(info.volumes) == ["Data#0", "Data#1"]
        for unit, index, path in (("Data#0", 0, "one.txt"), ("Data#1", 1, "twin.txt")):
            fs = open_volume_file_system(image, volume, unit)
            assert fs.tsk.info.index == index
            assert [entry.path for entry in walk(fs)] == [path]
        # By name alone, the first of them, as `--logical Data` always did.
        assert select_file_system(image, None, DATA_LABEL).tsk.info.index == 0


@pytest.mark.parametrize(("names", "units"), [
    (["Macintosh HD", "Data"], ["Macintosh HD", "Data"]),
    (["Data", "Data", ""], ["Data#0", "Data#1", "#2"]),
    # A volume really called "Data#1" keeps its name; the twin gets another one.
    (["Data", "Data", "Data#1"], ["Data#0", "Data#1#1", "Data#1"]),
    (["1", "0"], ["1", "0"]),
])
def test_unit_names_are_distinct_and_keep_unique_names(names: list[str],
                                                       units: list[str]) -> None:
    volumes = [ApfsVolumeInfo(index, name, "", False) for index, name in enumerate(names)]
    assert unit_names(volumes) == units


def test_two_volumes_with_one_uuid_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ApfsScenarioError, match="two volumes share a UUID"):
        build_apfs_image(tmp_path / "bad.img", more_volumes=(
            ApfsVolumePlan(DATA_LABEL, VOLUME_UUID.upper(), ()),))
    assert not (tmp_path / "bad.img").exists()
