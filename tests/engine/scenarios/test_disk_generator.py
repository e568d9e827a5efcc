"""The disk-image generator: same seed same bytes, every planted item found and recovered
by Dalil's own walk (deleted ones too), the answer key agreeing with The Sleuth Kit's fls,
and the planted artifacts readable as what they claim to be."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import sqlite3
import struct
import subprocess
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from dalil.engine.forensics.extract import read_content
from dalil.engine.forensics.filesystem import open_file_system, select_volume
from dalil.engine.forensics.image import open_image
from dalil.engine.forensics.walk import walk
from dalil.engine.scenarios.disk import DiskError, DiskKey, build_disk

FILESYSTEMS = ["ext4", "fat32"]
SIZE_MIB = 40  # small and quick; the default (64) is exercised by the lab tests


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[Path, DiskKey]]:
    root = tmp_path_factory.mktemp("disks")
    out = {}
    for fs in FILESYSTEMS:
        path = root / f"{fs}.img"
        out[fs] = (path, build_disk(path, seed=11, filesystem=fs, size_mib=SIZE_MIB))
    return out


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_same_seed_gives_byte_identical_image_and_key(built, tmp_path, fs):
    path, key = built[fs]
    again = build_disk(tmp_path / "again.img", seed=11, filesystem=fs, size_mib=SIZE_MIB)
    assert (tmp_path / "again.img").read_bytes() == path.read_bytes()
    assert again.to_json() == key.to_json()
    assert key.image_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_size == SIZE_MIB * 1024 * 1024


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_another_seed_differs_in_every_answer(built, tmp_path, fs):
    _, a = built[fs]
    b = build_disk(tmp_path / "b.img", seed=12, filesystem=fs, size_mib=SIZE_MIB)
    assert a.image_sha256 != b.image_sha256
    assert set(a.facts["searches"]) != set(b.facts["searches"])
    assert a.facts["usb"]["serial"] != b.facts["usb"]["serial"]
    assert a.facts["photo_gps"]["latitude"] != b.facts["photo_gps"]["latitude"]
    assert a.facts["photo_gps"]["longitude"] != b.facts["photo_gps"]["longitude"]
    deleted_a = {i["name"] for i in a.items if i["deleted"]}
    deleted_b = {i["name"] for i in b.items if i["deleted"]}
    assert deleted_a != deleted_b
    assert a.item("deleted-photo")["sha256"] != b.item("deleted-photo")["sha256"]
    assert a.item("document-target")["mtime"] != b.item("document-target")["mtime"]


def test_the_key_lists_every_kind_of_planted_item(built):
    _, key = built["ext4"]
    kinds = {i["kind"] for i in key.items}
    assert {"document-target", "document", "photo-gps", "photo", "browser-history",
            "chat-export", "usb-trace", "deleted-photo", "deleted-document",
            "carved-photo", "carved-document"} <= kinds
    for item in key.items:
        assert re.fullmatch(r"[0-9a-f]{64}", item["sha256"])
        assert re.fullmatch(r"[0-9a-f]{32}", item["md5"])
        assert item["mtime"].endswith("Z")
        if item["recoverable"] == "carving":
            assert item["path"] is None and item["inode"] is None and item["offset"]
        else:
            assert item["path"] and item["inode"] > 0
    assert sum(i["deleted"] for i in key.items) >= 3
    data = json.loads(key.to_json())
    assert data["format"] == "dalil-disk-key/1" and data["filesystem"] == "ext4"


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_every_planted_item_is_found_and_recovered_by_dalils_walk(built, fs, monkeypatch):
    path, key = built[fs]
    if fs == "fat32":  # FAT stores local time; TSK reads it in the process's zone
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
    try:
        with open_image(path) as image:
            filesystem = open_file_system(image, select_volume(image, None))
            assert filesystem.kind == fs
            entries = {e.path: e for e in walk(filesystem)}
            offset = timedelta(hours=5)
            for item in key.items:
                if item["path"] is None:
                    continue
                entry = entries[item["path"]]
                assert entry.inode == item["inode"], item["path"]
                assert entry.deleted == item["deleted"], item["path"]
                assert entry.size == item["size"], item["path"]
                data = b"".join(read_content(filesystem, entry))
                assert hashlib.sha256(data).hexdigest() == item["sha256"], item["path"]
                expected = _time(item["mtime"])
                assert expected is not None
                if fs == "ext4":
                    assert entry.mtime == expected
                    assert entry.crtime == _time(item["crtime"])
                    assert entry.ctime == _time(item["ctime"])
                else:
                    assert entry.mtime is not None
                    assert entry.mtime.replace(tzinfo=None) == (
                        expected + offset).replace(tzinfo=None)
    finally:
        if fs == "fat32":
            monkeypatch.undo()
            time.tzset()


@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_carving_only_items_sit_in_unallocated_space(built, fs):
    path, key = built[fs]
    raw = path.read_bytes()
    carved = [i for i in key.items if i["recoverable"] == "carving"]
    assert len(carved) == 2
    for item in carved:
        start = item["offset"]
        assert hashlib.sha256(raw[start:start + item["size"]]).hexdigest() == item["sha256"]
        if fs == "ext4":
            block = 4096
            out = subprocess.run(["debugfs", "-R", f"testb {start // block} "
                                  f"{-(-item['size'] // block)}", str(path)],
                                 capture_output=True, text=True, check=True).stdout
            assert "marked in use" not in out and "not in use" in out
        else:
            spc, reserved, fats = raw[13], struct.unpack_from("<H", raw, 14)[0], raw[16]
            fat_sectors = struct.unpack_from("<I", raw, 36)[0]
            data_start = (reserved + fats * fat_sectors) * 512
            cluster = (start - data_start) // (spc * 512) + 2
            entry = struct.unpack_from("<I", raw, reserved * 512 + cluster * 4)[0]
            assert entry & 0x0FFFFFFF == 0


@pytest.mark.skipif(shutil.which("fls") is None, reason="sleuthkit not installed")
@pytest.mark.parametrize("fs", FILESYSTEMS)
def test_the_key_agrees_with_fls(built, fs):
    path, key = built[fs]
    listing = subprocess.run(["fls", "-r", "-p", str(path)], capture_output=True, text=True,
                             check=True).stdout
    seen = set()
    for line in listing.splitlines():
        match = re.match(r"\S+ (\*)? ?(\d+)(?:\(realloc\))?:\t(.*)$", line)
        if match:
            seen.add((int(match.group(2)), match.group(3), bool(match.group(1))))
    for item in key.items:
        if item["path"] is not None:
            assert (item["inode"], item["path"], item["deleted"]) in seen


def test_file_systems_are_clean_for_their_own_checkers(built):
    if shutil.which("e2fsck"):
        subprocess.run(["e2fsck", "-fn", str(built["ext4"][0])], capture_output=True,
                       check=True)
    if shutil.which("fsck.fat"):
        done = subprocess.run(["fsck.fat", "-n", str(built["fat32"][0])],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def _content(path: Path, key: DiskKey, kind: str) -> bytes:
    item = key.item(kind)
    with open_image(path) as image:
        filesystem = open_file_system(image, select_volume(image, None))
        entry = next(e for e in walk(filesystem) if e.path == item["path"])
        return b"".join(read_content(filesystem, entry))


def test_planted_artifacts_are_what_they_claim(built, tmp_path):
    path, key = built["ext4"]
    facts = key.facts

    history = tmp_path / "History"
    history.write_bytes(_content(path, key, "browser-history"))
    with sqlite3.connect(history) as db:
        terms = [row[0] for row in db.execute("SELECT term FROM keyword_search_terms")]
        urls = [row[0] for row in db.execute("SELECT url FROM urls")]
        times = [row[0] for row in db.execute("SELECT last_visit_time FROM urls")]
    assert sorted(terms) == sorted(facts["searches"])
    assert sum("google.com/search?q=" in u for u in urls) == len(facts["searches"])
    assert all(13_300_000_000_000_000 < t < 13_500_000_000_000_000 for t in times)

    photo = Image.open(io.BytesIO(_content(path, key, "photo-gps")))
    gps = photo.getexif().get_ifd(0x8825)

    def degrees(dms) -> float:
        return float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600

    assert abs(degrees(gps[2]) - facts["photo_gps"]["latitude"]) < 1e-5
    assert abs(degrees(gps[4]) - facts["photo_gps"]["longitude"]) < 1e-5

    log = _content(path, key, "usb-trace").decode("utf-8")
    assert facts["usb"]["usbstor_id"] in log and "Device Install" in log

    export = json.loads(_content(path, key, "chat-export"))
    assert export["chats"]["list"] and all(
        m["date_unixtime"].isdigit() for c in export["chats"]["list"] for m in c["messages"])

    document = key.item("document-target")
    with zipfile.ZipFile(io.BytesIO(_content(path, key, "document-target"))) as docx:
        core = docx.read("docProps/core.xml").decode("utf-8")
    assert f">{document['mtime']}</dcterms:modified>" in core


def test_bad_options_are_refused_with_a_clear_message(tmp_path):
    with pytest.raises(DiskError, match="unknown file system"):
        build_disk(tmp_path / "x.img", seed=1, filesystem="ntfs")
    with pytest.raises(DiskError, match="size_mib"):
        build_disk(tmp_path / "x.img", seed=1, size_mib=8)
    with pytest.raises(DiskError, match="aware"):
        build_disk(tmp_path / "x.img", seed=1, start=datetime(2025, 1, 1))
    assert not (tmp_path / "x.img").exists()


def test_start_time_pins_the_story(tmp_path):
    start = datetime(2025, 6, 1, 6, 30, tzinfo=UTC)
    key = build_disk(tmp_path / "s.img", seed=5, start=start, size_mib=SIZE_MIB)
    for item in key.items:
        assert _time(item["mtime"]) < start
    assert _time(key.facts["deleted_at_utc"]) < start
