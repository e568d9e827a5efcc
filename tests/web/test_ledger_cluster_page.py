"""The cluster page: members (paginated), tags, and why two members are linked."""

from __future__ import annotations

import pytest
from ledger_helpers import build_store

from dalil.app.ledger import views

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(dalil_home):
    return build_store(dalil_home)


def test_members_and_tags(as_examiner, ledger):
    chain, _ids, _store = ledger
    response = as_examiner.get(f"/ledger/cluster/{chain.address('clean')}/")
    assert response.status_code == 200
    result = response.context["result"]
    assert set(result["members"]) == {chain.address(n) for n in ("thief", "clean", "evil")}
    assert result["heuristics"] == ["multi-input"]
    html = response.content.decode()
    assert "scam" in html
    assert "&lt;script&gt;" in html and "<script>alert(1)" not in html


def test_members_are_paginated(as_examiner, ledger, monkeypatch):
    chain, _ids, _store = ledger
    monkeypatch.setattr(views, "MEMBERS_PER_PAGE", 2)
    url = f"/ledger/cluster/{chain.address('clean')}/"
    first = as_examiner.get(url)
    assert len(first.context["members"]) == 2
    assert "page=2" in first.content.decode()
    second = as_examiner.get(url, {"page": 2})
    assert len(second.context["members"]) == 1


def test_why_two_members_are_linked(as_examiner, ledger):
    chain, ids, _store = ledger
    thief, evil = chain.address("thief"), chain.address("evil")
    response = as_examiner.get(f"/ledger/cluster/{thief}/why/", {"a": thief, "b": evil},
                               HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    steps = response.context["steps"]
    assert [s["txid"] for s in steps] == [ids["t2"], ids["t5"]]
    html = response.content.decode()
    assert "<html" not in html  # an HTMX fragment
    assert 'data-linked="yes"' in html and "multi-input" in html


def test_why_not_linked(as_examiner, ledger):
    chain, _ids, _store = ledger
    thief = chain.address("thief")
    response = as_examiner.get(f"/ledger/cluster/{thief}/why/",
                               {"a": thief, "b": chain.address("victim")})
    assert response.context["steps"] is None
    assert "Not linked" in response.content.decode()
    assert "<html" in response.content.decode()  # without HTMX, a whole page


def test_an_address_that_never_spent_has_no_cluster(as_examiner, ledger):
    chain, _ids, _store = ledger
    response = as_examiner.get(f"/ledger/cluster/{chain.address('hot')}/")
    assert response.status_code == 404
    assert "input addresses" in response.content.decode()


def test_unknown_heuristic_is_refused(as_examiner, ledger):
    chain, _ids, _store = ledger
    response = as_examiner.get(f"/ledger/cluster/{chain.address('clean')}/",
                               {"heuristics": "guesswork"})
    assert response.status_code == 404


def test_change_heuristics_can_be_chosen(as_examiner, ledger):
    chain, _ids, _store = ledger
    response = as_examiner.get(f"/ledger/cluster/{chain.address('clean')}/",
                               {"heuristics": ["multi-input", "round-value"]})
    assert response.status_code == 200
    assert response.context["result"]["heuristics"] == ["multi-input", "round-value"]
    assert "heuristics=round-value" in response.content.decode()


@pytest.mark.shared_data
def test_the_real_5569_input_transaction(as_examiner, shared_data, dalil_home):
    """Real mainnet data: one cluster of its (derived) input addresses, and why."""
    from dalil.engine.ledger.store import LedgerStore

    store = LedgerStore(dalil_home / "ledger")
    assert store.ingest([shared_data / "bitcoin/btcd/megatx.bin"]).errors == []
    txid = store.connect().execute("SELECT txid FROM transactions").fetchone()[0]
    tx = as_examiner.get(f"/ledger/tx/{txid}/")
    assert tx.status_code == 200
    inputs = tx.context["tx"]["inputs"]
    assert len(inputs) == 5569
    assert "derived" in tx.content.decode()  # the spent outputs are not in the store
    address = next(i["address"] for i in inputs if i["address"])
    response = as_examiner.get(f"/ledger/cluster/{address}/")
    assert response.status_code == 200
    members = response.context["result"]["members"]
    assert set(members) == {i["address"] for i in inputs if i["address"]}
    assert len(members) > 1
    why = as_examiner.get(f"/ledger/cluster/{address}/why/", {"a": members[0], "b": members[1]})
    assert why.context["steps"] and all(s["txid"] == txid for s in why.context["steps"])
