"""Against real images from dfVFS and the Sleuth Kit: Debian's fls is the reference."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from dalil.engine.forensics.extract import extract_all, find_by_path, read_content
from dalil.engine.forensics.filesystem import open_file_system, select_volume
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.timeline import bodyfile
from dalil.engine.forensics.walk import walk

pytestmark = pytest.mark.shared_data

# (image, volume) pairs that TSK plus our containers can open. QCOW2 goes through pyqcow,
# which Debian's fls cannot read: that one is compared on a raw copy (below).
IMAGES = [
    ("dfvfs/ext2.splitraw.000", None), ("dfvfs/ext2.E01", None), ("dfvfs/ext2.vmdk", None),
    ("dfvfs/hfsplus.raw", None), ("dfvfs/iso9660.raw", None), ("dfvfs/imynd.dd", None),
    ("dfvfs/image.vhd", None), ("tsk/image.dd", None), ("tsk/image.E01", None),
    ("tsk/image.vmdk", None), ("tsk/imageformat_mmls_1.E01", 2),
    ("tsk/imageformat_mmls_1.E01", 3),
]
SHARED_FILES = {
    "a_directory/a_file": ("85bebf486af24792085f769afa46717d",
                           "4a49638d0e1055fd9e4c17fef7fdf4d6ccf892b6d9c2f64164203c4bfb0ec92d"),
    "a_directory/another_file": ("d54ff73404ed6041a3bd66850b061bff",
                                 "c7fbc0e821c0871805a99584c6a384533909f68a6bbe9a2a687d28d9f3b10c16"),
    "passwords.txt": ("39cb097008d17660abd0539891a672af",
                      "02a2a6af2f1ecf4720d7d49d640f0d0a269a7ec733e41973bdd34f09dad0e252"),
}


def fls(*args: str) -> list[str]:
    result = subprocess.run(["fls", *args], capture_output=True, check=True)
    return result.stdout.decode("utf-8", "replace").splitlines()


def fls_form(entry) -> str:
    realloc = "(realloc)" if entry.reallocated else ""
    return (f"{entry.name_type}/{entry.meta_type or '-'} {'* ' if entry.deleted else ''}"
            f"{entry.address}{realloc}:\t{entry.path}")


def open_fs(path: Path, volume: int | None):
    image = open_image(path)
    return image, open_file_system(image, select_volume(image, volume))


def offset_args(fs) -> list[str]:
    return ["-o", str(fs.volume.start_sector)] if fs.volume.table != "none" else []


@pytest.mark.parametrize(("name", "volume"), IMAGES)
def test_walk_matches_fls(shared_data: Path, name: str, volume: int | None) -> None:
    path = shared_data / "forensics" / name
    image, fs = open_fs(path, volume)
    with image:
        mine = [fls_form(e) for e in walk(fs)]
    assert mine == fls("-r", "-p", *offset_args(fs), str(path))
    assert mine  # not vacuous


@pytest.mark.parametrize(("name", "volume"), IMAGES)
def test_bodyfile_matches_fls_m(shared_data: Path, name: str, volume: int | None) -> None:
    path = shared_data / "forensics" / name
    image, fs = open_fs(path, volume)
    with image:
        mine = list(bodyfile(fs))
    assert mine == fls("-r", "-m", "/", *offset_args(fs), str(path))


def test_bodyfile_against_dfvfs_expected(shared_data: Path) -> None:
    # dfVFS's mactime.body was made from image.vhd by another TSK version: every line on
    # which Debian's fls agrees with it, we agree with too.
    path = shared_data / "forensics/dfvfs/image.vhd"
    expected = (shared_data / "forensics/dfvfs/mactime.body").read_text().splitlines()
    reference = set(fls("-r", "-m", "/", str(path)))
    image, fs = open_fs(path, None)
    with image:
        mine = set(bodyfile(fs))
    agreed = [line for line in expected if line in reference]
    assert len(agreed) >= 7
    assert all(line in mine for line in agreed)


def test_qcow2_ntfs_matches_fls_on_raw_copy(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "forensics/dfvfs/windows_volume.qcow2"
    raw = tmp_path / "windows_volume.raw"
    with open_image(path) as image, open(raw, "wb") as copy:
        for offset in range(0, image.size, 1 << 20):
            copy.write(image.read(offset, 1 << 20))
    image, fs = open_fs(path, None)
    with image:
        mine = [fls_form(e) for e in walk(fs)]
        entry = find_by_path(fs, "Windows/System32/config/syslog")
        content = b"".join(read_content(fs, entry))
        assert [find_by_path(fs, p).inode for p in ("Windows", "Windows/System32",
                                                    "Windows/System32/config")] == [64, 65, 66]
    assert mine == fls("-r", "-p", str(raw))
    assert entry.inode == 67
    assert hashlib.md5(content).hexdigest() == "8b32710e60ce9f650b8b4dcc2b3ee927"


@pytest.mark.parametrize("name", ["dfvfs/ext2.splitraw.000", "dfvfs/ext2.E01",
                                  "dfvfs/ext2.qcow2", "dfvfs/ext2.vmdk", "dfvfs/hfsplus.raw",
                                  "dfvfs/imynd.dd", "dfvfs/image.vhd", "tsk/image.E01",
                                  "tsk/image.qcow", "tsk/image.vmdk"])
def test_extracted_files_hash_to_ground_truth(shared_data: Path, tmp_path: Path,
                                              name: str) -> None:
    image, fs = open_fs(shared_data / "forensics" / name, None)
    with image:
        records = {r.path: r for r in extract_all(fs, tmp_path / "out", include_deleted=True)}
    for rel, (md5, sha256) in SHARED_FILES.items():
        if rel not in records:  # imynd.dd and image.vhd put another_file elsewhere
            rel = next(p for p in records if p.endswith(rel.rsplit("/", 1)[-1]))
        record = records[rel]
        assert (record.md5, record.sha256, record.complete) == (md5, sha256, True)
        data = (tmp_path / "out" / record.output).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256
        assert record.image.endswith(name) and record.volume_offset == 0


def test_ground_truth_inodes(shared_data: Path) -> None:
    expected = {"dfvfs/ext2.E01": {"a_directory": 12, "a_directory/a_file": 13,
                                   "passwords.txt": 14, "a_directory/another_file": 15,
                                   "a_link": 16},
                "dfvfs/hfsplus.raw": {"a_directory": 18, "a_directory/a_file": 19,
                                      "passwords.txt": 20, "a_directory/another_file": 21,
                                      "a_link": 22, "a_directory/a_resourcefork": 25},
                "dfvfs/iso9660.raw": {"A_DIRECTORY": 1, "PASSWORDS.TXT": 3,
                                      "A_DIRECTORY/ANOTHER_FILE": 4, "A_DIRECTORY/A_FILE": 5}}
    for name, inodes in expected.items():
        image, fs = open_fs(shared_data / "forensics" / name, None)
        with image:
            found = {e.path: e.inode for e in walk(fs)}
        assert {p: found[p] for p in inodes} == inodes


def test_ewf_metadata_and_stored_hashes(shared_data: Path) -> None:
    with open_image(shared_data / "forensics/dfvfs/ext2.E01") as image:
        assert image.info.container == "ewf"
        assert image.info.stored_hashes["md5"] == "196066add11fb71c4c49cf1bb50d6d24"
        assert image.info.metadata["case_number"] == "case"
        assert image.info.metadata["examiner_name"] == "examiner"
        media = hashlib.md5()
        for offset in range(0, image.size, 1 << 20):
            media.update(image.read(offset, 1 << 20))
        assert media.hexdigest() == image.info.stored_hashes["md5"]
    with open_image(shared_data / "forensics/tsk/imageformat_mmls_1.E01") as image:
        assert image.info.stored_hashes == {"md5": "8ec671e301095c258224aad701740503",
                                            "sha1": "067bc6ab29685ee19b0cf82c9d15ac510d1e7d95"}


@pytest.mark.parametrize("name", ["dfvfs/ext2.splitraw.000", "dfvfs/ext2.qcow2",
                                  "dfvfs/ext2.vmdk", "dfvfs/ext2.E01"])
def test_every_container_gives_the_same_media(shared_data: Path, name: str) -> None:
    with open_image(shared_data / "forensics" / name) as image:
        media = hashlib.md5()
        for offset in range(0, image.size, 1 << 20):
            media.update(image.read(offset, 1 << 20))
    assert media.hexdigest() == "196066add11fb71c4c49cf1bb50d6d24"


def test_partition_offsets(shared_data: Path) -> None:
    from dalil.engine.forensics.volume import file_system_volumes

    with open_image(shared_data / "forensics/tsk/imageformat_mmls_1.E01") as image:
        volumes = file_system_volumes(image)
    assert [(v.index, v.start_sector, v.offset) for v in volumes] == [
        (2, 128, 65536), (3, 55424, 55424 * 512)]
