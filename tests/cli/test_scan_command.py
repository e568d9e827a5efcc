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
