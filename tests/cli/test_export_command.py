"""`dalil export --format case-uco` and `dalil report` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CASE_VALIDATE = Path(sys.executable).parent / "case_validate"


def _case(dalil, tmp_path: Path) -> None:
    dalil("case", "create", "--number", "KG-2026-11", "--title", "Кража <b>данных</b>",
          "--authority-type", "warrant", "--authority-id", "W-5", check=True)
    (tmp_path / "laptop.img").write_bytes(b"sectors" * 1000)
    dalil("evidence", "add", "KG-2026-11", str(tmp_path / "laptop.img"), "--exhibit", "E1",
          "--type", "laptop", "--seized-by", "Sgt. Osmonov", "--seized-where", "Osh",
          check=True)
    dalil("custody", "add", "KG-2026-11", "--exhibit", "E1", "--action", "transferred",
          "--released-by", "Sgt. Osmonov", "--received-by", "Lab", "--purpose", "imaging",
          "--place", "Osh lab", "--seal-intact", check=True)


def test_export_writes_a_valid_case_uco_document(dalil, tmp_path):
    _case(dalil, tmp_path)
    output = tmp_path / "kg.jsonld"
    result = dalil.json("export", "KG-2026-11", "--format", "case-uco", "-o", str(output))
    assert result["path"] == str(output) and result["nodes"] > 5
    document = json.loads(output.read_text())
    assert any(n.get("@type") == "uco-observable:Laptop" for n in document["@graph"])
    check = subprocess.run([str(CASE_VALIDATE), str(output)], capture_output=True, text=True,
                           timeout=300)
    assert check.returncode == 0, check.stdout[-3000:]


def test_export_refuses_other_formats_and_unknown_cases(dalil, tmp_path):
    result = dalil("export", "KG-2026-11", "--format", "stix", "-o", str(tmp_path / "x"))
    assert result.returncode == 2 and "--format must be case-uco" in result.stderr
    result = dalil("export", "NOPE", "--format", "case-uco", "-o", str(tmp_path / "x"))
    assert result.returncode == 1 and "no case numbered 'NOPE'" in result.stderr


def test_report_writes_pdf_and_html(dalil, tmp_path):
    _case(dalil, tmp_path)
    pdf = dalil.json("report", "KG-2026-11", "-o", str(tmp_path / "r.pdf"), "--lang", "ru")
    assert pdf["format"] == "pdf" and pdf["intact"] and pdf["language"] == "ru"
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    html = dalil.json("report", "KG-2026-11", "-o", str(tmp_path / "r.html"))
    assert html["format"] == "html"
    text = (tmp_path / "r.html").read_text()
    assert "Кража &lt;b&gt;данных&lt;/b&gt;" in text and "<b>данных</b>" not in text


def test_an_unwritable_destination_is_a_clear_error(dalil, tmp_path):
    _case(dalil, tmp_path)
    missing = tmp_path / "no-such-dir"
    for args in (("export", "KG-2026-11", "-o", str(missing / "a.jsonld")),
                 ("report", "KG-2026-11", "-o", str(missing / "a.html")),
                 ("bundle", "create", "KG-2026-11", "-o", str(missing / "a.dalil.zip"))):
        result = dalil(*args)
        assert result.returncode == 1, args
        assert f"cannot write {missing}" in result.stderr and "Traceback" not in result.stderr
