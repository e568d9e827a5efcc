"""Histograms per feature type and the DFXML report of a run (report.xml)."""

from __future__ import annotations

import gzip
import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

from dalil import __version__
from dalil.engine.scan import scan
from dalil.engine.scan.report import DFXML_NS

NS = {"d": DFXML_NS, "dalil": "https://dalil.example/ns/scan"}


def _evidence(tmp_path: Path) -> Path:
    path = tmp_path / "in.bin"
    path.write_bytes(b"\x00 a@example.kz b@example.kz A@EXAMPLE.KZ a@example.kz \x00"
                     + gzip.compress(b"zipped a@example.kz")
                     + b"\x00 c@example.kz \x00" + b"\x1f\x8b\x08\x00" + b"\x00" * 100)
    return path


def test_histogram_format(tmp_path: Path) -> None:
    scan(_evidence(tmp_path), tmp_path / "out", jobs=1, scanners="email")
    lines = (tmp_path / "out" / "email_histogram.txt").read_text().splitlines()
    body = [x for x in lines if not x.startswith("#")]
    # case-folded, most frequent first, then by feature; decompressed hits count too
    assert body == ["n=4\ta@example.kz", "n=1\tb@example.kz", "n=1\tc@example.kz"]


def test_dfxml_report(tmp_path: Path) -> None:
    src = _evidence(tmp_path)
    summary = scan(src, tmp_path / "out", jobs=1, scanners="email,url", hash_source=True,
                   command_line=["dalil", "scan", str(src), "-o", "out"])
    root = ET.parse(tmp_path / "out" / "report.xml").getroot()
    assert root.tag == f"{{{DFXML_NS}}}dfxml"
    creator = root.find("d:creator", NS)
    assert creator is not None
    assert creator.findtext("d:program", namespaces=NS) == "Dalil"
    assert creator.findtext("d:version", namespaces=NS) == __version__
    execution = creator.find("d:execution_environment", NS)
    assert execution is not None
    assert execution.findtext("d:command_line", namespaces=NS) == f"dalil scan {src} -o out"
    assert execution.findtext("d:start_time", namespaces=NS) == summary.started_at
    source = root.find("d:source", NS)
    assert source is not None
    assert source.findtext("d:imagesize", namespaces=NS) == str(src.stat().st_size)
    digest = source.find("d:hashdigest", NS)
    assert digest is not None and digest.get("type") == "sha256"
    assert digest.text == hashlib.sha256(src.read_bytes()).hexdigest()
    files = {f.get("name"): f.get("count")
             for f in root.findall("d:feature_files/d:feature_file", NS)}
    assert files == {"email": "6", "url": "0"}
    report = root.find("d:report", NS)
    assert report is not None
    assert report.findtext("d:end_time", namespaces=NS) == summary.ended_at
    assert float(report.findtext("d:elapsed_seconds", namespaces=NS) or "-1") >= 0
    scanners = [s.text for s in root.findall("d:configuration/d:scanners/d:scanner", NS)]
    assert scanners == ["email", "url"]
    decompression = root.find("dalil:decompression", NS)
    assert decompression is not None and decompression.get("streams") == "1"


def test_report_json_has_the_new_fields(tmp_path: Path) -> None:
    import json

    scan(_evidence(tmp_path), tmp_path / "out", jobs=1, scanners="email")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    for key in ("streams", "bytes_decompressed", "notes", "alert_count", "alerts",
                "started_at", "ended_at", "options", "counts"):
        assert key in report
    assert report["streams"] == 1
