"""A worker process that dies: the run finishes, says what it could not scan, and keeps
what it found (the test-only hook ``DALIL_SCAN_TEST_DIE_AT`` kills the worker of a page)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dalil.engine.scan import scan
from dalil.engine.scan.runner import DIE_AT_ENV

PAGE = 4096
PAGES = 8
DEAD = 3


def _input(path: Path) -> list[tuple[int, str]]:
    """One email in the middle of every page; their offsets."""
    buf = bytearray(b"\x00" * (PAGE * PAGES))
    planted = []
    for index in range(PAGES):
        email = f"user{index}@example.kz"
        at = index * PAGE + 1000
        buf[at - 1 : at + len(email) + 1] = f" {email} ".encode()
        planted.append((at, email))
    path.write_bytes(bytes(buf))
    return planted


def _emails(outdir: Path) -> dict[int, str]:
    rows = {}
    for line in (outdir / "email.txt").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            offset, feature, _ = line.split("\t", 2)
            rows[int(offset)] = feature
    return rows


def test_dead_worker_page_reported_and_the_rest_kept(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    planted = _input(tmp_path / "in.bin")
    monkeypatch.setenv(DIE_AT_ENV, str(DEAD * PAGE + 10))
    summary = scan(tmp_path / "in.bin", tmp_path / "out", jobs=2, scanners="email",
                   page_size=PAGE, margin=256, recurse=False)
    expected = {at: email for index, (at, email) in enumerate(planted) if index != DEAD}
    assert _emails(tmp_path / "out") == expected
    assert summary.unscanned == [{"path": str(tmp_path / "in.bin"), "offset": DEAD * PAGE,
                                  "length": PAGE, "reason": summary.unscanned[0]["reason"]}]
    assert "died" in str(summary.unscanned[0]["reason"])
    assert summary.bytes_scanned == PAGE * (PAGES - 1)
    assert any(f"bytes {DEAD * PAGE} to {(DEAD + 1) * PAGE}" in n["message"]
               for n in summary.notes)
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["unscanned"][0]["offset"] == DEAD * PAGE
    assert report["counts"] == {"email": PAGES - 1}
    runs = [e for e in ET.parse(tmp_path / "out" / "report.xml").iter()
            if e.tag.endswith("byte_run") and e.get("offset") == str(DEAD * PAGE)]
    assert runs and runs[0].get("len") == str(PAGE)


def test_no_hook_no_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _input(tmp_path / "in.bin")
    monkeypatch.delenv(DIE_AT_ENV, raising=False)
    summary = scan(tmp_path / "in.bin", tmp_path / "out", jobs=2, scanners="email",
                   page_size=PAGE, margin=256, recurse=False)
    assert summary.unscanned == []
    assert summary.counts == {"email": PAGES}
