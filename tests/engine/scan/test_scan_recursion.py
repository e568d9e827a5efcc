"""gzip, zlib and zip streams inside the data: decompressed within limits, forensic paths."""

from __future__ import annotations

import gzip
import io
import os
import random
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dalil.engine.scan import scan
from dalil.engine.scan.features import FEATURE_TYPES
from dalil.engine.scan.prefilter import hyperscan_available, make_engine
from dalil.engine.scan.recurse import Limits, buffer_reader, candidates, open_stream


def _lines(path: Path) -> list[list[str]]:
    return [x.split("\t") for x in path.read_text().splitlines() if not x.startswith("#")]


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _scan(tmp_path: Path, data: bytes, **kwargs: object) -> tuple[dict[str, list[list[str]]],
                                                                   dict[str, object]]:
    (tmp_path / "in.bin").write_bytes(data)
    summary = scan(tmp_path / "in.bin", tmp_path / "out", jobs=1, scanners="email,telephone",
                   **kwargs)  # type: ignore[arg-type]
    files = {n: _lines(tmp_path / "out" / f"{n}.txt") for n in ("email", "telephone")}
    return files, summary.to_dict()


def test_gzip_zlib_zip_and_nested_paths(tmp_path: Path) -> None:
    head = os.urandom(1000)
    gz = gzip.compress(b"x" * 5000 + b" ivan@example.kz ")
    inner = gzip.compress(b"deep bob@example.com here")
    member = b"call +7 701 123 45 67 now " + inner
    zp = _zip({"notes.txt": member})
    zl = zlib.compress(b"zl carol@example.org z")
    data = head + gz + b"\x00" * 10 + zp + b"\x00" * 10 + zl
    files, summary = _scan(tmp_path, data)
    gz_at = len(head)
    zip_at = gz_at + len(gz) + 10
    zl_at = zip_at + len(zp) + 10
    inner_at = member.index(b"\x1f\x8b")
    assert [x[:2] for x in files["email"]] == [
        [f"{gz_at}-GZIP-5001", "ivan@example.kz"],
        [f"{zip_at}-ZIP-{inner_at}-GZIP-5", "bob@example.com"],
        [f"{zl_at}-ZLIB-3", "carol@example.org"],
    ]
    assert files["telephone"][0][:2] == [f"{zip_at}-ZIP-5", "+7 701 123 45 67"]
    assert summary["streams"] == 4 and summary["notes"] == []


def test_feature_crossing_a_page_boundary_inside_a_stream_is_reported_once(
        tmp_path: Path) -> None:
    page = 4096
    text = bytearray(b"\x01" * (page * 3))
    email = b"ivan.petrov@mail.example.kz"
    at = page * 2 - 9
    text[at - 1:at + len(email) + 1] = b" " + email + b" "
    data = os.urandom(300) + gzip.compress(bytes(text)) + os.urandom(300)
    files, _ = _scan(tmp_path, data, page_size=page, margin=1024)
    assert [x[:2] for x in files["email"]] == [[f"300-GZIP-{at}", email.decode()]]


def test_stream_running_past_its_page_is_decompressed_once(tmp_path: Path) -> None:
    page = 4096
    payload = os.urandom(20000).hex().encode() + b" ivan@example.kz "
    gz = gzip.compress(payload)
    assert len(gz) > 4 * page and b"ivan@" not in gz  # spans pages; Huffman-coded
    at = page - 100
    data = os.urandom(at) + gz + os.urandom(500)
    files, summary = _scan(tmp_path, data, page_size=page, margin=512)
    assert [x[:2] for x in files["email"]] == [[f"{at}-GZIP-40001", "ivan@example.kz"]]
    assert summary["streams"] == 1


def test_zip_bomb_stops_at_the_size_limit_and_says_so(tmp_path: Path) -> None:
    bomb = _zip({"zeros.bin": bytes(64 << 20) + b" late@example.com "})
    assert len(bomb) < 100_000
    data = b"mail first@example.com " + bomb
    files, summary = _scan(tmp_path, data,
                           limits=Limits(max_depth=3, max_size=1 << 20, max_total=4 << 20))
    assert [x[1] for x in files["email"]] == ["first@example.com"]
    notes = summary["notes"]
    assert isinstance(notes, list) and len(notes) == 1
    assert notes[0]["path"] == "23-ZIP"
    assert "size limit" in notes[0]["message"] and "zeros.bin" in notes[0]["message"]


def test_nested_bomb_stops_at_the_depth_limit(tmp_path: Path) -> None:
    layer = b"level0 l0@example.com "
    for level in range(1, 7):
        # padding makes deflate code the block (not store it): no level shows through
        layer = gzip.compress(f"level{level} l{level}@example.com ".encode()
                              + b"pad " * 3000 + layer)
        assert b"@example" not in layer
    files, summary = _scan(tmp_path, layer, limits=Limits(max_depth=3))
    found = sorted(x[1] for x in files["email"])
    assert found == ["l4@example.com", "l5@example.com", "l6@example.com"]
    assert max(x[0].count("GZIP") for x in files["email"]) == 3
    notes = summary["notes"]
    assert isinstance(notes, list) and len(notes) == 1
    assert "depth limit (3)" in notes[0]["message"]
    assert notes[0]["path"].count("GZIP") == 4


def test_truncated_gzip_keeps_what_it_could_read(tmp_path: Path) -> None:
    payload = b" early@example.com " + os.urandom(200_000).hex().encode() + \
        b" late@example.com "
    gz = gzip.compress(payload)
    data = b"\x00" * 50 + gz[: len(gz) // 2]
    files, summary = _scan(tmp_path, data)
    assert [x[:2] for x in files["email"]] == [["50-GZIP-1", "early@example.com"]]
    notes = summary["notes"]
    assert isinstance(notes, list) and len(notes) == 1
    assert notes[0]["path"] == "50-GZIP" and "truncated gzip" in notes[0]["message"]


def test_corrupt_and_encrypted_members_are_noted(tmp_path: Path) -> None:
    zp = bytearray(_zip({"a.txt": b"x" * 3000 + b" ivan@example.kz"}))
    zp[6] |= 0x01  # the general-purpose flag's "encrypted" bit
    files, summary = _scan(tmp_path, bytes(zp))
    assert files["email"] == []
    notes = summary["notes"]
    assert isinstance(notes, list) and "encrypted" in notes[0]["message"]


def test_stored_zip_member_is_not_reported_twice(tmp_path: Path) -> None:
    zp = _zip({"a.txt": b"hello ivan@example.kz bye"}, zipfile.ZIP_STORED)
    files, summary = _scan(tmp_path, zp)
    assert len(files["email"]) == 1 and files["email"][0][0].isdigit()
    assert summary["streams"] == 0


def test_random_bytes_give_no_streams_and_no_notes(tmp_path: Path) -> None:
    data = random.Random(5).randbytes(4 << 20)
    _, summary = _scan(tmp_path, data)
    assert summary["streams"] == 0 and summary["notes"] == []


def test_recursion_can_be_turned_off(tmp_path: Path) -> None:
    files, summary = _scan(tmp_path, gzip.compress(b"x ivan@example.kz y"), recurse=False)
    assert files["email"] == [] and summary["streams"] == 0


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan runs on x86-64 only")
def test_hyperscan_finds_the_same_magic_numbers_as_bytes_find() -> None:
    buf = random.Random(9).randbytes(1 << 20) + gzip.compress(b"abc") + zlib.compress(b"d")
    engine = make_engine(FEATURE_TYPES, "hyperscan")
    _, magics = engine.scan(buf, 0, len(buf), magics=True)
    assert magics == candidates(buf, 0, len(buf))
    assert (1 << 20, "GZIP") in magics


def test_open_stream_rejects_chance_magic_numbers() -> None:
    rng = random.Random(3)
    rejected = 0
    for _ in range(300):
        buf = b"\x78\x9c" + rng.randbytes(5000)
        if open_stream(buffer_reader(buf), 0, "ZLIB", 1 << 20) is None:
            rejected += 1
    assert rejected == 300


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["GZIP", "ZLIB", "ZIP"]), before=st.integers(0, 5000),
       inside=st.integers(0, 5000), seed=st.integers(0, 2**32 - 1),
       engine=st.sampled_from(["re", "auto"]))
def test_any_stream_anywhere_gives_its_forensic_path(tmp_path: Path, kind: str, before: int,
                                                      inside: int, seed: int,
                                                      engine: str) -> None:
    rng = random.Random(seed)
    plain = b"a" * inside + b" ivan@example.kz " + rng.randbytes(100).hex().encode()
    packed = {"GZIP": gzip.compress, "ZLIB": zlib.compress,
              "ZIP": lambda d: _zip({"f.txt": d})}[kind](plain)
    head = rng.randbytes(before)
    inner = inside + 1  # offset inside the decompressed data (a zip member's own data)
    (tmp_path / "in.bin").write_bytes(head + packed + rng.randbytes(50))
    out = tmp_path / f"out-{seed}-{engine}"
    scan(tmp_path / "in.bin", out, jobs=1, scanners="email", engine=engine, page_size=4096,
         margin=1024)
    paths = [x[0] for x in _lines(out / "email.txt") if x[1] == "ivan@example.kz"]
    assert paths == [f"{before}-{kind}-{inner}"]
