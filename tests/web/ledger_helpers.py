"""A small ledger store for the web tests: the engine tests' laundering chain plus a cluster.

Built through the real parser and store (tests/engine/ledger/chainbuilder.py) into the
test's own DALIL_HOME/ledger, with attribution tags, one of them hostile (markup and a
spreadsheet formula in its label and source).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine" / "ledger"))

from chainbuilder import Chain, laundering_chain

from dalil.engine.ledger.store import LedgerStore
from dalil.engine.ledger.tags import import_tags

HOSTILE_LABEL = '=HYPERLINK("http://evil.example","<script>alert(1)</script>")'
HOSTILE_SOURCE = "<img src=x onerror=alert(2)>"


def build_store(home: Path) -> tuple[Chain, dict[str, str], LedgerStore]:
    """Ingest the chain into ``home/ledger`` and import its tags.

    Clusters (multi-input): {thief, clean, evil} — thief and clean through t2, clean and
    evil through t5 — so "why thief and evil" is two steps.
    """
    chain, ids = laundering_chain()
    ids["cb3"] = chain.coinbase([("clean", 70_000)])
    ids["cb4"] = chain.coinbase([("evil", 30_000)])
    chain.mine()
    ids["t5"] = chain.tx([(ids["cb3"], 0), (ids["cb4"], 0)], [("sink", 99_000)])
    chain.mine()
    blocks = home / "blk00000.dat"
    chain.write(blocks)
    store = LedgerStore(home / "ledger")
    report = store.ingest([blocks])
    assert report.errors == []
    tags = home / "tags.csv"
    with open(tags, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["address", "label", "category", "source", "confidence"])
        writer.writerow([chain.address("deposit"), "BigEx deposit", "exchange",
                         "court order 12/2024", "1"])
        writer.writerow([chain.address("thief"), HOSTILE_LABEL, "scam", HOSTILE_SOURCE, "0.5"])
    import_tags(store, tags)
    return chain, ids, store
