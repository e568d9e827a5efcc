"""Attribution tags: GraphSense TagPacks and Dalil tag lists, stored as Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chainbuilder import Chain

from dalil.engine.ledger.cluster import cluster_store
from dalil.engine.ledger.store import LedgerStore
from dalil.engine.ledger.tags import TagError, import_tags, parse_tag_file, tags_of

TAGPACK = """\
title: Ransomware payment addresses
creator: Analyst A
description: addresses from victims' ransom notes
is_public: true
label: FooLocker
source: https://example.org/foolocker-report
currency: BTC
category: ransomware
confidence: forensic
lastmod: 2024-01-15
tags:
  - address: 1FooLockerAAAAAAAAAAAAAAAAAAAAAAAA
  - address: 1FooLockerBBBBBBBBBBBBBBBBBBBBBBBB
    label: FooLocker cash-out
    category: mixing_service
    confidence: ownership
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_tagpack_header_is_inherited_and_overridden(tmp_path: Path) -> None:
    tags = parse_tag_file(write(tmp_path / "pack.yaml", TAGPACK))
    assert [t.address for t in tags] == ["1FooLockerAAAAAAAAAAAAAAAAAAAAAAAA",
                                         "1FooLockerBBBBBBBBBBBBBBBBBBBBBBBB"]
    first, second = tags
    assert (first.label, first.category, first.source, first.confidence, first.currency,
            first.creator, first.title) == (
        "FooLocker", "ransomware", "https://example.org/foolocker-report", "forensic", "BTC",
        "Analyst A", "Ransomware payment addresses")
    # the entry's own fields win; GraphSense's "mixing_service" is Dalil's "mixer"
    assert (second.label, second.category, second.confidence) == (
        "FooLocker cash-out", "mixer", "ownership")
    assert second.source == first.source and second.entry == 1


def test_dalil_csv_and_json(tmp_path: Path) -> None:
    csv_tags = parse_tag_file(write(tmp_path / "t.csv",
                                    "Address,Label,Category,Source,Confidence\n"
                                    "1Ex,BigEx hot wallet,exchange,subpoena 7/2024,1.0\n"
                                    "1Sc,Fake shop,Scam,victim report,0.6\n"))
    assert [(t.address, t.category, t.confidence) for t in csv_tags] == [
        ("1Ex", "exchange", "1.0"), ("1Sc", "scam", "0.6")]
    json_tags = parse_tag_file(write(tmp_path / "t.json", json.dumps(
        {"tags": [{"address": "1Mk", "label": "Hydra", "category": "market",
                   "source": "OFAC", "confidence": 90}]})))
    assert (json_tags[0].label, json_tags[0].category, json_tags[0].confidence) == (
        "Hydra", "market", "90")


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.yaml", "title: x\ntags:\n  - address: 1A\n    label: [unclosed\n",
     r"bad\.yaml: not valid YAML at line \d+"),
    ("no-tags.yaml", "title: x\nlabel: y\n", r"no-tags\.yaml: missing or empty 'tags'"),
    ("list.yaml", "- 1\n- 2\n", r"list\.yaml: a TagPack is a YAML mapping"),
    ("noaddr.yaml", "label: L\ntags:\n  - address: 1A\n  - label: only\n",
     r"noaddr\.yaml: tags\[1\]: missing 'address'"),
    ("nolabel.yaml", "title: t\ntags:\n  - address: 1A\n",
     r"nolabel\.yaml: tags\[0\] \(1A\): missing 'label'"),
    ("scalar.yaml", "label: L\ntags:\n  - 1A\n", r"scalar\.yaml: tags\[0\]: an entry is a mapping"),
    ("nolabel.csv", "address,category\n1A,exchange\n", r"nolabel\.csv: missing column 'label'"),
    ("row.csv", "address,label\n1A,ok\n,empty address\n", r"row\.csv: row 3: missing 'address'"),
    ("conf.json", '[{"address": "1A", "label": "x", "confidence": 250}]',
     r"conf\.json: entry 0 \(1A\): confidence 250 is out of range"),
    ("broken.json", '[{"address": ', r"broken\.json: not valid JSON at line 1"),
    ("tags.xlsx", "x", r"tags\.xlsx: unknown tag file type"),
])
def test_malformed_files_name_file_and_entry(tmp_path: Path, name: str, text: str,
                                             message: str) -> None:
    with pytest.raises(TagError, match=message):
        parse_tag_file(write(tmp_path / name, text))


def test_import_stores_parquet_once(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "ledger")
    pack = write(tmp_path / "pack.yaml", TAGPACK)
    report = import_tags(store, pack)
    assert report["tags"] == 2 and report["categories"] == {"ransomware": 1, "mixer": 1}
    assert not report["already_imported"]
    assert list((tmp_path / "ledger" / "tags").glob("part-*.parquet"))
    assert import_tags(store, pack)["already_imported"]
    found = tags_of(store.connect(), ["1FooLockerAAAAAAAAAAAAAAAAAAAAAAAA", "1Nothing"])
    assert list(found) == ["1FooLockerAAAAAAAAAAAAAAAAAAAAAAAA"]
    assert len(found["1FooLockerAAAAAAAAAAAAAAAAAAAAAAAA"]) == 1  # not doubled


def test_malformed_file_stores_nothing(tmp_path: Path) -> None:
    store = LedgerStore(tmp_path / "ledger")
    with pytest.raises(TagError):
        import_tags(store, write(tmp_path / "bad.csv", "address,label\n1A,\n"))
    assert not (tmp_path / "ledger" / "tags").exists()


def test_a_cluster_shows_all_tags_of_its_addresses(tmp_path: Path) -> None:
    chain = Chain()
    cb = chain.coinbase([("a", 50_000), ("b", 40_000)])
    chain.mine()
    chain.tx([(cb, 0), (cb, 1)], [("shop", 85_000)])  # a and b: one owner (multi-input)
    store = LedgerStore(tmp_path / "ledger")
    store.ingest([chain.write(tmp_path / "blk.dat")])
    a, b = chain.address("a"), chain.address("b")
    import_tags(store, write(tmp_path / "t.csv", "address,label,category,source,confidence\n"
                                                 f"{a},Seller X,market,forum post,0.5\n"
                                                 f"{b},Seller X wallet,scam,victim,0.8\n"))
    con = store.connect()
    members = cluster_store(con).cluster_of(a)
    assert members == sorted([a, b])
    tags = tags_of(con, members)
    assert {t.category for found in tags.values() for t in found} == {"market", "scam"}
