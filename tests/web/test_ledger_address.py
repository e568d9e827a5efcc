"""The address page: amounts, first/last seen, cluster and tags; the empty-store page."""

from __future__ import annotations

import pytest
from ledger_helpers import HOSTILE_LABEL, build_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(dalil_home):
    return build_store(dalil_home)


def test_empty_store_says_how_to_ingest(as_examiner):
    response = as_examiner.get("/ledger/address/1BoatSLRHtKNngkdXEeobR76b53LETtpyT/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "dalil chain ingest" in html
    assert "dalil chain ingest" in as_examiner.get("/ledger/").content.decode()


def test_address_amounts_cluster_and_tags(as_examiner, ledger):
    chain, _ids, _store = ledger
    thief = chain.address("thief")
    response = as_examiner.get(f"/ledger/address/{thief}/")
    assert response.status_code == 200
    html = response.content.decode()
    summary = response.context["summary"]
    assert (summary["received"], summary["sent"], summary["balance"]) == (90_000, 90_000, 0)
    assert summary["cluster_size"] == 3
    assert summary["first_seen"] and summary["last_seen"]
    assert "0.00090000" in html  # BTC beside satoshi
    assert [t["category"] for t in summary["tags"]] == ["scam"]
    assert f"/ledger/cluster/{thief}/" in html


def test_cluster_tags_are_shown_on_a_members_page(as_examiner, ledger):
    chain, _ids, _store = ledger
    html = as_examiner.get(f"/ledger/address/{chain.address('clean')}/").content.decode()
    assert "scam" in html  # the thief's tag, via the cluster
    assert chain.address("thief") in html


def test_hostile_tag_is_escaped(as_examiner, ledger):
    chain, _ids, _store = ledger
    html = as_examiner.get(f"/ledger/address/{chain.address('thief')}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert HOSTILE_LABEL not in html  # its quotes are escaped too


def test_unknown_address_is_404_with_a_message(as_examiner, ledger):
    response = as_examiner.get("/ledger/address/1NotInTheStoreXXXXXXXXXXXXXXXXXXX/")
    assert response.status_code == 404
    assert "does not appear in the store" in response.content.decode()


def test_lookup_redirects_to_the_address(as_examiner, ledger):
    chain, ids, _store = ledger
    address = chain.address("victim")
    response = as_examiner.get("/ledger/", {"query": f" {address} "})
    assert response.status_code == 302 and response.url == f"/ledger/address/{address}/"
    response = as_examiner.get("/ledger/", {"query": ids["t2"]})
    assert response.url == f"/ledger/tx/{ids['t2']}/"


def test_login_required(client, ledger):
    response = client.get("/ledger/")
    assert response.status_code == 302 and "/login" in response.url


def test_index_shows_the_store_and_its_tag_sources(as_examiner, ledger):
    response = as_examiner.get("/ledger/")
    html = response.content.decode()
    info = response.context["info"]
    assert info.counts["transactions"] == 13 and info.counts["tags"] == 2
    assert info.manifest_sha256 in html
    assert "court order 12/2024" in html
    assert "&lt;img src=x" in html and "<img src=x" not in html
