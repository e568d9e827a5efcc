"""`dalil scan INPUT -o OUTDIR`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dalil.cli.main import app

runner = CliRunner()


def test_scan_json_summary(tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(b"\x00 ivan@example.kz \x00 https://t.me/channel_x \x00" * 3)
    result = runner.invoke(app, ["scan", str(src), "-o", str(tmp_path / "out"), "--json",
                                 "-j", "1", "--scanners", "email,telegram,url"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"email": 3, "telegram": 3, "url": 3}
    assert summary["mb_per_s"] >= 0
    assert (tmp_path / "out" / "telegram.txt").exists()


def test_scan_bad_input_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", str(tmp_path / "missing"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "no such file" in result.output


def test_scan_unknown_scanner(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    result = runner.invoke(app, ["scan", str(tmp_path / "f"), "-o", str(tmp_path / "o"),
                                 "--scanners", "email,nope"])
    assert result.exit_code == 2
    assert "unknown scanner" in result.output


def _feed(path: Path) -> Path:
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [
        {"type": "indicator", "id": "indicator--1", "name": "known mule",
         "pattern": "[email-addr:value = 'ivan@example.kz']", "pattern_type": "stix"}]}))
    return path


def test_scan_indicators_alerts_and_reports(tmp_path: Path) -> None:
    import gzip

    src = tmp_path / "in.bin"
    src.write_bytes(b"\x00 ivan@example.kz \x00" + gzip.compress(b"x ivan@example.kz y"))
    misp = tmp_path / "misp.json"
    misp.write_text(json.dumps({"Event": {"info": "E", "Attribute": [
        {"type": "email-src", "value": "IVAN@example.kz"}]}}))
    result = runner.invoke(app, ["scan", str(src), "-o", str(tmp_path / "out"), "--json",
                                 "-j", "1", "--scanners", "email",
                                 "--indicators", str(_feed(tmp_path / "feed.json")),
                                 "--indicators", str(misp), "--hash"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"email": 2}
    assert summary["alert_count"] == 4
    assert {a["feed"] for a in summary["alerts"]} == {"feed.json", "misp.json"}
    assert {a["offset"] for a in summary["alerts"]} == {"2", "19-GZIP-2"}
    assert summary["streams"] == 1
    assert len(summary["source_hashes"]["sha256"]) == 64
    for name in ("alerts.txt", "email_histogram.txt", "report.xml", "report.json"):
        assert (tmp_path / "out" / name).exists()


def test_scan_bad_indicator_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    (tmp_path / "feed.json").write_text("{oops")
    result = runner.invoke(app, ["scan", str(tmp_path / "f"), "-o", str(tmp_path / "o"),
                                 "--indicators", str(tmp_path / "feed.json")])
    assert result.exit_code == 2
    assert "feed.json: not valid JSON" in result.output


def test_scan_reports_decompression_limits(tmp_path: Path) -> None:
    import gzip

    src = tmp_path / "bomb.bin"
    src.write_bytes(gzip.compress(bytes(3 << 20)))
    result = runner.invoke(app, ["scan", str(src), "-o", str(tmp_path / "out"), "--json",
                                 "-j", "1", "--max-inflate", "1", "--scanners", "email"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["notes"][0]["path"] == "0-GZIP"
    assert "size limit" in summary["notes"][0]["message"]
    assert "size limit" in result.stderr


def test_scan_exits_3_when_a_worker_died(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import functools

    import dalil.cli.scan
    from dalil.engine.scan import scan
    from dalil.engine.scan.runner import DIE_AT_ENV

    # Pages of 4 KiB, so that the small input has several and a pool scans them.
    monkeypatch.setattr(dalil.cli.scan, "scan", functools.partial(scan, page_size=4096,
                                                                  margin=256))
    src = tmp_path / "in.bin"
    src.write_bytes((b"\x00" * 2000 + b" ivan@example.kz " + b"\x00" * 2079) * 4)
    monkeypatch.setenv(DIE_AT_ENV, str(4096 + 5))
    result = runner.invoke(app, ["scan", str(src), "-o", str(tmp_path / "out"), "--json",
                                 "-j", "2", "--scanners", "email"])
    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"email": 3}
    assert summary["unscanned"][0]["offset"] == 4096
    assert "not scanned" in result.stderr
