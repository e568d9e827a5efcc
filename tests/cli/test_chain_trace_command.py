"""`dalil chain trace`, `dalil chain tags import`, `dalil chain import-transfers`, and the
cluster and tags shown by `dalil chain address` and `dalil chain cluster --heuristics`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine" / "ledger"))
from chainbuilder import Chain, laundering_chain


@pytest.fixture
def case(dalil, tmp_path: Path):
    chain, ids = laundering_chain()
    blk = chain.write(tmp_path / "blk00000.dat")
    dalil("chain", "ingest", str(blk), "--json", check=True)
    tags = tmp_path / "tags.csv"
    tags.write_text("address,label,category,source,confidence\n"
                    f"{chain.address('deposit')},BigEx,exchange,subpoena,1\n"
                    f"{chain.address('victim')},Victim wallet,scam,police report,1\n",
                    encoding="utf-8")
    report = dalil.json("chain", "tags", "import", str(tags))
    assert report["tags"] == 2 and report["categories"] == {"exchange": 1, "scam": 1}
    return dalil, chain, ids


def test_trace_json_is_one_document_with_the_flow(case) -> None:
    dalil, chain, _ids = case
    result = dalil("chain", "trace", chain.address("victim"), "--model", "fifo", "--hops",
                   "5", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["model"] == "fifo" and document["direction"] == "forward"
    assert document["totals"] == {"addr:" + chain.address("deposit"): 50_000,
                                  "addr:" + chain.address("mix_c"): 40_000}
    assert document["stopped_at"][0]["address"] == chain.address("deposit")
    assert document["assumptions"] and all(e["time"].endswith("+00:00")
                                           for e in document["edges"])


def test_trace_text_backward_and_by_output(case) -> None:
    dalil, _chain, ids = case
    result = dalil("chain", "trace", f"{ids['t3']}:1", "--direction", "backward", "--model",
                   "haircut", "--hops", "4")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "backward trace from" in text and "30,789" in text  # victim's share of mix_c
    assert "Haircut" in result.stderr  # the assumptions are printed (on stderr)


def test_trace_peeling_chain_is_reported(case) -> None:
    dalil, chain, _ids = case
    result = dalil("chain", "trace", chain.address("peeler"), "--hops", "5", "--model",
                   "poison")
    assert "peeling chain of 3 transactions" in " ".join(result.stdout.split())


def test_trace_bad_input(case) -> None:
    dalil, chain, _ids = case
    unknown = dalil("chain", "trace", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "--json")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "received nothing" in unknown.stderr
    bad_model = dalil("chain", "trace", chain.address("victim"), "--model", "lifo")
    assert bad_model.returncode == 2 and "unknown taint model" in bad_model.stderr
    bad_hops = dalil("chain", "trace", chain.address("victim"), "--hops", "0")
    assert bad_hops.returncode == 2


def test_trace_before_anything_is_stored(dalil) -> None:
    result = dalil("chain", "trace", "ab" * 32)
    assert result.returncode == 2 and "dalil chain ingest" in result.stderr


def test_address_shows_cluster_and_tags(case) -> None:
    dalil, chain, _ids = case
    victim = dalil.json("chain", "address", chain.address("victim"))
    assert victim["cluster"] is not None and victim["cluster_size"] == 1
    assert victim["tags"][0]["label"] == "Victim wallet"
    assert victim["tags"][0]["category"] == "scam"
    text = dalil("chain", "address", chain.address("deposit"), check=True).stdout
    assert "BigEx" in text and "exchange" in text


def test_cluster_heuristics_by_name(dalil, tmp_path: Path) -> None:
    chain = Chain()
    chain.kind("alice", "p2wpkh")
    chain.kind("change", "p2wpkh")
    cb = chain.coinbase([("alice", 500_000)])
    chain.mine()
    chain.tx([(cb, 0)], [("shop", 200_000), ("change", 290_000)])
    dalil("chain", "ingest", str(chain.write(tmp_path / "blk.dat")), check=True)
    alice, change = chain.address("alice"), chain.address("change")
    plain = dalil("chain", "why", alice, change, "--json")
    assert plain.returncode == 1 and json.loads(plain.stdout)["linked"] is False
    why = dalil.json("chain", "why", alice, change, "--heuristics",
                     "multi-input,address-type")
    assert why["steps"][0]["heuristic"] == "address-type"
    text = dalil("chain", "why", alice, change, "--heuristics", "address-type").stdout
    assert "change output (address-type)" in " ".join(text.split())
    summary = dalil.json("chain", "cluster", "--heuristics", "multi-input,address-type")
    assert summary["heuristics"] == ["multi-input", "address-type"]
    assert summary["largest"][0] == 2
    members = dalil.json("chain", "cluster-of", alice, "--heuristics", "address-type")
    assert members["members"] == sorted([alice, change])
    bogus = dalil("chain", "cluster", "--heuristics", "multi-input,gut-feeling")
    assert bogus.returncode == 2 and "gut-feeling" in bogus.stderr


def test_tags_import_errors(dalil, tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text("title: t\nlabel: L\ntags:\n  - address: 1A\n  - label: no address\n",
                    encoding="utf-8")
    result = dalil("chain", "tags", "import", str(pack), "--json")
    assert result.returncode == 1 and result.stdout == ""
    assert "pack.yaml: tags[1]: missing 'address'" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text("title: t\nlabel: L\ncategory: mixing_service\ntags:\n  - address: 1A\n",
                    encoding="utf-8")
    assert dalil.json("chain", "tags", "import", str(good))["categories"] == {"mixer": 1}
    again = dalil("chain", "tags", "import", str(good))
    assert again.returncode == 0 and "imported before" in again.stderr


def test_import_transfers_and_trace_them(dalil, tmp_path: Path) -> None:
    export = tmp_path / "tron.json"
    export.write_text(json.dumps({"token_transfers": [
        {"transaction_id": "a" * 64, "block_ts": 1_700_000_000_000, "from_address": "TVictim",
         "to_address": "TMule", "quant": "5000000", "tokenInfo": {"tokenAbbr": "USDT"}},
        {"transaction_id": "b" * 64, "block_ts": 1_700_000_060_000, "from_address": "TMule",
         "to_address": "TExchange", "quant": "4000000", "tokenInfo": {"tokenAbbr": "USDT"}},
    ]}), encoding="utf-8")
    report = dalil.json("chain", "import-transfers", str(export), "--format", "tronscan")
    assert report["transfers"] == 2 and report["chain"] == "tron"
    assert report["first"].startswith("2023-11-14T22:13:20")
    traced = dalil.json("chain", "trace", "TVictim", "--model", "fifo")
    assert traced["ledger"] == "transfers"
    assert traced["totals"] == {"addr:TExchange": 4_000_000}
    missing = tmp_path / "export-token.csv"
    missing.write_text('"Txhash","UnixTimestamp","From","To"\n"0x1","1","0x2","0x3"\n',
                       encoding="utf-8")
    result = dalil("chain", "import-transfers", str(missing), "--format", "etherscan")
    assert result.returncode == 1
    assert "export-token.csv: missing column 'amount'" in result.stderr
    bad_format = dalil("chain", "import-transfers", str(export), "--format", "bscscan")
    assert bad_format.returncode == 2 and "etherscan, tronscan, btc-csv" in bad_format.stderr
