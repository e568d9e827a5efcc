"""`dalil verify`: exit 0 only when the chain and every exhibit are intact, else name the fault."""

from __future__ import annotations

import sqlite3


def _case_with_evidence(dalil, tmp_path):
    dalil("case", "create", "--number", "UZ-5", "--title", "Fraud", check=True)
    (tmp_path / "phone.bin").write_bytes(b"phone dump" * 1000)
    dalil("evidence", "add", "UZ-5", str(tmp_path / "phone.bin"), "--exhibit", "E1",
          "--seized-by", "Sgt. Karimov", "--seized-where", "Tashkent",
          check=True)
    dalil("custody", "add", "UZ-5", "--exhibit", "E1", "--action", "accessed",
          "--purpose", "triage", check=True)


def test_an_intact_case_verifies_with_exit_0(dalil, tmp_path):
    _case_with_evidence(dalil, tmp_path)
    result = dalil("verify", "UZ-5", "--json")
    assert result.returncode == 0, result.stderr
    assert '"intact": true' in result.stdout


def test_an_edited_custody_row_gives_exit_1_naming_the_entry(dalil, tmp_path):
    _case_with_evidence(dalil, tmp_path)
    with sqlite3.connect(dalil.database) as db:
        db.execute("UPDATE cases_custodyentry SET actor = 'nobody' WHERE seq = 2")
    result = dalil("verify", "UZ-5")
    assert result.returncode == 1
    assert "entry 2: content changed" in result.stderr


def test_a_reordered_chain_gives_exit_1(dalil, tmp_path):
    _case_with_evidence(dalil, tmp_path)
    with sqlite3.connect(dalil.database) as db:
        db.execute("UPDATE cases_custodyentry SET seq = 99 WHERE seq = 2")
        db.execute("UPDATE cases_custodyentry SET seq = 2 WHERE seq = 3")
        db.execute("UPDATE cases_custodyentry SET seq = 3 WHERE seq = 99")
    result = dalil("verify", "UZ-5", "--json")
    assert result.returncode == 1
    assert "entry 2" in result.stderr


def test_changed_exhibit_bytes_give_exit_1_naming_the_exhibit(dalil, tmp_path):
    _case_with_evidence(dalil, tmp_path)
    blob = next((dalil.home / "blobs" / "sha256").rglob("*"))
    while blob.is_dir():
        blob = next(blob.iterdir())
    blob.chmod(0o644)
    blob.write_bytes(b"swapped")
    result = dalil("verify", "UZ-5")
    assert result.returncode == 1
    assert "exhibit E1 (phone.bin): bytes changed" in result.stderr


def test_an_unknown_case_gives_exit_1(dalil):
    result = dalil("verify", "NOPE")
    assert result.returncode == 1
    assert "no case numbered 'NOPE'" in result.stderr
