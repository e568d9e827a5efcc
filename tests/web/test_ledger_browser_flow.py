"""An examiner in a real Chromium (Playwright): open an address, trace, see the graph, save.

The flow graph is drawn by the vendored Cytoscape.js; the test reads the node count the
page's script sets once the graph is drawn, clicks nothing on the canvas, and saves the
trace into a case, then finds it on the case's findings page.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_support import BROWSER_MARKS
from ledger_helpers import build_store

from dalil.app.accounts.models import Institution, Role, User
from dalil.app.cases import services as cases
from dalil.app.ledger.models import LedgerFinding

SCREENSHOT_DIR = Path(os.environ.get("DALIL_SCREENSHOT_DIR", "/tmp"))
PASSWORD = "examiner-password-2026"

pytestmark = BROWSER_MARKS




@pytest.fixture
def examiner(transactional_db):
    academy = Institution.objects.create(name="Cyber unit, Dushanbe", country="TJ")
    return User.objects.create_user("firuz", password=PASSWORD, role=Role.EXAMINER,
                                    institution=academy, first_name="Firuz")


def test_trace_and_save_as_finding(live_server, examiner, browser_page, dalil_home):
    chain, _ids, _store = build_store(dalil_home)
    case = cases.create_case(number="TJ-2026-042", title="Ransomware payment",
                             actor="firuz", user=examiner)
    page = browser_page
    url = live_server.url
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{url}/ledger/")
    page.fill("input[name=username]", "firuz")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")

    # open the victim's address through the look-up form
    page.fill("input[name=query]", chain.address("victim"))
    page.click("#lookup button[type=submit]")
    page.wait_for_selector("#summary")
    assert "0.00100000" in page.inner_text("#summary")

    # trace forward from it, five hops, haircut
    page.fill("#trace-from input[name=hops]", "5")
    page.select_option("#trace-from select[name=model]", "haircut")
    page.click("#trace-from button:has-text('Trace')")
    page.wait_for_selector("#flow-graph[data-nodes]")
    nodes = int(page.get_attribute("#flow-graph", "data-nodes") or 0)
    edges = int(page.get_attribute("#flow-graph", "data-edges") or 0)
    assert nodes >= 8 and edges >= 7
    assert page.locator("#flow-graph canvas").count() > 0
    ids = page.evaluate("window.dalilFlowGraph.nodes().map(n => n.id())")
    assert "addr:" + chain.address("deposit") in ids
    assert "Haircut" in page.inner_text("#assumptions")
    page.screenshot(path=str(SCREENSHOT_DIR / "dalil-ledger-trace.png"), full_page=True)

    # save it into the case
    page.select_option("#save-finding select[name=case]", str(case.pk))
    page.fill("#save-finding input[name=title]", "Victim funds to BigEx")
    page.click("#save-finding button:has-text('Save finding')")
    page.wait_for_selector("text=Finding recorded in case TJ-2026-042.")
    page.wait_for_selector("#flow-graph[data-nodes]")
    finding = LedgerFinding.objects.get()
    assert finding.title == "Victim funds to BigEx"
    page.goto(f"{url}/ledger/cases/{case.pk}/findings/")
    assert "Victim funds to BigEx" in page.inner_text("#findings")
    assert errors == []
