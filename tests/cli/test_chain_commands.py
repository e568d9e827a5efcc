"""`dalil chain ingest/tx/address/cluster/cluster-of/why` and `dalil onion check`."""

from __future__ import annotations

import json

import pytest

from dalil.engine.ledger.bitcoin.parse import parse_file

GENESIS_ADDRESS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
TOR = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion"


@pytest.fixture
def ingested(dalil, shared_data):
    bitcoin = shared_data / "bitcoin"
    result = dalil("chain", "ingest", str(bitcoin / "bitcoinj/first-100k-blocks.dat"),
                   str(bitcoin / "btcd/megatx.bin"), "--json")
    assert result.returncode == 0, result.stderr
    return dalil, json.loads(result.stdout)


@pytest.mark.shared_data
def test_ingest_prints_counts_then_tx_and_address_lookups(ingested, shared_data):
    ingested_files = [shared_data / "bitcoin/bitcoinj/first-100k-blocks.dat"]
    dalil, counts = ingested
    blocks = list(parse_file(ingested_files[0]))
    assert counts["blocks"] == 439
    assert counts["transactions"] == sum(len(b.transactions) for b in blocks) + 1
    assert counts["inputs"] >= 5569 and counts["errors"] == []
    address = dalil.json("chain", "address", GENESIS_ADDRESS)
    assert address["received"] >= 50 * 10**8
    genesis_tx = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    tx = dalil.json("chain", "tx", genesis_tx)
    assert tx["outputs"][0]["address"] == GENESIS_ADDRESS
    assert tx["outputs"][0]["script_type"] == "p2pk"
    assert tx["time"].startswith("2009-01-03")


@pytest.mark.shared_data
def test_cluster_cluster_of_and_why(ingested):
    dalil, _ = ingested
    summary = dalil.json("chain", "cluster")
    assert summary["clusters"] >= 1 and summary["skipped_transactions"]["coinbase"] == 439
    mega_txid = "bb41a757f405890fb0f5856228e23b715702d714d59bf2b1feb70d8b2b4e3e08"
    mega_member = dalil.json("chain", "tx", mega_txid)["inputs"]
    first = next(i["address"] for i in mega_member if i["address"])
    other = next(i["address"] for i in mega_member if i["address"] and i["address"] != first)
    members = dalil.json("chain", "cluster-of", first)
    assert other in members["members"] and members["size"] == len(members["members"])
    why = dalil.json("chain", "why", first, other)
    assert why["linked"] and why["steps"][0]["heuristic"] == "multi-input"
    plain = dalil("chain", "why", first, other)
    assert "were inputs of transaction bb41a757" in " ".join(plain.stdout.split())
    unlinked = dalil("chain", "why", first, GENESIS_ADDRESS)
    assert unlinked.returncode == 1 and "not linked" in unlinked.stdout


def test_querying_before_ingesting_says_what_to_do(dalil):
    result = dalil("chain", "tx", "00" * 32)
    assert result.returncode == 2 and "dalil chain ingest" in result.stderr


def test_a_broken_file_is_named_and_exits_1(dalil, tmp_path):
    broken = tmp_path / "blk00007.dat"
    broken.write_bytes(bytes.fromhex("f9beb4d9") + (10**6).to_bytes(4, "little") + b"\1" * 90)
    result = dalil("chain", "ingest", str(broken), "--json")
    assert result.returncode == 1
    assert "blk00007.dat" in result.stderr
    assert json.loads(result.stdout)["blocks"] == 0


def test_an_unknown_heuristic_or_network_exits_2(dalil, tmp_path):
    assert dalil("chain", "ingest", str(tmp_path), "--network", "moon").returncode == 2


def test_onion_check(dalil):
    assert dalil.json("onion", "check", TOR)["public_key"].startswith("d75a9801")
    typo = dalil("onion", "check", "35" + TOR[2:], "--json")
    assert typo.returncode == 1 and json.loads(typo.stdout)["valid"] is False
    v2 = dalil("onion", "check", "expyuzz4wqqyqhjn.onion")
    assert v2.returncode == 1 and "obsolete" in v2.stdout
