"""Tracing over a synthetic chain whose taint under each model is worked out by hand."""

from __future__ import annotations

import json

import pytest
from chainbuilder import laundering_chain
from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.ledger.store import LedgerStore
from dalil.engine.ledger.tags import import_tags
from dalil.engine.ledger.trace import (
    SeedNotFound,
    TraceError,
    map_intervals,
    parse_seed,
    trace,
    trace_bitcoin,
)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("trace")
    chain, ids = laundering_chain()
    chain.write(root / "blk00000.dat")
    store = LedgerStore(root / "ledger")
    report = store.ingest([root / "blk00000.dat"])
    assert report.errors == [] and report.blocks == 5
    tags = root / "tags.csv"
    tags.write_text("address,label,category,source,confidence\n"
                    f"{chain.address('deposit')},BigEx deposit,exchange,court order 12/2024,1\n",
                    encoding="utf-8")
    import_tags(store, tags)
    return chain, ids, store.connect()


def flows(result, chain) -> dict[tuple[str, str], tuple[int, int]]:
    """{(from, to): (amount, taint)} with names instead of ids, for readable asserts."""
    names = {"addr:" + chain.address(n): n for n in (
        "victim", "clean", "thief", "mix_a", "mix_b", "mix_c", "deposit", "hot", "peeler",
        "peeler1", "peeler2", "peeler3", "shop1", "shop2", "shop3")}

    def name(node: str) -> str:
        return names.get(node, node)

    return {(name(e.source), name(e.target)): (e.amount, e.taint) for e in result.edges}


def tx(ids, key):
    return "tx:" + ids[key]


@pytest.mark.parametrize(("model", "mix_a", "mix_b", "deposit", "mix_c"), [
    # poison: all touched value is tainted
    ("poison", 120_000, 60_000, 50_000, 65_000),
    # haircut: t2 is 90/190 tainted; t3 passes on mix_a's share 56,842.1/120,000
    ("haircut", 56_842, 28_421, 23_684, 30_789),
    # FIFO: thief's 90,000 come first in t2 and fill mix_a; mix_a's first 90,000
    # pay the 50,000 deposit, then 40,000 of mix_c
    ("fifo", 90_000, None, 50_000, 40_000),
])
def test_forward_taint_by_model(case, model, mix_a, mix_b, deposit, mix_c) -> None:
    chain, ids, con = case
    result = trace_bitcoin(con, chain.address("victim"), direction="forward", hops=5,
                           model=model)
    got = flows(result, chain)
    assert got[("victim", tx(ids, "t1"))] == (100_000, 100_000)
    assert got[(tx(ids, "t1"), "thief")] == (90_000, 90_000)  # the fee is gone
    assert got[(tx(ids, "t2"), "mix_a")] == (120_000, mix_a)
    if mix_b is None:
        assert (tx(ids, "t2"), "mix_b") not in got  # FIFO: mix_b holds only clean coins
    else:
        assert got[(tx(ids, "t2"), "mix_b")] == (60_000, mix_b)
    assert got[(tx(ids, "t3"), "deposit")] == (50_000, deposit)
    assert got[(tx(ids, "t3"), "mix_c")] == (65_000, mix_c)
    # the clean coin entering t2 is not tainted, and the exchange's t4 is never reached
    assert ("clean", tx(ids, "t2")) not in got
    assert all(ids["t4"] not in e.txid for e in result.edges)
    assert [s["address"] for s in result.stopped_at] == [chain.address("deposit")]
    assert result.stopped_at[0]["tags"][0]["label"] == "BigEx deposit"
    assert result.peeling_chains == []


def test_hops_limit_and_hop_numbers(case) -> None:
    chain, ids, con = case
    result = trace_bitcoin(con, chain.address("victim"), hops=2, model="poison")
    txs = {n.id: n.hop for n in result.nodes if n.kind == "tx"}
    assert txs == {tx(ids, "t1"): 1, tx(ids, "t2"): 2}


def test_without_stop_categories_the_exchange_is_followed(case) -> None:
    chain, ids, con = case
    result = trace_bitcoin(con, chain.address("victim"), hops=5, model="fifo",
                           stop_categories=())
    got = flows(result, chain)
    assert got[(tx(ids, "t4"), "hot")] == (49_000, 49_000)
    assert result.stopped_at == []
    assert result.totals()["addr:" + chain.address("hot")] == 49_000


def test_backward_fifo_and_haircut(case) -> None:
    chain, ids, con = case
    fifo = flows(trace_bitcoin(con, chain.address("mix_c"), direction="backward", hops=5,
                               model="fifo"), chain)
    # mix_c is bytes 50,000..115,000 of t3's outputs = of mix_a = of t2's output stream,
    # where 50,000..90,000 came from thief (so from victim) and the rest from clean
    assert fifo[("thief", tx(ids, "t2"))] == (90_000, 40_000)
    assert fifo[("clean", tx(ids, "t2"))] == (100_000, 25_000)
    assert fifo[("victim", tx(ids, "t1"))] == (100_000, 40_000)
    haircut = flows(trace_bitcoin(con, chain.address("mix_c"), direction="backward", hops=5,
                                  model="haircut"), chain)
    # 65,000 of t2's inputs in proportion 90,000 : 100,000
    assert haircut[("thief", tx(ids, "t2"))] == (90_000, 30_789)
    assert haircut[("clean", tx(ids, "t2"))] == (100_000, 34_211)
    assert haircut[("victim", tx(ids, "t1"))] == (100_000, 30_789)


def test_seed_by_txid_and_by_output(case) -> None:
    chain, ids, con = case
    by_tx = trace_bitcoin(con, ids["t2"], hops=1, model="fifo")
    got = flows(by_tx, chain)
    assert by_tx.seed_kind == "tx"
    assert got[(tx(ids, "t2"), "mix_a")] == (120_000, 120_000)
    assert got[(tx(ids, "t2"), "mix_b")] == (60_000, 60_000)
    assert got[(tx(ids, "t3"), "mix_c")] == (65_000, 65_000)
    assert ("thief", tx(ids, "t2")) not in got  # the seed's own inputs are not "tainted"
    by_output = trace_bitcoin(con, f"{ids['t2']}:1", hops=3, model="fifo")
    assert by_output.seed_kind == "output" and by_output.edges == []  # mix_b is unspent
    by_output = trace_bitcoin(con, f"{ids['t2']}:0", hops=1, model="fifo")
    assert flows(by_output, chain)[(tx(ids, "t3"), "deposit")] == (50_000, 50_000)


def test_peeling_chain_detected(case) -> None:
    chain, ids, con = case
    result = trace_bitcoin(con, chain.address("peeler"), hops=5, model="poison")
    assert len(result.peeling_chains) == 1
    peel = result.peeling_chains[0]
    assert peel["transactions"] == [ids["p1"], ids["p2"], ids["p3"]]
    assert [p["address"] for p in peel["payments"]] == [
        chain.address("shop1"), chain.address("shop2"), chain.address("shop3")]
    assert peel["peeled"] == 250_000
    assert peel["start_value"] == 1_000_000


def test_result_is_json_with_assumptions_and_utc_times(case) -> None:
    chain, _ids, con = case
    document = json.loads(json.dumps(trace_bitcoin(con, chain.address("victim"), hops=3,
                                                   model="haircut").to_dict()))
    assert document["unit"] == "satoshi" and document["model"] == "haircut"
    assert any("Haircut" in line for line in document["assumptions"])
    assert any("exchange" in line for line in document["assumptions"])
    times = [e["time"] for e in document["edges"]]
    assert times and all(t.endswith("+00:00") for t in times)
    assert {n["kind"] for n in document["nodes"]} == {"tx", "address"}
    assert all(isinstance(e["amount"], int) and isinstance(e["taint"], int)
               for e in document["edges"])


def test_bad_seeds_and_options(case) -> None:
    chain, ids, con = case
    with pytest.raises(SeedNotFound, match="received nothing"):
        trace_bitcoin(con, "1BoatSLRHtKNngkdXEeobR76b53LETtpyT")
    with pytest.raises(SeedNotFound, match="not in the store"):
        trace_bitcoin(con, "ab" * 32)
    with pytest.raises(TraceError, match="no output 7"):
        trace_bitcoin(con, f"{ids['t2']}:7")
    with pytest.raises(TraceError, match="unknown taint model"):
        trace(con, chain.address("victim"), model="lifo")
    with pytest.raises(TraceError, match="direction"):
        trace(con, chain.address("victim"), direction="sideways")
    with pytest.raises(TraceError, match="hops"):
        trace(con, chain.address("victim"), hops=0)


def test_parse_seed() -> None:
    txid = "ab" * 32
    assert parse_seed(txid) == ("tx", txid, None)
    assert parse_seed(f"{txid.upper()}:3") == ("output", txid, 3)
    assert parse_seed(" 1BoatSLRHtKNngkdXEeobR76b53LETtpyT ")[0] == "address"
    assert parse_seed("0x" + "cd" * 32)[0] == "tx"


values = st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=6)


@given(values, values, st.data())
def test_fifo_mapping_conserves_value(ins, outs, data) -> None:
    """FIFO never creates taint, and loses only what falls into the fee."""
    taint = []
    for v in ins:
        a = data.draw(st.integers(min_value=0, max_value=v))
        b = data.draw(st.integers(min_value=a, max_value=v))
        taint.append([(a, b)] if b > a else [])
    mapped = map_intervals(ins, taint, outs)
    total_in = sum(b - a for iv in taint for a, b in iv)
    total_out = sum(b - a for iv in mapped for a, b in iv)
    assert total_out <= total_in
    if sum(outs) >= sum(ins):
        assert total_out == total_in
    for value, iv in zip(outs, mapped, strict=True):
        assert all(0 <= a < b <= value for a, b in iv)
    # and back again: what reached the outputs came from where the taint was
    back = map_intervals(outs, mapped, ins)
    for original, returned in zip(taint, back, strict=True):
        for a, b in returned:
            assert any(x <= a and b <= y for x, y in original)


def test_tracing_only_reads(case) -> None:
    chain, _ids, con = case
    before = con.execute("SELECT count(*) FROM outputs").fetchone()
    trace_bitcoin(con, chain.address("victim"), hops=5, model="fifo")
    assert con.execute("SELECT count(*) FROM outputs").fetchone() == before
