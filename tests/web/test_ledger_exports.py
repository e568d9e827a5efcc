"""Exports of a cluster and a trace: CSV and XLSX (formulas escaped) and the court PDF."""

from __future__ import annotations

import csv
import io

import pytest
from ledger_helpers import HOSTILE_LABEL, build_store

from dalil.app.ledger import reports, services

pytestmark = pytest.mark.django_db

TRACE = {"direction": "forward", "hops": 5, "model": "fifo", "stop": "exchange"}


@pytest.fixture
def ledger(dalil_home):
    return build_store(dalil_home)


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_trace_csv(as_examiner, ledger):
    chain, ids, _store = ledger
    response = as_examiner.get("/ledger/trace/export/csv/",
                               {"seed": chain.address("victim"), **TRACE})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _csv(response)
    assert rows[0] == services.TRACE_HEADER
    deposit = [r for r in rows[1:] if r[1] == "addr:" + chain.address("deposit")]
    assert deposit and deposit[0][2] == ids["t3"]
    assert deposit[0][4:8] == ["50000", "0.00050000", "50000", "0.00050000"]
    assert deposit[0][9]  # the time
    hostile = [r for r in rows if r[11] and "HYPERLINK" in r[11]]
    assert hostile and all(r[11].startswith("'=") for r in hostile)  # not a formula


def test_trace_xlsx(as_examiner, ledger):
    from openpyxl import load_workbook

    chain, _ids, _store = ledger
    response = as_examiner.get("/ledger/trace/export/xlsx/",
                               {"seed": chain.address("victim"), **TRACE})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == services.TRACE_HEADER
    assert all(isinstance(r[4], int) for r in rows[1:])  # amounts stay numbers
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f"  # nothing runs as a formula
    provenance = dict(book.worksheets[1].iter_rows(values_only=True))
    assert provenance["store manifest sha256"] == services.store_info().manifest_sha256


def test_cluster_csv_and_xlsx(as_examiner, ledger):
    from openpyxl import load_workbook

    chain, _ids, _store = ledger
    url = f"/ledger/cluster/{chain.address('clean')}/export/"
    rows = _csv(as_examiner.get(url + "csv/"))
    assert rows[0] == services.CLUSTER_HEADER
    assert {r[0] for r in rows[1:]} == {chain.address(n) for n in ("thief", "clean", "evil")}
    thief = next(r for r in rows if r[0] == chain.address("thief"))
    assert thief[1] == "'" + HOSTILE_LABEL and thief[2] == "scam"
    book = load_workbook(io.BytesIO(as_examiner.get(url + "xlsx/").content))
    values = [c.value for row in book.worksheets[0].iter_rows() for c in row]
    assert "'" + HOSTILE_LABEL in values


def test_unknown_format_and_unclustered_address(as_examiner, ledger):
    chain, _ids, _store = ledger
    assert as_examiner.get(
        f"/ledger/cluster/{chain.address('clean')}/export/docx/").status_code == 404
    assert as_examiner.get(
        f"/ledger/cluster/{chain.address('hot')}/export/csv/").status_code == 404
    assert as_examiner.get("/ledger/trace/export/csv/",
                           {"seed": "ab" * 32, **TRACE}).status_code == 404


def test_trace_pdf(as_examiner, ledger):
    chain, _ids, _store = ledger
    response = as_examiner.get("/ledger/trace/export/pdf/",
                               {"seed": chain.address("victim"), **TRACE})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_cluster_pdf(as_examiner, ledger):
    chain, _ids, _store = ledger
    response = as_examiner.get(f"/ledger/cluster/{chain.address('clean')}/export/pdf/")
    assert response.content.startswith(b"%PDF")


def test_report_states_method_source_and_limits(ledger):
    """The PDF's HTML: each heuristic, assumptions, known limits, store manifest, flows."""
    chain, _ids, _store = ledger
    info = services.store_info()
    parameters = {"address": chain.address("clean"),
                  "heuristics": ["multi-input", "round-value"]}
    result = services.cluster_result(chain.address("clean"), ["multi-input", "round-value"])
    html = reports.render_html(reports.report_context("cluster", parameters, result,
                                                      info.to_dict()))
    assert "Multi-input (common-input-ownership)" in html and "Round value" in html
    assert "CoinJoin" in html and "derived" in html and "false positive" in html
    assert info.manifest_sha256 in html
    assert "court order 12/2024" in html  # the tag source
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "<img src=x" not in html

    parameters = services.trace_parameters(chain.address("victim"), "forward", 5, "haircut")
    result = services.run_trace(parameters)
    html = reports.render_html(reports.report_context("trace", parameters, result,
                                                      info.to_dict()))
    assert "Haircut: value is mixed in proportion" in html
    assert "Flow table" in html and "23,684" in html
    assert "CoinJoin" in html and "change" in html.lower()
