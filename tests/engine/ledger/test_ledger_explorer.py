"""Explorer exports (Etherscan ERC-20, Tronscan TRC-20, BTC lists) and account-model tracing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dalil.engine.ledger.explorer import ExplorerError, import_transfers, parse_export
from dalil.engine.ledger.store import LedgerStore
from dalil.engine.ledger.tags import import_tags
from dalil.engine.ledger.trace import SeedNotFound, TraceError, trace, trace_transfers

USDT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"
VICTIM = "0x" + "1a" * 20
CLEAN = "0x" + "2b" * 20
MULE = "0x" + "3C" * 20  # mixed case: Etherscan shows checksummed addresses
B = "0x" + "4d" * 20
C = "0x" + "5e" * 20
EXCHANGE = "0x" + "6f" * 20
AFTER = "0x" + "70" * 20
HEADER = ('"Transaction Hash","Blockno","UnixTimestamp","DateTime (UTC)","From","To",'
          '"TokenValue","USDValueDayOfTx","ContractAddress","TokenName","TokenSymbol"')


def row(n: int, time: int, src: str, dst: str, amount: str) -> str:
    return (f'"0x{n:064x}","{19_000_000 + n}","{time}","2024-01-01 00:00:00","{src}",'
            f'"{dst}","{amount}","$0.00","{USDT}","Tether USD","USDT"')


# victim -> mule 100, clean -> mule 50, mule -> B 120, mule -> C 30, B -> exchange 100,
# exchange -> AFTER 100 (the exchange's own business: never followed)
ETHERSCAN = "\n".join([HEADER,
                       row(1, 1_700_000_000, VICTIM, MULE, "100"),
                       row(2, 1_700_000_100, CLEAN, MULE, "50"),
                       row(3, 1_700_000_200, MULE, B, "120"),
                       row(4, 1_700_000_300, MULE, C, "30"),
                       row(5, 1_700_000_400, B, EXCHANGE, "1,00.000000"),
                       row(6, 1_700_000_500, EXCHANGE, AFTER, "100")]) + "\n"


@pytest.fixture
def store(tmp_path: Path) -> LedgerStore:
    ledger = LedgerStore(tmp_path / "ledger")
    report = import_transfers(ledger, write(tmp_path / "export-token.csv", ETHERSCAN),
                              "etherscan")
    assert report["transfers"] == 6 and report["tokens"] == {"USDT": 6}
    import_tags(ledger, write(tmp_path / "tags.csv", "address,label,category\n"
                                                     f"{EXCHANGE},BigEx,exchange\n"))
    return ledger


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_etherscan_csv(tmp_path: Path) -> None:
    transfers = parse_export(write(tmp_path / "e.csv", ETHERSCAN), "etherscan")
    first = transfers[0]
    assert (first.chain, first.token, first.decimals, first.value) == (
        "ethereum", "USDT", 6, 100_000_000)
    assert first.from_address == VICTIM and transfers[0].to_address == MULE.lower()
    assert first.contract == USDT.lower() and first.block == 19_000_001
    assert first.time == 1_700_000_000 and first.txid == f"0x{1:064x}"
    assert transfers[4].value == 100_000_000  # "1,00.000000": thousands separators


def test_etherscan_api_json_in_base_units(tmp_path: Path) -> None:
    document = {"status": "1", "result": [
        {"hash": "0xab", "blockNumber": "5", "timeStamp": "1700000000", "from": VICTIM,
         "to": MULE, "value": "2500000", "tokenSymbol": "USDT", "tokenDecimal": "6",
         "contractAddress": USDT, "logIndex": "17"}]}
    (t,) = parse_export(write(tmp_path / "api.json", json.dumps(document)), "etherscan")
    assert (t.value, t.position, t.block, t.decimals) == (2_500_000, 17, 5, 6)


def test_tronscan_json_and_csv(tmp_path: Path) -> None:
    document = {"total": 1, "token_transfers": [
        {"transaction_id": "f" * 64, "block_ts": 1_700_000_000_000, "block": 56_000_000,
         "from_address": "TVictimAAAAAAAAAAAAAAAAAAAAAAAAAAA",
         "to_address": "TMuleBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", "quant": "1234567",
         "tokenInfo": {"tokenAbbr": "USDT", "tokenDecimal": 6,
                       "tokenId": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"}}]}
    (t,) = parse_export(write(tmp_path / "tron.json", json.dumps(document)), "tronscan")
    assert (t.chain, t.token, t.value, t.time, t.block) == (
        "tron", "USDT", 1_234_567, 1_700_000_000, 56_000_000)
    assert t.from_address == "TVictimAAAAAAAAAAAAAAAAAAAAAAAAAAA"  # base58: case kept
    assert t.contract == "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    csv_text = ("Txn Hash,Block,Time(UTC),From,To,Amount,Token\n"
                f"{'e' * 64},56000001,2023-11-14 22:13:20,TA,TB,10.5,USDT\n")
    (t,) = parse_export(write(tmp_path / "tron.csv", csv_text), "tronscan")
    assert (t.value, t.time) == (10_500_000, 1_700_000_000)


def test_btc_csv_and_json(tmp_path: Path) -> None:
    (t,) = parse_export(write(tmp_path / "b.csv", "txid,time,from,to,amount\n"
                                                  f"{'a' * 64},2024-03-01T12:00:00Z,1A,1B,"
                                                  "0.015\n"), "btc-csv")
    assert (t.chain, t.token, t.value, t.decimals) == ("bitcoin", "BTC", 1_500_000, 8)
    (t,) = parse_export(write(tmp_path / "b.json", json.dumps(
        [{"hash": "b" * 64, "timestamp": 1_700_000_000, "sender": "1A", "recipient": "1B",
          "value": 42}])), "btc-csv")
    assert t.value == 42


@pytest.mark.parametrize(("fmt", "text", "message"), [
    ("etherscan", '"Txhash","UnixTimestamp","To","TokenValue"\n"0x1","1","0x2","3"\n',
     r"e\.csv: missing column 'from' \(expected one of: from, from address; the file has: "
     r"txhash, unixtimestamp, to, tokenvalue\)"),
    ("etherscan", '"Txhash","UnixTimestamp","From","To"\n"0x1","1","0x2","0x3"\n',
     r"e\.csv: missing column 'amount'"),
    ("btc-csv", "txid,from,to,value\nab,1A,1B,5\n", r"e\.csv: missing column 'time'"),
    ("etherscan", f"{HEADER}\n" + row(1, 1, VICTIM, MULE, "lots"),
     r"e\.csv: row 2, column 'tokenvalue': not a number: 'lots'"),
    ("etherscan", f"{HEADER}\n" + row(1, 1, VICTIM, MULE, "-5"),
     r"e\.csv: row 2, column 'tokenvalue': not a non-negative amount"),
    ("btc-csv", "txid,time,from,to,value\nab,yesterday,1A,1B,5\n",
     r"e\.csv: row 2, column 'time': unreadable time 'yesterday'"),
    ("btc-csv", "txid,time,from,to,value\nab,1,,1B,5\n", r"e\.csv: row 2, column 'from'"),
    ("tronscan", "", r"e\.csv: empty file"),
    ("tronscan", "{not json", r"e\.csv: not valid JSON"),
])
def test_bad_exports_name_file_and_column(tmp_path: Path, fmt: str, text: str,
                                          message: str) -> None:
    with pytest.raises(ExplorerError, match=message):
        parse_export(write(tmp_path / "e.csv", text), fmt)


def test_import_is_idempotent_and_bad_file_adds_nothing(tmp_path: Path) -> None:
    ledger = LedgerStore(tmp_path / "ledger")
    path = write(tmp_path / "e.csv", ETHERSCAN)
    assert not import_transfers(ledger, path, "etherscan")["already_imported"]
    assert import_transfers(ledger, path, "etherscan")["already_imported"]
    with pytest.raises(ExplorerError):
        import_transfers(ledger, write(tmp_path / "bad.csv", "a,b\n1,2\n"), "etherscan")
    assert ledger.connect().execute("SELECT count(*) FROM transfers").fetchone() == (6,)


def edges(result) -> dict[tuple[str, str], tuple[int, int]]:
    return {(e.source[5:], e.target[5:]): (e.amount, e.taint) for e in result.edges}


@pytest.mark.parametrize(("model", "to_b", "to_c", "to_exchange"), [
    # poison: everything after the victim's payment is tainted
    ("poison", 120_000_000, 30_000_000, 100_000_000),
    # FIFO: the mule spends the victim's 100 first (100 of the 120 to B), C gets clean
    # money; B's 100 to the exchange is 100/120 tainted
    ("fifo", 100_000_000, None, 83_333_333),
    # haircut: the mule's 150 are 2/3 tainted, so 80 of 120 and 20 of 30; B passes on 80/120
    ("haircut", 80_000_000, 20_000_000, 66_666_667),
])
def test_forward_account_model(store: LedgerStore, model, to_b, to_c, to_exchange) -> None:
    result = trace_transfers(store.connect(), VICTIM, hops=3, model=model)
    got = edges(result)
    mule = MULE.lower()
    assert got[(VICTIM, mule)] == (100_000_000, 100_000_000)
    assert (CLEAN, mule) not in got
    assert got[(mule, B)] == (120_000_000, to_b)
    if to_c is None:
        assert (mule, C) not in got
    else:
        assert got[(mule, C)] == (30_000_000, to_c)
    assert got[(B, EXCHANGE)] == (100_000_000, to_exchange)
    assert (EXCHANGE, AFTER) not in got  # stopped at the tagged exchange
    assert [s["address"] for s in result.stopped_at] == [EXCHANGE]
    assert result.ledger == "transfers" and "USDT" in result.unit
    assert any("Account model" in line for line in result.assumptions)


def test_backward_account_model_fifo(store: LedgerStore) -> None:
    got = edges(trace_transfers(store.connect(), EXCHANGE, direction="backward", hops=3,
                                model="fifo"))
    mule = MULE.lower()
    assert got[(B, EXCHANGE)] == (100_000_000, 100_000_000)
    assert got[(mule, B)] == (120_000_000, 100_000_000)
    # B's 100 were 100 of the mule's 120, which were victim 100 + clean 20 (FIFO)
    assert got[(VICTIM, mule)] == (100_000_000, 83_333_333)
    assert got[(CLEAN, mule)] == (50_000_000, 16_666_667)


def test_auto_ledger_and_seeds(store: LedgerStore) -> None:
    con = store.connect()
    assert trace(con, MULE, hops=1).ledger == "transfers"  # checksummed case is accepted
    by_tx = trace(con, f"0x{3:064x}", hops=2, model="poison")
    assert edges(by_tx)[(B, EXCHANGE)][1] == 100_000_000
    with pytest.raises(SeedNotFound):
        trace(con, "0x" + "99" * 20)
    with pytest.raises(TraceError, match="only in Bitcoin"):
        trace_transfers(con, f"{'ab' * 32}:0")
