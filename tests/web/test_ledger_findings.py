"""Saving a trace or a cluster as a case finding, with provenance; who may see and save."""

from __future__ import annotations

import csv
import io

import pytest
from ledger_helpers import build_store

from dalil.app.cases import services as cases
from dalil.app.ledger import services
from dalil.app.ledger.models import LedgerFinding

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(dalil_home):
    return build_store(dalil_home)


def _trace_post(chain, case, **extra):
    return {"seed": chain.address("victim"), "direction": "forward", "hops": 5,
            "model": "haircut", "stop": "exchange", "case": case.pk, **extra}


def test_save_a_trace(as_examiner, examiner, ledger, case):
    chain, _ids, _store = ledger
    response = as_examiner.post("/ledger/trace/save/", _trace_post(
        chain, case, title="Ransom flow to BigEx", note="for the prosecutor"))
    finding = LedgerFinding.objects.get()
    assert response.status_code == 302 and response.url == f"/ledger/findings/{finding.pk}/"
    assert finding.case == case and finding.kind == "trace"
    assert finding.created_by == examiner and finding.title == "Ransom flow to BigEx"
    assert finding.parameters == {"seed": chain.address("victim"), "direction": "forward",
                                  "hops": 5, "model": "haircut", "stop": ["exchange"]}
    assert finding.result["edges"] and finding.result["assumptions"]
    assert finding.store_manifest_sha256 == services.store_info().manifest_sha256
    assert finding.store_parts == services.store_info().parts
    # a case-level custody note, and the chain still verifies
    note = case.custody.order_by("-seq").first()
    assert note.action == "note" and note.exhibit_id is None
    assert note.details["finding"] == finding.pk
    assert note.details["result_sha256"] == services.result_sha256(finding.result)
    assert cases.verify_case(case, "test", record=False).intact
    # listed on the case's findings page and shown with its graph and provenance
    listing = as_examiner.get(f"/ledger/cases/{case.pk}/findings/").content.decode()
    assert "Ransom flow to BigEx" in listing
    page = as_examiner.get(f"/ledger/findings/{finding.pk}/").content.decode()
    assert finding.store_manifest_sha256 in page and "flow-elements" in page
    assert "for the prosecutor" in page


def test_the_posted_result_is_never_trusted(as_examiner, ledger, case):
    """Only parameters are posted; the trace is run again on the server."""
    chain, _ids, _store = ledger
    as_examiner.post("/ledger/trace/save/", _trace_post(chain, case, result='{"edges": []}'))
    assert LedgerFinding.objects.get().result["edges"]


def test_save_a_cluster_and_export_it(as_examiner, ledger, case):
    chain, _ids, _store = ledger
    address = chain.address("clean")
    response = as_examiner.post(f"/ledger/cluster/{address}/save/", {"case": case.pk})
    finding = LedgerFinding.objects.get()
    assert response.status_code == 302
    assert finding.kind == "cluster" and finding.result["size"] == 3
    assert finding.parameters == {"address": address, "heuristics": ["multi-input"]}
    rows = list(csv.reader(io.StringIO(as_examiner.get(
        f"/ledger/findings/{finding.pk}/export/csv/").content.decode())))
    assert len(rows) == 4
    pdf = as_examiner.get(f"/ledger/findings/{finding.pk}/export/pdf/")
    assert pdf.content.startswith(b"%PDF")


def test_prosecutor_reads_but_cannot_save(as_prosecutor, ledger, case):
    chain, _ids, _store = ledger
    response = as_prosecutor.post("/ledger/trace/save/", _trace_post(chain, case))
    assert response.status_code == 403
    assert not LedgerFinding.objects.exists()
    html = as_prosecutor.get("/ledger/trace/", {
        "seed": chain.address("victim"), "hops": 2, "direction": "forward",
        "model": "poison"}).content.decode()
    assert "/ledger/trace/save/" not in html


def test_cannot_save_into_a_case_one_cannot_see(as_examiner, ledger, foreign_case):
    chain, _ids, _store = ledger
    as_examiner.post("/ledger/trace/save/", _trace_post(chain, foreign_case))
    assert not LedgerFinding.objects.exists()
    assert foreign_case.custody.count() == 1  # only "created"


def test_another_institution_sees_no_finding(client, outsider, examiner, ledger, case):
    chain, _ids, _store = ledger
    parameters = services.trace_parameters(chain.address("victim"), "forward", 3, "poison")
    finding = services.save_finding(case, kind="trace", parameters=parameters,
                                    result=services.run_trace(parameters),
                                    info=services.store_info(), user=examiner)
    client.force_login(outsider)
    assert client.get(f"/ledger/findings/{finding.pk}/").status_code == 404
    assert client.get(f"/ledger/findings/{finding.pk}/export/csv/").status_code == 404
    assert client.get(f"/ledger/cases/{case.pk}/findings/").status_code == 404


def test_hostile_title_and_note_are_escaped(as_examiner, ledger, case):
    chain, _ids, _store = ledger
    as_examiner.post("/ledger/trace/save/", _trace_post(
        chain, case, title="<b>bold</b>", note="<script>alert(3)</script>"))
    finding = LedgerFinding.objects.get()
    page = as_examiner.get(f"/ledger/findings/{finding.pk}/").content.decode()
    assert "<script>alert(3)</script>" not in page and "&lt;script&gt;alert(3)" in page
    assert "<b>bold</b>" not in page


def test_recent_findings_on_the_ledger_page_are_only_visible_ones(
        client, as_examiner, examiner, outsider, ledger, case):
    chain, _ids, _store = ledger
    as_examiner.post("/ledger/trace/save/", _trace_post(chain, case, title="Mine"))
    assert "Mine" in as_examiner.get("/ledger/").content.decode()
    client.force_login(outsider)
    assert "Mine" not in client.get("/ledger/").content.decode()
