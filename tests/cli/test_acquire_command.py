"""`dalil acquire`: a derived exhibit with hashes, a verification and a signed log."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dalil.engine.evidence import acquisition as engine
from dalil.engine.evidence.canonical import canonical_sha256

MIB = 1024 * 1024


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "usb-stick.dd"
    path.write_bytes(random.Random(7).randbytes(3 * MIB + 512))
    return path


def _open_case(dalil):
    dalil("case", "create", "--number", "TJ-9", "--title", "Extortion", check=True)


def test_raw_acquisition_records_a_derived_exhibit(dalil, source, tmp_path):
    _open_case(dalil)
    data = source.read_bytes()
    result = dalil.json("acquire", str(source), "--case", "TJ-9", "--exhibit", "E1",
                        "--out", str(tmp_path / "out"), "-a", "md5,sha1,sha256")
    assert result["exhibit"] == "E1.1"
    assert result["verified"] is True
    assert result["errors"] == []
    assert result["hashes"] == {"md5": hashlib.md5(data).hexdigest(),
                                "sha1": hashlib.sha1(data).hexdigest(),
                                "sha256": hashlib.sha256(data).hexdigest()}
    (image,) = result["image"]
    assert hashlib.sha256(Path(image).read_bytes()).hexdigest() == result["hashes"]["sha256"]
    shown = dalil.json("case", "show", "TJ-9")
    derived = {e["number"]: e["root"] for e in shown["exhibits"]}
    assert derived == {"E1": "E1", "E1.1": "E1"}
    actions = [e["action"] for e in dalil.json("custody", "show", "TJ-9")["entries"]]
    assert actions[-3:] == ["acquired", "created", "verified"]
    assert dalil("verify", "TJ-9").returncode == 0


def test_the_exported_log_is_signed(dalil, source, tmp_path):
    _open_case(dalil)
    result = dalil.json("acquire", str(source), "--case", "TJ-9", "--exhibit", "E1",
                        "--out", str(tmp_path / "out"))
    log = json.loads(Path(result["log"]).read_text())
    assert log["document"]["result"]["hashes"] == result["hashes"]
    assert canonical_sha256(log["document"]) == log["document_sha256"]
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(log["signature"]["public_key"]))
    key.verify(base64.b64decode(log["signature"]["value"]), log["document_sha256"].encode())


def test_split_acquisition_hashes_every_segment(dalil, source, tmp_path):
    _open_case(dalil)
    result = dalil.json("acquire", str(source), "--case", "TJ-9", "--exhibit", "E1",
                        "--out", str(tmp_path / "out"), "--format", "split",
                        "--segment-size", "1")
    assert [p.rsplit(".", 1)[1] for p in result["image"]] == ["001", "002", "003", "004"]
    for segment in result["segment_hashes"]:
        data = Path(segment["path"]).read_bytes()
        assert segment["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert dalil("verify", "TJ-9").returncode == 0


def test_a_changed_image_fails_verification_naming_it(dalil, source, tmp_path):
    _open_case(dalil)
    result = dalil.json("acquire", str(source), "--case", "TJ-9", "--exhibit", "E1",
                        "--out", str(tmp_path / "out"))
    with open(result["image"][0], "r+b") as image:
        image.seek(1000)
        image.write(b"\x00\x01")
    check = dalil("verify", "TJ-9")
    assert check.returncode == 1
    assert "exhibit E1.1 (E1.1.raw): bytes changed" in check.stderr


def test_an_interrupted_acquisition_resumes_to_the_same_hashes(dalil, source, tmp_path):
    _open_case(dalil)
    out = tmp_path / "out"
    out.mkdir()
    seen = []
    request = engine.AcquisitionRequest(source=source, out_dir=out, basename="E1.1",
                                        checkpoint_interval=MIB, chunk_size=256 * 1024)
    with pytest.raises(engine.AcquisitionCancelled):
        engine.acquire(request, progress=lambda done, total: seen.append(done),
                       cancel=lambda: bool(seen) and seen[-1] > 2 * MIB)
    result = dalil.json("acquire", str(source), "--case", "TJ-9", "--exhibit", "E1",
                        "--out", str(out), "--resume")
    assert result["resumed_from"] and result["resumed_from"] > 0
    assert result["hashes"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert result["verified"] is True


def test_a_missing_source_is_named_with_exit_1(dalil, tmp_path):
    _open_case(dalil)
    result = dalil("acquire", str(tmp_path / "sdz"), "--case", "TJ-9", "--exhibit", "E1",
                   "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "sdz: no such file or device" in result.stderr


def test_an_unknown_algorithm_exits_2(dalil, source, tmp_path):
    result = dalil("acquire", str(source), "--case", "TJ-9", "--exhibit", "E1",
                   "--out", str(tmp_path / "out"), "-a", "crc32")
    assert result.returncode == 2
    assert "crc32" in result.stderr
