"""Change heuristics: each switched on by name, each link explained by txid and heuristic."""

from __future__ import annotations

import pytest
from chainbuilder import Chain
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.ledger.cluster import (
    TxSpend,
    cluster_multi_input,
    cluster_store,
    cluster_transactions,
    parse_heuristics,
)
from dalil.engine.ledger.store import LedgerStore


def spend(txid, ins, outs, *, in_types=None, in_values=None, out_types=None, coinbase=False):
    """TxSpend from [address], [(address, value)]; types default to p2pkh."""
    return TxSpend(txid, list(ins), [v for _a, v in outs], coinbase,
                   [a for a, _v in outs], out_types or ["p2pkh"] * len(outs),
                   in_types or ["p2pkh"] * len(ins),
                   in_values if in_values is not None else [None] * len(ins))


def linked(clustering, a, b) -> bool:
    return clustering.why(a, b) is not None


def test_parse_heuristics() -> None:
    assert parse_heuristics("round-value, multi-input") == ("multi-input", "round-value")
    with pytest.raises(ValueError, match=r"unknown heuristic.*bogus.*available"):
        parse_heuristics("multi-input,bogus")
    with pytest.raises(ValueError, match="no heuristic"):
        parse_heuristics(" , ")


def test_address_type_change() -> None:
    tx = spend("t1", ["in1"], [("pay", 70_000), ("chg", 29_000)],
               in_types=["p2wpkh"], out_types=["p2pkh", "p2wpkh"])
    off = cluster_transactions([tx], ["multi-input"])
    assert "chg" not in off.index  # multi-input alone never looks at outputs
    on = cluster_transactions([tx], ["multi-input", "address-type"])
    assert on.why("in1", "chg") == [
        {"from": "in1", "to": "chg", "txid": "t1", "heuristic": "address-type"}]
    assert not linked(on, "in1", "pay")


def test_round_value_change() -> None:
    tx = spend("t1", ["in1"], [("pay", 1_000_000), ("chg", 234_567)])
    result = cluster_transactions([tx], ["round-value"])
    assert result.why("in1", "chg")[0]["heuristic"] == "round-value"
    assert not linked(result, "in1", "pay")
    # two round outputs (or none): no decision
    both = spend("t2", ["in1"], [("a", 1_000_000), ("b", 500_000)])
    assert cluster_transactions([both], ["round-value"]).why("in1", "b") is None


def test_optimal_change_needs_every_input_value() -> None:
    tx = spend("t1", ["in1", "in2"], [("pay", 100_000), ("chg", 9_000)],
               in_values=[50_000, 60_000])
    assert cluster_transactions([tx], ["optimal-change"]).why("in1", "chg")[0][
        "heuristic"] == "optimal-change"
    unknown = spend("t2", ["in1", "in2"], [("pay", 100_000), ("chg", 9_000)],
                    in_values=[50_000, None])
    assert not linked(cluster_transactions([unknown], ["optimal-change"]), "in1", "chg")


def test_one_time_change() -> None:
    fund = spend("t0", ["x"], [("shop", 10), ("y", 10)])
    pay = spend("t1", ["in1"], [("shop", 60_000), ("fresh", 39_000)])
    result = cluster_transactions([fund, pay], ["one-time-change"])
    assert result.why("in1", "fresh")[0] == {"from": "in1", "to": "fresh", "txid": "t1",
                                               "heuristic": "one-time-change"}
    # the same, but "fresh" is paid again later: not a one-time address
    again = spend("t2", ["z"], [("fresh", 5)])
    assert not linked(cluster_transactions([fund, pay, again], ["one-time-change"]),
                      "in1", "fresh")


def test_agreeing_heuristics_are_named_together_and_conflicts_skipped() -> None:
    agree = spend("t1", ["in1"], [("pay", 1_000_000), ("chg", 234_567)],
                  in_types=["p2wpkh"], out_types=["p2pkh", "p2wpkh"])
    result = cluster_transactions([agree], ["address-type", "round-value"])
    assert result.why("in1", "chg")[0]["heuristic"] == "address-type+round-value"
    # address-type picks output 1 (p2wpkh), round-value output 0: neither is trusted
    conflict = spend("t2", ["in2"], [("a", 234_567), ("b", 1_000_000)],
                     in_types=["p2wpkh"], out_types=["p2pkh", "p2wpkh"])
    result = cluster_transactions([conflict], ["address-type", "round-value"])
    assert not linked(result, "in2", "a") and not linked(result, "in2", "b")
    assert result.skipped["change-conflict"] == 1


def test_guards_coinbase_coinjoin_and_self_change() -> None:
    coinbase = spend("cb", [None], [("miner", 1_000_000), ("x", 234_567)], coinbase=True)
    self_change = spend("t1", ["in1"], [("pay", 1_000_000), ("in1", 234_567)])
    # five inputs and five equal outputs of a Whirlpool pool, plus nothing else
    whirlpool = spend("cj", [f"w{i}" for i in range(5)],
                      [(f"o{i}", 1_000_000) for i in range(5)])
    result = cluster_transactions([coinbase, self_change, whirlpool],
                                  ["multi-input", "round-value", "address-type"])
    assert "x" not in result.index
    assert result.why("in1", "pay") is None
    assert len(set(result.cluster_id(f"w{i}") for i in range(5))) == 5
    assert result.skipped == {"coinbase": 1, "whirlpool": 1}


def test_multi_input_alone_is_unchanged() -> None:
    txs = [spend("t1", ["a", "b"], [("c", 5), ("d", 7)]),
           spend("t2", ["b", "e"], [("f", 100_000), ("g", 3)])]
    old = cluster_multi_input(txs)
    new = cluster_transactions(txs, ["multi-input"])
    assert new.addresses == old.addresses and new.reasons == old.reasons
    assert new.labels.tolist() == old.labels.tolist()


addresses = st.sampled_from([f"a{i}" for i in range(12)])
txs_strategy = st.lists(
    st.tuples(st.lists(addresses, min_size=1, max_size=4),
              st.lists(st.tuples(addresses, st.sampled_from([1_000_000, 234_567, 5_000, 77])),
                       min_size=1, max_size=3)),
    max_size=12)


@settings(max_examples=60, deadline=None)
@given(txs_strategy)
def test_change_heuristics_only_add_links(raw) -> None:
    """Every pair multi-input links stays linked when change heuristics are added."""
    txs = [spend(f"t{n}", ins, outs) for n, (ins, outs) in enumerate(raw)]
    base = cluster_transactions(txs, ["multi-input"])
    more = cluster_transactions(txs, ["multi-input", "one-time-change", "round-value",
                                      "optimal-change", "address-type"])
    for a in base.addresses:
        for b in base.cluster_of(a):
            assert more.why(a, b) is not None
            for step in more.why(a, b):
                assert step["txid"] in {t.txid for t in txs}


def test_store_clustering_with_change_heuristics(tmp_path) -> None:
    chain = Chain()
    chain.kind("alice", "p2wpkh")
    chain.kind("alice_change", "p2wpkh")
    cb = chain.coinbase([("alice", 500_000), ("alice2", 300_000)])
    chain.mine()
    # alice (p2wpkh) pays a legacy shop 0.002 BTC, change to a new p2wpkh address
    pay = chain.tx([(cb, 0)], [("shop", 200_000), ("alice_change", 290_000)])
    chain.mine()
    store = LedgerStore(tmp_path / "ledger")
    assert store.ingest([chain.write(tmp_path / "blk.dat")]).errors == []
    con = store.connect()
    alice, change = chain.address("alice"), chain.address("alice_change")
    assert cluster_store(con).why(alice, change) is None
    result = cluster_store(con, heuristics=["multi-input", "address-type", "round-value"])
    assert result.why(alice, change) == [{"from": alice, "to": change, "txid": pay,
                                          "heuristic": "address-type+round-value"}]
    assert result.cluster_of(change) == sorted([alice, change])
