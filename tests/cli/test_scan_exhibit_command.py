"""`dalil scan-exhibit NUMBER --exhibit E` (and `dalil scan NUMBER --exhibit E`) as a user
types it: findings stored in the case, feeds imported and matched, errors named."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
from scanning_helpers import EMAIL, WALLET, evidence_bytes, stix_feed


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    path = tmp_path / "usb.dd"
    path.write_bytes(evidence_bytes())
    return path


def _case(dalil, evidence: Path) -> None:
    dalil("case", "create", "--number", "KZ-1", "--title", "Stick", check=True)
    dalil("evidence", "add", "KZ-1", str(evidence), "--exhibit", "E1", "--type", "storage",
          check=True)


def test_scan_exhibit_stores_findings_flags_feeds_and_records_custody(dalil, evidence,
                                                                      tmp_path):
    _case(dalil, evidence)
    feed = tmp_path / "partner.json"
    feed.write_bytes(stix_feed(EMAIL))
    result = dalil.json("scan-exhibit", "KZ-1", "--exhibit", "E1", "--indicators", str(feed),
                        "-j", "1")
    assert result["status"] == "succeeded" and result["case"] == "KZ-1"
    assert result["bytes_scanned"] == len(evidence_bytes()) and result["container"] == "raw"
    assert result["counts"]["email"] >= 5 and result["counts"]["bitcoin"] == 1
    assert result["alerts"] == 1 and result["indicator_feeds"][0]["name"] == "partner.json"
    with sqlite3.connect(dalil.database) as db:
        rows = db.execute("select offset, feed from scanning_finding where feature = ?",
                          (EMAIL,)).fetchall()
        actions = [a for (a,) in db.execute(
            "select action from cases_custodyentry order by seq")]
    assert rows == [(1009, "partner.json")]
    assert actions[-1] == "examined"
    assert dalil("verify", "KZ-1").returncode == 0


def test_the_scan_command_takes_a_case_number_with_exhibit(dalil, evidence):
    _case(dalil, evidence)
    result = dalil("scan", "KZ-1", "--exhibit", "E1", "--json", "-j", "1")
    assert result.returncode == 0, result.stderr
    assert '"status": "succeeded"' in result.stdout and WALLET not in result.stderr


def test_errors_name_the_case_and_the_exhibit(dalil, evidence, tmp_path):
    _case(dalil, evidence)
    missing = dalil("scan-exhibit", "KZ-1", "--exhibit", "E9")
    assert missing.returncode == 1 and "no exhibit 'E9'" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    refused = dalil("scan-exhibit", "KZ-1", "--exhibit", "E1", "--indicators", str(bad))
    assert refused.returncode == 2 and "bad.json: not valid JSON" in refused.stderr
    plain = dalil("scan", str(evidence))
    assert plain.returncode == 2 and "-o OUTDIR" in plain.stderr
