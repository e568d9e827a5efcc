"""Hash sets: NSRL RDS v3, plain and hashdeep lists, bulk lookup, master-image builds and
per-file hashing with verdicts on a FAT image made here with mtools."""

from __future__ import annotations

import hashlib
import io
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dalil.engine.forensics.filehash import build_hash_set, hash_files
from dalil.engine.forensics.filesystem import open_file_system, select_volume
from dalil.engine.forensics.hashsets import (
    HashSetError,
    HashSetStore,
    parse_hash_list,
    parse_hashdeep,
    read_hash_file,
)
from dalil.engine.forensics.image import open_image


def digests(data: bytes) -> dict[str, str]:
    return {name: hashlib.new(name, data).hexdigest() for name in ("md5", "sha1", "sha256")}


def fat_image(tmp_path: Path, files: dict[str, bytes], deleted: tuple[str, ...] = (),
              kib: int = 8192) -> Path:
    for tool in ("mkfs.fat", "mcopy", "mmd", "mdel"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (dosfstools, mtools)")
    image = tmp_path / "fat.img"
    subprocess.run(["mkfs.fat", "-C", "-n", "EVIDENCE", str(image), str(kib)], check=True,
                   capture_output=True)
    made: set[str] = set()
    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)
    for number, (path, content) in enumerate(files.items()):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in made:
                subprocess.run(["mmd", "-i", str(image), f"::/{folder}"], check=True,
                               capture_output=True)
                made.add(folder)
        local = staging / f"f{number}"
        local.write_bytes(content)
        subprocess.run(["mcopy", "-i", str(image), str(local), f"::/{path}"], check=True,
                       capture_output=True)
    for path in deleted:
        subprocess.run(["mdel", "-i", str(image), f"::/{path}"], check=True,
                       capture_output=True)
    return image


def test_plain_list_and_lookup(tmp_path: Path) -> None:
    good, bad = digests(b"calc.exe"), digests(b"malware")
    listing = tmp_path / "known.txt"
    listing.write_text(f"# a comment\n\n{good['md5'].upper()}\n{good['sha256']}  calc.exe\n"
                       f"{good['sha1']} *calc.exe\r\n")
    (tmp_path / "bad.txt").write_text(bad["sha256"] + "\n")
    with HashSetStore(tmp_path / "sets") as store:
        info = store.import_file(listing, "os-files", "good")
        assert (info.kind, info.entries, info.known) == ("list", 3, "good")
        store.import_file(tmp_path / "bad.txt", "malware", "bad")
        found = store.lookup([good["md5"], good["sha1"].upper(), bad["sha256"],
                              digests(b"nothing")["md5"]])
        assert set(found) == {good["md5"], good["sha1"], bad["sha256"]}
        assert found[good["sha1"]][0].file_name == "calc.exe"
        assert found[bad["sha256"]][0].known == "bad"
        assert [s.name for s in store.sets()] == ["malware", "os-files"]
        with pytest.raises(ValueError, match="not an MD5"):
            store.lookup(["xyz"])
    # Stored on disk: a new store sees the same sets.
    with HashSetStore(tmp_path / "sets") as store:
        assert store.get("malware").entries == 1


def test_hashdeep_file(tmp_path: Path) -> None:
    one, two = digests(b"one"), digests(b"two")
    text = ("%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n## Invoked from: /evidence\n"
            "## $ hashdeep -c md5,sha256 -r .\n##\n"
            f"3,{one['md5']},{one['sha256']},/evidence/one, with comma.txt\n"
            f"3,{two['md5']},{two['sha256']},/evidence/two.txt\n")
    path = tmp_path / "hashes.hashdeep"
    path.write_text(text)
    entries = list(read_hash_file(path))
    assert [(e.algorithm, e.size) for e in entries] == [("md5", 3), ("sha256", 3)] * 2
    assert entries[0].name == "/evidence/one, with comma.txt"
    with HashSetStore(tmp_path / "sets") as store:
        info = store.import_file(path, "hd", "bad")
        assert (info.kind, info.entries) == ("hashdeep", 4)
        assert store.lookup([two["sha256"]])[two["sha256"]][0].set_name == "hd"


def test_nsrl_rds_v3(tmp_path: Path) -> None:
    path = tmp_path / "RDS_2024.12.1_modern_minimal.db"
    rows = [digests(b"notepad"), digests(b"kernel32"), digests(b"notepad")]
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE FILE (sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, "
                   "md5 VARCHAR NOT NULL, file_name VARCHAR NOT NULL, file_size INTEGER NOT "
                   "NULL, package_id INTEGER NOT NULL)")
        db.executemany("INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?)",
                       [(r["sha256"].upper(), r["sha1"].upper(), r["md5"].upper(),
                         f"file{i}.dll", 7, 100 + i) for i, r in enumerate(rows)])
    before = path.read_bytes()
    with HashSetStore(tmp_path / "sets") as store:
        info = store.import_file(path, "nsrl", "good")
        assert (info.kind, info.entries) == ("nsrl", 6)  # duplicates stored once
        found = store.lookup([rows[1]["md5"], rows[0]["sha256"]])
        assert found[rows[1]["md5"]][0].file_name == "file1.dll"
        assert found[rows[0]["sha256"]][0].algorithm == "sha256"
    assert path.read_bytes() == before  # the RDS is opened read-only, immutable


@pytest.mark.parametrize(("content", "message"), [
    ("d41d8cd98f00b204e9800998ecf8427e\nnot-a-hash\n", "line 2"),
    ("d41d8cd98f00b204e9800998ecf8427\n", "line 1"),  # 31 digits
    ("%%%% HASHDEEP-1.0\n%%%% size,md5,filename\n1,zz,name\n", "line 3"),
    ("%%%% HASHDEEP-1.0\n%%%% size,md5,filename\n1,d41d8cd98f00b204e9800998ecf8427e\n",
     "line 3: 2 fields, expected 3"),
    ("%%%% HASHDEEP-1.0\n%%%% size,md5,filename\nx,d41d8cd98f00b204e9800998ecf8427e,n\n",
     "size is not a number"),
    ("%%%% HASHDEEP-1.0\n5,d41d8cd98f00b204e9800998ecf8427e,n\n", "line 2: not a hashdeep"),
])
def test_malformed_lines_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "broken.txt"
    path.write_text(content)
    with HashSetStore(tmp_path / "sets") as store:
        with pytest.raises(HashSetError, match=message) as caught:
            store.import_file(path, "broken", "bad")
        assert str(path) in str(caught.value)
        assert store.sets() == []  # nothing half-imported


def test_corrupt_or_foreign_inputs(tmp_path: Path) -> None:
    garbage = tmp_path / "rds.db"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE PKG (package_id INTEGER)")
    with HashSetStore(tmp_path / "sets") as store:
        with pytest.raises(HashSetError, match=str(garbage)):
            store.import_file(garbage, "x", "good")
        with pytest.raises(HashSetError, match="no FILE table"):
            store.import_file(other, "x", "good")
        with pytest.raises(HashSetError, match="no such file"):
            store.import_file(tmp_path / "missing.txt", "x", "good")
        with pytest.raises(HashSetError, match="'good' or 'bad'"):
            store.add("x", "maybe", [], kind="list", source="-")


def test_names_are_unique_unless_replaced(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(digests(b"a")["md5"] + "\n")
    second.write_text(digests(b"b")["md5"] + "\n" + digests(b"c")["md5"] + "\n")
    with HashSetStore(tmp_path / "sets") as store:
        store.import_file(first, "set", "good")
        with pytest.raises(HashSetError, match="already exists"):
            store.import_file(second, "set", "good")
        assert store.import_file(second, "set", "bad", replace=True).entries == 2
        assert not store.lookup([digests(b"a")["md5"]])
        store.remove("set")
        assert store.sets() == []


_HEX_LENGTHS = st.sampled_from([32, 40, 64, 128])
_NAMES = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                 max_size=20).map(str.strip).filter(lambda n: not n.startswith("*"))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_HEX_LENGTHS, st.randoms(use_true_random=False), _NAMES,
                          st.booleans()), max_size=20))
def test_hash_list_parser_round_trip(rows: list) -> None:
    expected = []
    lines = []
    for length, rng, name, upper in rows:
        digest = "".join(rng.choice("0123456789abcdef") for _ in range(length))
        expected.append((digest, name or None))
        lines.append(f"{digest.upper() if upper else digest}  {name}".rstrip())
    numbered = list(enumerate(lines, start=1))
    parsed = [(e.digest, e.name) for e in parse_hash_list(numbered, "mem")]
    assert parsed == expected


@given(st.text(max_size=80))
def test_hash_list_parser_never_crashes(text: str) -> None:
    lines = list(enumerate(text.splitlines(), start=1))
    try:
        list(parse_hash_list(lines, "mem"))
        list(parse_hashdeep(lines, "mem"))
    except HashSetError as exc:
        assert str(exc).startswith("mem")


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, "JPEG")
    return buffer.getvalue()


def test_master_image_then_hash_files_with_verdicts(tmp_path: Path) -> None:
    system = {"WINDOWS/notepad.exe": b"MZ" + b"\x00" * 300, "WINDOWS/readme.txt": b"hello\n"}
    (tmp_path / "m").mkdir()
    (tmp_path / "s").mkdir()
    master = fat_image(tmp_path / "m", system)
    photo = jpeg()
    tool = b"evil tool bytes" * 100
    suspect = fat_image(tmp_path / "s", {**system, "USERS/photo.txt": photo,
                                         "USERS/tool.bin": tool, "USERS/gone.txt": b"bye"},
                        deleted=("USERS/gone.txt",))
    bad = tmp_path / "bad.txt"
    bad.write_text(hashlib.sha256(tool).hexdigest() + "  tool.bin\n")
    with HashSetStore(tmp_path / "sets") as store:
        store.import_file(bad, "tools", "bad")
        with open_image(master) as image:
            fs = open_file_system(image, select_volume(image, None))
            info = build_hash_set(store, fs, "clean-windows", "good")
        assert info.kind == "image" and info.entries == 6  # 2 files x 3 algorithms
        assert info.source.startswith(str(master))
        with open_image(suspect) as image:
            fs = open_file_system(image, select_volume(image, None))
            records = {r.entry.path: r for r in hash_files(fs, hash_sets=store)}
            with_deleted = {r.entry.path for r in hash_files(fs, include_deleted=True)}
    assert set(records) == {"WINDOWS/notepad.exe", "WINDOWS/readme.txt", "USERS/photo.txt",
                            "USERS/tool.bin"}
    assert any(p.endswith("one.txt") for p in with_deleted)  # FAT loses the first letter
    notepad = records["WINDOWS/notepad.exe"]
    assert notepad.verdict == "known-good" and notepad.matches[0].set_name == "clean-windows"
    assert notepad.hashes == digests(system["WINDOWS/notepad.exe"]) and notepad.complete
    photo_record = records["USERS/photo.txt"]
    assert photo_record.file_type.label == "jpeg" and photo_record.mismatch
    assert photo_record.verdict is None and photo_record.hashes == digests(photo)
    assert records["USERS/tool.bin"].verdict == "known-bad"
    assert not records["WINDOWS/readme.txt"].mismatch
    document = photo_record.to_dict()
    assert document["extension_mismatch"] and document["file_type"] == "jpeg"


def test_large_file_goes_through_the_threaded_hasher(tmp_path: Path, monkeypatch) -> None:
    import dalil.engine.forensics.filehash as filehash

    monkeypatch.setattr(filehash, "THREADED_ABOVE", 1000)
    big = bytes(range(256)) * 40 * 1024  # 10 MiB: several read chunks
    (tmp_path / "x").mkdir()
    image = fat_image(tmp_path / "x", {"BIG.BIN": big}, kib=16384)
    with open_image(image) as opened:
        fs = open_file_system(opened, select_volume(opened, None))
        record = next(r for r in hash_files(fs, algorithms=("md5", "sha256"))
                      if r.entry.path == "BIG.BIN")
    assert record.hashes == {"md5": hashlib.md5(big).hexdigest(),
                             "sha256": hashlib.sha256(big).hexdigest()}


@pytest.mark.shared_data
def test_master_image_from_shared_ext2(shared_data: Path, tmp_path: Path) -> None:
    image_path = shared_data / "forensics/dfvfs/ext2.E01"
    if not image_path.is_file():
        pytest.skip(f"needs {image_path}")
    with HashSetStore(tmp_path / "sets") as store:
        with open_image(image_path) as image:
            fs = open_file_system(image, select_volume(image, None))
            build_hash_set(store, fs, "dfvfs", "good")
        found = store.lookup(["39cb097008d17660abd0539891a672af",  # passwords.txt (md5)
                              "4a49638d0e1055fd9e4c17fef7fdf4d6ccf892b6d9c2f64164203c4bfb0ec92d"])
        assert found["39cb097008d17660abd0539891a672af"][0].file_name == "passwords.txt"
        assert len(found) == 2
