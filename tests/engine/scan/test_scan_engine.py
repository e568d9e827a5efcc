"""The scanner engine: prefilter equality, page boundaries, the shared workload's score."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from dalil.engine.scan import scan
from dalil.engine.scan.features import FEATURE_TYPES
from dalil.engine.scan.pages import plan
from dalil.engine.scan.prefilter import RegexEngine, hyperscan_available, make_engine
from dalil.engine.scan.runner import scan_page

SAMPLES = [
    b"olga.petrov+news@mail.secure.kz", b"https://t.me/some_channel", b"http://www.acme.co.uk/a?b=1",
    b"+7 (701) 123-45-67", b"8 (701) 123-45-67", b"4111 1111 1111 1111", b"378282246310005",
    b"KZ86 125K ZT50 0410 0100", b"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    b"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
    b"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", b"TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7",
    b"25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion", b"192.168.10.1",
    b"2001:db8:85a3::8a2e:370:7334", b"LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9",
]


def _mixed(seed: int, size: int) -> bytes:
    rng = random.Random(seed)
    buf = bytearray(rng.randbytes(size))
    for _ in range(size // 600):
        sample = rng.choice(SAMPLES)
        at = rng.randrange(1, size - len(sample) - 1)
        buf[at - 1] = ord(rng.choice(" \n\t<(,\x00"))
        buf[at:at + len(sample)] = sample
        buf[at + len(sample)] = ord(rng.choice(" \n\t>),\x00"))
    return bytes(buf)


def test_every_type_found_in_a_small_buffer() -> None:
    buf = b" " + b" | ".join(SAMPLES) + b" "
    names = {h[0] for h in RegexEngine(FEATURE_TYPES).find(buf)}
    assert {"email", "url", "telegram", "telephone", "ccn", "iban", "bitcoin", "ethereum",
            "tron", "onion", "ip", "domain", "litecoin"} <= names


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan runs on x86-64 only")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hyperscan_and_re_give_identical_hits(seed: int) -> None:
    buf = _mixed(seed, 1 << 18)
    fast = make_engine(FEATURE_TYPES, "hyperscan").find(buf)
    slow = make_engine(FEATURE_TYPES, "re").find(buf)
    assert fast == slow
    assert len(fast) > 300


def test_feature_crossing_a_page_boundary_is_reported_once(tmp_path: Path) -> None:
    page = 4096
    data = bytearray(os.urandom(page * 4))
    email = b"ivan.petrov@mail.example.kz"
    at = page * 2 - 10  # straddles the boundary between pages 1 and 2
    data[at - 1:at + len(email) + 1] = b" " + email + b" "
    path = tmp_path / "img.bin"
    path.write_bytes(bytes(data))
    engine = make_engine(FEATURE_TYPES, "auto")
    hits = [h for p in plan(len(data), page, 256) for h in scan_page(str(path), p, engine).hits
            if h[0] == "email"]
    assert [(h[1], h[2]) for h in hits] == [(at, email.decode())]


def test_unreadable_region_is_skipped_and_reported(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dev.bin"
    path.write_bytes(b"\x00" * 20000 + b" bob@example.com " + b"\x00" * 20000)
    real = os.pread

    def failing(fd: int, size: int, offset: int) -> bytes:
        if offset < 8192 + 4096 and offset + size > 8192:
            raise OSError(5, "Input/output error")
        return real(fd, size, offset)

    monkeypatch.setattr(os, "pread", failing)
    summary = scan(path, tmp_path / "out", jobs=1)
    assert summary.unreadable == [{"path": str(path), "offset": 8192, "length": 4096,
                                   "error": "Input/output error"}]
    assert summary.counts["email"] == 1


def test_output_files_and_report(tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(b"\x01mail ivan@example.kz and 4111-1111-1111-1111\n")
    summary = scan(src, tmp_path / "out", jobs=1, scanners="email,ccn")
    lines = (tmp_path / "out" / "ccn.txt").read_text().splitlines()
    assert lines[0].startswith("#")
    assert lines[-1].split("\t")[:2] == ["26", "4111-1111-1111-1111"]
    email = [x for x in (tmp_path / "out" / "email.txt").read_text().splitlines()
             if not x.startswith("#")]
    assert email == ["6\tivan@example.kz\t\\x01mail ivan@example.kz and 4111-1111-1"]
    assert (tmp_path / "out" / "email_histogram.txt").read_text().endswith(
        "n=1\tivan@example.kz\n")
    assert (tmp_path / "out" / "report.json").exists()
    assert summary.counts == {"email": 1, "ccn": 1}


def test_directory_tree(tmp_path: Path) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "a.txt").write_bytes(b"x ivan@example.kz\n")
    (tmp_path / "tree" / "b.txt").write_bytes(b"call +7 701 123 45 67 now\n")
    summary = scan(tmp_path / "tree", tmp_path / "out", jobs=2)
    assert summary.files == 2
    text = (tmp_path / "out" / "email.txt").read_text()
    assert "sub/a.txt:2\tivan@example.kz" in text


@pytest.mark.shared_data
def test_shared_workload_recall_and_no_false_hits(shared_data: Path, tmp_path: Path) -> None:
    bench = shared_data.parent / "bench"
    subprocess.run([sys.executable, str(bench / "feature_workload.py"), "--size", "24",
                    "--out", str(tmp_path / "w.bin"), "--truth", str(tmp_path / "t.tsv")],
                   check=True, capture_output=True)
    # small pages so that many features straddle page boundaries
    scan(tmp_path / "w.bin", tmp_path / "out", jobs=2, page_size=1 << 20)
    report = subprocess.run([sys.executable, str(bench / "feature_score.py"),
                             str(tmp_path / "t.tsv"), str(tmp_path / "out")],
                            check=True, capture_output=True, text=True).stdout
    rows = {line.split()[0]: line.split() for line in report.splitlines()[1:5]}
    for kind in ("email", "url", "ccn", "telephone"):
        _planted, _exact, _overlap, recall, _ro, _reported, extra, dup = rows[kind][1:9]
        assert float(recall) >= 0.99, report
        assert int(extra) == 0 and int(dup) == 0, report
