"""Multi-input clustering: real transactions, CoinJoin exclusions, explanations, warnings."""

from __future__ import annotations

import pytest

from dalil.engine.ledger.cluster import (
    MULTI_INPUT,
    TxSpend,
    cluster_multi_input,
    cluster_store,
    coinjoin_kind,
)
from dalil.engine.ledger.store import LedgerStore


@pytest.mark.shared_data
def test_the_5569_input_transaction_is_one_cluster(shared_data, tmp_path):
    store = LedgerStore(tmp_path / "ledger")
    store.ingest([shared_data / "bitcoin/btcd/megatx.bin"])
    con = store.connect()
    addresses = {a for (a,) in con.execute(
        "SELECT DISTINCT address FROM inputs_resolved WHERE address IS NOT NULL").fetchall()}
    assert len(addresses) > 1
    clustering = cluster_store(con)
    first = next(iter(addresses))
    assert set(clustering.cluster_of(first)) == addresses
    steps = clustering.why(*sorted(addresses)[:2])
    assert steps and all(s["heuristic"] == MULTI_INPUT for s in steps)
    assert all(s["txid"].startswith("bb41a757") for s in steps)


def test_a_coinjoin_shaped_transaction_does_not_merge_its_inputs():
    inputs = [f"addr{i}" for i in range(5)]
    whirlpool = TxSpend("cj", inputs, [5_000_000] * 5)
    assert coinjoin_kind(5, 5, [5_000_000] * 5) == "whirlpool"
    clustering = cluster_multi_input([whirlpool])
    assert clustering.cluster_of("addr0") == ["addr0"]
    assert clustering.skipped == {"whirlpool": 1}
    assert coinjoin_kind(3, 3, [70_000, 70_000, 70_000, 12_345, 999]) == "joinmarket"
    equal_output = TxSpend("eq", ["a", "b"], [50_000, 50_000, 1_234])
    assert coinjoin_kind(2, 2, [50_000, 50_000, 1_234]) == "equal-output"
    assert cluster_multi_input([equal_output]).cluster_of("a") == ["a"]


def test_an_ordinary_payment_merges_and_explains_the_path():
    txs = [
        TxSpend("t1", ["A", "B"], [150_000, 3_210]),
        TxSpend("t2", ["B", "C"], [90_000]),
        TxSpend("t3", ["D", "E"], [10_000, 20_000]),
        TxSpend("cb", ["X"], [50 * 10**8], coinbase=True),
    ]
    clustering = cluster_multi_input(txs)
    assert clustering.cluster_of("A") == ["A", "B", "C"]
    assert clustering.cluster_of("D") == ["D", "E"]
    assert clustering.why("A", "D") is None
    steps = clustering.why("A", "C")
    assert [s["txid"] for s in steps] == ["t1", "t2"]
    assert steps[0]["from"] == "A" and steps[-1]["to"] == "C"
    assert clustering.summary()["skipped_transactions"] == {"coinbase": 1}


def test_a_merge_of_two_large_clusters_is_warned():
    left = [TxSpend(f"l{i}", ["L0", f"L{i}"], [1000 + i]) for i in range(1, 5)]
    right = [TxSpend(f"r{i}", ["R0", f"R{i}"], [2000 + i]) for i in range(1, 5)]
    bridge = TxSpend("bridge", ["L1", "R1"], [777])
    clustering = cluster_multi_input([*left, *right, bridge], large=5)
    assert [(w.reason, w.sizes) for w in clustering.warnings] == [("bridge", (5, 5))]
    assert len(clustering.cluster_of("L3")) == 10
