"""`dalil case`, `dalil evidence add` and `dalil custody` from a shell."""

from __future__ import annotations

import hashlib


def test_create_case_add_evidence_and_show_custody(dalil, tmp_path):
    created = dalil.json("case", "create", "--number", "KG-77", "--title", "Ransomware",
                         "--authority-type", "warrant", "--jurisdiction", "kg")
    assert created["number"] == "KG-77" and created["jurisdiction"] == "KG"
    source = tmp_path / "usb.dd"
    source.write_bytes(bytes(range(256)) * 4096)
    added = dalil.json("evidence", "add", "KG-77", str(source), "--exhibit", "E1",
                       "--seized-by", "Sgt. Asanov", "--seized-where", "Osh", "--seal", "KG-S-19")
    assert added["files"][0]["hashes"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert added["files"][0]["hashes"]["md5"] == hashlib.md5(source.read_bytes()).hexdigest()
    entry = dalil.json("custody", "add", "KG-77", "--exhibit", "E1", "--action", "transferred",
                       "--released-by", "Sgt. Asanov", "--received-by", "Lt. Osmonova",
                       "--purpose", "examination", "--place", "Bishkek lab", "--seal-intact")
    assert entry["seq"] == 4 and entry["details"]["seal_intact"] is True
    log = dalil.json("custody", "show", "KG-77")
    assert [e["action"] for e in log["entries"]] == ["created", "seized", "sealed", "transferred"]
    assert log["head"]["seq"] == 4
    assert log["head"]["entry_hash"] == log["entries"][-1]["entry_hash"]


def test_the_source_file_is_never_modified(dalil, tmp_path):
    dalil("case", "create", "--number", "C1", "--title", "t", check=True)
    source = tmp_path / "evidence.bin"
    source.write_bytes(b"x" * 10000)
    source.chmod(0o444)
    before = source.stat()
    dalil("evidence", "add", "C1", str(source), "--exhibit", "E1", check=True)
    after = source.stat()
    assert (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size)


def test_a_duplicate_case_number_fails_and_keeps_the_first(dalil):
    dalil("case", "create", "--number", "C1", "--title", "first", check=True)
    again = dalil("case", "create", "--number", "C1", "--title", "second")
    assert again.returncode == 1
    assert "case C1 already exists" in again.stderr
    assert dalil.json("case", "show", "C1")["title"] == "first"


def test_a_duplicate_exhibit_number_fails_and_keeps_the_first(dalil, tmp_path):
    dalil("case", "create", "--number", "C1", "--title", "t", check=True)
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    dalil("evidence", "add", "C1", str(tmp_path / "a"), "--exhibit", "E1", check=True)
    again = dalil("evidence", "add", "C1", str(tmp_path / "b"), "--exhibit", "E1")
    assert again.returncode == 1
    assert "exhibit E1 already exists in case C1" in again.stderr
    shown = dalil.json("case", "show", "C1")
    assert len(shown["exhibits"]) == 1
    assert shown["exhibits"][0]["files"][0]["hashes"]["sha256"] == hashlib.sha256(b"a").hexdigest()


def test_a_missing_source_is_named(dalil, tmp_path):
    dalil("case", "create", "--number", "C1", "--title", "t", check=True)
    result = dalil("evidence", "add", "C1", str(tmp_path / "nope.dd"), "--exhibit", "E1")
    assert result.returncode == 1
    assert "nope.dd: no such file" in result.stderr


def test_a_transfer_without_its_details_is_refused(dalil, tmp_path):
    dalil("case", "create", "--number", "C1", "--title", "t", check=True)
    (tmp_path / "a").write_bytes(b"a")
    dalil("evidence", "add", "C1", str(tmp_path / "a"), "--exhibit", "E1", check=True)
    result = dalil("custody", "add", "C1", "--exhibit", "E1", "--action", "transferred",
                   "--released-by", "A")
    assert result.returncode == 1
    assert "needs: received_by, purpose, place, seal_intact" in result.stderr


def test_a_seizure_without_its_place_is_refused_before_anything_is_stored(dalil, tmp_path):
    dalil("case", "create", "--number", "C1", "--title", "t", check=True)
    (tmp_path / "a").write_bytes(b"a")
    result = dalil("evidence", "add", "C1", str(tmp_path / "a"), "--exhibit", "E1",
                   "--seized-by", "Sgt. A")
    assert result.returncode == 1
    assert "exhibit E1: a seizure needs the place" in result.stderr
    assert dalil.json("case", "show", "C1")["exhibits"] == []
    assert not (dalil.home / "blobs" / "sha256").exists()
