"""The trace form: a flow graph (Cytoscape elements), amounts, taint, tags, assumptions."""

from __future__ import annotations

import json

import pytest
from ledger_helpers import build_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(dalil_home):
    return build_store(dalil_home)


def _elements(html: str) -> list[dict]:
    start = html.index('<script id="flow-elements" type="application/json">')
    body = html[start:].split(">", 1)[1].split("</script>", 1)[0]
    return json.loads(body)


def test_the_form_alone(as_examiner, ledger):
    response = as_examiner.get("/ledger/trace/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="seed"' in html and 'value="haircut"' in html
    assert "flow-elements" not in html


def test_forward_haircut_trace_draws_the_graph(as_examiner, ledger, case):
    chain, ids, _store = ledger
    response = as_examiner.get("/ledger/trace/", {
        "seed": chain.address("victim"), "direction": "forward", "hops": 5,
        "model": "haircut", "stop": "exchange"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "ledger/cytoscape.min.js" in html and "cdn" not in html.lower()
    elements = _elements(html)
    nodes = {e["data"]["id"]: e["data"] for e in elements if e["group"] == "nodes"}
    edges = [e["data"] for e in elements if e["group"] == "edges"]
    deposit = "addr:" + chain.address("deposit")
    assert nodes[deposit]["stop"] is True and nodes[deposit]["tags"] == "BigEx deposit"
    assert nodes["addr:" + chain.address("victim")]["seed"] is True
    into_deposit = [e for e in edges if e["target"] == deposit]
    assert [(e["amount"], e["taint"]) for e in into_deposit] == [(50_000, 23_684)]
    assert "tx:" + ids["t4"] not in nodes  # stopped at the exchange
    # the model's assumptions in words beside the graph, and the flow table
    assert "Haircut: value is mixed in proportion" in html
    assert "23,684" in html
    assert 'action="/ledger/trace/save/"' in html


@pytest.mark.parametrize("model", ["poison", "fifo"])
def test_other_models(as_examiner, ledger, model):
    chain, _ids, _store = ledger
    response = as_examiner.get("/ledger/trace/", {
        "seed": chain.address("victim"), "direction": "forward", "hops": 5, "model": model})
    assert response.context["result"]["model"] == model
    assert model.upper() in response.content.decode().upper()


def test_backward_from_an_output(as_examiner, ledger):
    chain, ids, _store = ledger
    response = as_examiner.get("/ledger/trace/", {
        "seed": f"{ids['t3']}:0", "direction": "backward", "hops": 3, "model": "poison"})
    result = response.context["result"]
    assert result["seed_kind"] == "output" and result["direction"] == "backward"
    assert any(e["source"] == "addr:" + chain.address("victim") for e in result["edges"])


def test_hostile_tags_stay_inert_in_the_graph_data(as_examiner, ledger):
    chain, _ids, _store = ledger
    html = as_examiner.get("/ledger/trace/", {
        "seed": chain.address("victim"), "direction": "forward", "hops": 2,
        "model": "poison"}).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "\\u003Cscript\\u003Ealert(1)" in html  # json_script's escaping
    labels = [e["data"].get("tags") for e in _elements(html) if e["group"] == "nodes"]
    assert any("<script>alert(1)</script>" in (t or "") for t in labels)


@pytest.mark.parametrize(("params", "message"), [
    ({"seed": "1NowhereXXXXXXXXXXXXXXXXXXXXXXXXXX"}, "received nothing in the store"),
    ({"seed": "ab" * 32}, "is not in the store"),
    ({"seed": "x", "hops": 50}, "less than or equal to 10"),
    ({"seed": "x", "model": "guess"}, "Select a valid choice"),
])
def test_bad_input_is_reported_in_the_form(as_examiner, ledger, params, message):
    query = {"direction": "forward", "hops": 3, "model": "haircut", **params}
    response = as_examiner.get("/ledger/trace/", query)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["result"] is None


def test_empty_store(as_examiner):
    assert "dalil chain ingest" in as_examiner.get("/ledger/trace/").content.decode()


def test_cytoscape_is_vendored_with_its_licence():
    """No CDN: the file is served from the app's static folder, as fetched (checksum)."""
    import hashlib
    from pathlib import Path

    import dalil.app.ledger

    static = Path(dalil.app.ledger.__file__).parent / "static" / "ledger"
    data = (static / "cytoscape.min.js").read_bytes()
    body = data.split(b"\n", 1)[1]  # after the one-line provenance header
    recorded = (static / "VENDORED.md").read_text(encoding="utf-8")
    assert hashlib.sha256(body).hexdigest() in recorded
    assert "MIT" in recorded
    assert "Permission is hereby granted" in (static / "LICENSE.cytoscape.txt").read_text(
        encoding="utf-8")
