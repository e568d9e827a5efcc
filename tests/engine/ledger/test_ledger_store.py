"""The Parquet/DuckDB ledger store: ingestion counts, resumption, lookups, bad files."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dalil.engine.ledger.bitcoin.parse import Block, parse_file
from dalil.engine.ledger.store import LedgerStore


@pytest.fixture(scope="module")
def bitcoin(shared_data):
    return shared_data / "bitcoin"


@pytest.mark.shared_data
def test_ingest_counts_and_skips_blocks_already_stored(bitcoin, tmp_path):
    store = LedgerStore(tmp_path / "ledger")
    report = store.ingest([bitcoin / "btcd/277647.dat", bitcoin / "bitcoinj/block169482.dat"])
    assert (report.blocks, report.transactions, report.errors) == (2, 213 + 14, [])
    assert store.counts()["transactions"] == 227
    again = store.ingest([bitcoin / "bitcoinj/block169482.dat"])
    assert (again.blocks, again.skipped_blocks) == (0, 1)
    assert store.counts()["transactions"] == 227


@pytest.mark.shared_data
def test_a_transaction_resolves_inputs_from_outputs_in_the_store(bitcoin, tmp_path):
    store = LedgerStore(tmp_path / "ledger")
    store.ingest([bitcoin / "bitcoinj/first-100k-blocks.dat"])
    blocks = [b for b in parse_file(bitcoin / "bitcoinj/first-100k-blocks.dat")
              if isinstance(b, Block)]
    # Block 170 holds the first person-to-person payment: Satoshi to Hal Finney.
    spend = blocks[170].transactions[1]
    found = store.transaction(spend.txid)
    assert found is not None
    (txin,) = found["inputs"]
    assert txin["value"] == 50 * 100_000_000
    assert txin["address"] == "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S"
    assert txin["derived"] is False
    assert sorted(o["value"] for o in found["outputs"]) == [10 * 10**8, 40 * 10**8]
    summary = store.address("12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S")
    assert summary["received"] >= 50 * 10**8
    assert summary["sent"] >= 50 * 10**8


@pytest.mark.shared_data
def test_input_addresses_are_derived_from_the_spend_when_the_output_is_absent(bitcoin,
                                                                               tmp_path):
    store = LedgerStore(tmp_path / "ledger")
    store.ingest([bitcoin / "btcd/megatx.bin"])
    (row,) = store.connect().execute(
        "SELECT count(*) FILTER (WHERE derived), count(*) FILTER (WHERE address IS NULL), "
        "count(*) FROM inputs_resolved").fetchall()
    derived, unknown, total = row
    assert total == 5569
    assert derived + unknown == total and derived > 0


@pytest.mark.shared_data
def test_a_bad_file_is_reported_and_the_good_ones_stay(bitcoin, tmp_path):
    bad = tmp_path / "blk99999.dat"
    good = (bitcoin / "btcd/blocks1-256").read_bytes()
    bad.write_bytes(good[: len(good) // 2])  # cut in the middle of a record
    store = LedgerStore(tmp_path / "ledger")
    report = store.ingest([bad, bitcoin / "bitcoinj/block169482.dat"])
    assert len(report.errors) == 1 and "blk99999.dat" in report.errors[0]
    assert report.blocks > 1  # the blocks before the cut were kept, then the next file read
    assert store.counts()["blocks"] == report.blocks


@pytest.mark.shared_data
def test_an_interrupted_ingest_leaves_no_half_part_and_resumes(bitcoin, tmp_path):
    store = LedgerStore(tmp_path / "ledger")
    store.ingest([bitcoin / "bitcoinj/block169482.dat"])
    # A crash between writing a part and recording it: an orphan part and a cut manifest line.
    orphan = store.root / "transactions" / "part-000099.parquet"
    orphan.write_bytes(b"PAR1 half written")
    with open(store.manifest_path, "a", encoding="utf-8") as handle:
        handle.write('{"part": 2, "keys": ["abc"')
    assert store.counts()["transactions"] == 14
    assert store.connect().execute("SELECT count(*) FROM transactions").fetchone() == (14,)
    report = store.ingest([bitcoin / "btcd/277647.dat"])
    assert report.blocks == 1
    assert store.connect().execute("SELECT count(*) FROM transactions").fetchone() == (227,)
    lines = store.manifest_path.read_text().splitlines()
    assert json.loads(lines[-1])["counts"]["transactions"] == 213


def test_an_empty_store_answers_queries(tmp_path):
    store = LedgerStore(tmp_path / "ledger")
    assert store.transaction("00" * 32) is None
    assert store.connect().execute("SELECT count(*) FROM outputs").fetchone() == (0,)


@pytest.mark.shared_data
def test_the_addresses_table_agrees_with_the_address_lookup(bitcoin, tmp_path):
    store = LedgerStore(tmp_path / "ledger")
    store.ingest([bitcoin / "bitcoinj/first-100k-blocks.dat"])
    con = store.connect()
    hal = "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3"  # received 10 BTC from Satoshi in block 170
    for address in (hal, "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S"):
        row = con.execute("SELECT received, sent, balance, outputs, inputs, first_seen, "
                          "last_seen FROM addresses WHERE address = ?", [address]).fetchone()
        looked_up = store.address(address)
        assert row[:5] == (looked_up["received"], looked_up["sent"], looked_up["balance"],
                           looked_up["outputs"], looked_up["inputs"])
        assert looked_up["first_seen"] == datetime.fromtimestamp(row[5], UTC).isoformat()
        assert looked_up["last_seen"] == datetime.fromtimestamp(row[6], UTC).isoformat()
    (count,) = con.execute("SELECT count(*) FROM addresses").fetchone()
    (distinct,) = con.execute("SELECT count(DISTINCT address) FROM outputs "
                              "WHERE address IS NOT NULL").fetchone()
    assert count >= distinct > 0
