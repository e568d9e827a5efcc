"""Findings exported as CSV and XLSX with the page's filters; formula-looking cells are
escaped; the same permissions as the findings page."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from openpyxl import load_workbook
from scanning_helpers import EMAIL, WALLET, add_bytes_exhibit, evidence_bytes

from dalil.app.scanning import services
from dalil.app.scanning.models import ScanRun

pytestmark = pytest.mark.django_db

PHONE = "+7 701 123 45 67"
TRAP = b"=SUM(1)+cmd|xx  "  # 16 bytes: the context of the next email starts with it


@pytest.fixture
def run(case) -> ScanRun:
    data = bytearray(evidence_bytes())
    data[310_000:310_040] = b" " + TRAP + b"trap@mail-example.kz " + b"\x00" * 2
    phone = f" tel {PHONE} call ".encode()
    data[315_000:315_000 + len(phone)] = phone
    exhibit = add_bytes_exhibit(case, bytes(data))
    return services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                 options={"jobs": 1})


def _url(run, fmt):
    return (f"/scanning/cases/{run.exhibit.case_id}/exhibits/{run.exhibit_id}/findings/"
            f"export.{fmt}")


def _csv(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_export_with_filters_and_escaped_cells(as_examiner, run):
    response = as_examiner.get(_url(run, "csv"), {"run": run.pk, "type": "email"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _csv(response)
    assert {r["type"] for r in rows} == {"email"}
    assert EMAIL in {r["feature"] for r in rows}
    trap = next(r for r in rows if r["feature"] == "trap@mail-example.kz")
    assert trap["context"].startswith("'=SUM(1)")
    assert trap["offset"] == str(310_001 + len(TRAP))
    searched = _csv(as_examiner.get(_url(run, "csv"), {"run": run.pk, "q": "mail-example"}))
    assert {r["feature"] for r in searched} >= {EMAIL, "trap@mail-example.kz"}
    assert WALLET not in {r["feature"] for r in searched}
    phones = _csv(as_examiner.get(_url(run, "csv"), {"run": run.pk, "type": "telephone"}))
    assert phones and all(r["feature"].startswith("'+") for r in phones)
    assert not _csv(as_examiner.get(_url(run, "csv"), {"run": run.pk, "alerts": "on"}))


def test_xlsx_export_has_no_formulas(as_examiner, run):
    response = as_examiner.get(_url(run, "xlsx"), {"run": run.pk})
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.xlsx"')
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("offset", "forensic_path", "type", "feature")
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    assert any(r[3] == EMAIL and isinstance(r[0], int) for r in rows[1:])
    assert any(str(r[4]).startswith("'=SUM") for r in rows[1:])
    about = {r[0]: r[1] for r in book.worksheets[1].iter_rows(values_only=True)}
    assert about["scan run"] == str(run.pk)


def test_export_links_on_the_page_and_permissions(as_examiner, as_prosecutor, run,
                                                  outsider):
    page = as_examiner.get(f"/scanning/cases/{run.exhibit.case_id}/exhibits/"
                           f"{run.exhibit_id}/findings/", {"run": run.pk, "type": "email"})
    html = page.content.decode()
    assert 'id="export-csv"' in html and 'id="export-xlsx"' in html
    assert "export.csv?" in html and "type=email" in html
    assert as_prosecutor.get(_url(run, "csv"), {"run": run.pk}).status_code == 200
    stranger = Client()
    stranger.force_login(outsider)
    assert stranger.get(_url(run, "csv"), {"run": run.pk}).status_code == 404
    assert stranger.get(_url(run, "xlsx"), {"run": run.pk}).status_code == 404
    assert Client().get(_url(run, "csv")).status_code == 302
