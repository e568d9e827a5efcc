"""The transaction page: inputs and outputs, values in satoshi and BTC, script types, links."""

from __future__ import annotations

import pytest
from ledger_helpers import build_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(dalil_home):
    return build_store(dalil_home)


def test_inputs_and_outputs(as_examiner, ledger):
    chain, ids, _store = ledger
    response = as_examiner.get(f"/ledger/tx/{ids['t2']}/")
    assert response.status_code == 200
    tx = response.context["tx"]
    assert [i["value"] for i in tx["inputs"]] == [90_000, 100_000]
    assert [o["value"] for o in tx["outputs"]] == [120_000, 60_000]
    assert tx["fee"] == 10_000
    html = response.content.decode()
    assert "p2pkh" in html
    assert "0.00120000" in html and "0.00010000" in html  # an output and the fee in BTC
    for name in ("thief", "clean", "mix_a", "mix_b"):
        assert f'href="/ledger/address/{chain.address(name)}/"' in html
    assert f'href="/ledger/tx/{ids["t1"]}/"' in html  # the spent output's transaction
    assert f'href="/ledger/tx/{ids["t3"]}/"' in html  # the spender of mix_a


def test_coinbase(as_examiner, ledger):
    _chain, ids, _store = ledger
    response = as_examiner.get(f"/ledger/tx/{ids['cb'].upper()}/")
    assert response.status_code == 200
    assert response.context["tx"]["is_coinbase"] is True
    assert "coinbase" in response.content.decode()


def test_unknown_and_malformed_txids(as_examiner, ledger):
    response = as_examiner.get("/ledger/tx/" + "ab" * 32 + "/")
    assert response.status_code == 404
    assert "not in the ledger store" in response.content.decode()
    assert as_examiner.get("/ledger/tx/<script>/").status_code == 404


def test_empty_store(as_examiner):
    response = as_examiner.get("/ledger/tx/" + "ab" * 32 + "/")
    assert "dalil chain ingest" in response.content.decode()
