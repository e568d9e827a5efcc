"""Known indicators: STIX 2.1 bundles and MISP feeds flag the hits that match them."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.scan import scan
from dalil.engine.scan.indicators import (
    IndicatorError,
    IndicatorSet,
    PatternError,
    parse_pattern,
)

WALLET = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
PAYLOAD = b"dropper for the ransom note"


def _stix(path: Path, objects: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}))
    return path


def _indicator(ident: str, pattern: str, name: str | None = None) -> dict[str, object]:
    obj: dict[str, object] = {"type": "indicator", "spec_version": "2.1",
                              "id": f"indicator--{ident}", "pattern": pattern,
                              "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
    if name:
        obj["name"] = name
    return obj


@pytest.fixture
def stix_feed(tmp_path: Path) -> Path:
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    return _stix(tmp_path / "partner.json", [
        {"type": "identity", "id": "identity--p", "name": "Partner CERT"},
        _indicator("a", "[domain-name:value = 'evil.com']", "C2 domain"),
        _indicator("b", "[ipv4-addr:value = '198.51.100.0/24'] OR "
                        "[url:value = 'http://drop.example/a.php?id=1']"),
        _indicator("c", "[email-addr:value = 'Boss@Fraud.example']"),
        _indicator("d", f"[file:hashes.'SHA-256' = '{sha}']", "dropper"),
        _indicator("e", f"[cryptocurrency-wallet:address = '{WALLET}']"),
        _indicator("f", "[process:name = 'evil.exe']"),
        _indicator("g", "[x-phone-number:value IN ('+77011234567', '+996555123456')]"),
    ])


@pytest.fixture
def misp_feed(tmp_path: Path) -> Path:
    event = {"Event": {
        "info": "Phishing wave", "uuid": "e1", "Orgc": {"name": "Bank ISAC"},
        "Attribute": [
            {"type": "hostname", "value": "login.bank-secure.example", "uuid": "a1"},
            {"type": "ip-dst|port", "value": "203.0.113.7|443", "uuid": "a2"},
            {"type": "btc", "value": WALLET, "uuid": "a3"},
            {"type": "comment", "value": "not matchable", "uuid": "a4"},
        ],
        "Object": [{"name": "email", "Attribute": [
            {"type": "email-src", "value": "phisher@bank-secure.example", "uuid": "a5"}]}],
    }}
    path = tmp_path / "misp-event.json"
    path.write_text(json.dumps(event))
    return path


EVIDENCE = (b"\x00 visit mail.evil.com and 198.51.100.23 or "
            b"http://drop.example/a.php?id=1 \x00 from boss@fraud.example \x00 pay to "
            + WALLET.encode() + b" \x00 call +7 701 123 45 67 \x00 "
            b"https://login.bank-secure.example/x 203.0.113.7 phisher@bank-secure.example\n"
            + gzip.compress(PAYLOAD) + b"\x00")


def test_stix_bundle_flags_hits_naming_the_feed(tmp_path: Path, stix_feed: Path) -> None:
    (tmp_path / "in.bin").write_bytes(EVIDENCE)
    indicators = IndicatorSet.load([stix_feed])
    summary = scan(tmp_path / "in.bin", tmp_path / "out", jobs=1, indicators=indicators)
    alerts = [x.split("\t") for x in (tmp_path / "out" / "alerts.txt").read_text().splitlines()
              if not x.startswith("#")]
    flagged = {(a[3], a[1]) for a in alerts}
    assert ("domain", "mail.evil.com") in flagged
    assert ("ip", "198.51.100.23") in flagged
    assert ("url", "http://drop.example/a.php?id=1") in flagged
    assert ("email", "boss@fraud.example") in flagged
    assert ("bitcoin", WALLET) in flagged
    assert ("telephone", "+7 701 123 45 67") in flagged
    assert ("file", hashlib.sha256(PAYLOAD).hexdigest()) in flagged
    assert all(a[4] == "partner.json" for a in alerts)
    assert any(a[5] == "C2 domain" for a in alerts)
    report = summary.to_dict()
    assert report["alert_count"] == len(alerts)
    feeds = report["indicator_feeds"]
    assert isinstance(feeds, list)
    assert feeds[0]["source"] == "Partner CERT" and feeds[0]["unsupported"] == 1
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {a["feed"] for a in saved["alerts"]} == {"partner.json"}


def test_misp_event_flags_hits(tmp_path: Path, misp_feed: Path) -> None:
    (tmp_path / "in.bin").write_bytes(EVIDENCE)
    indicators = IndicatorSet.load([misp_feed])
    scan(tmp_path / "in.bin", tmp_path / "out", jobs=1, indicators=indicators)
    alerts = [x.split("\t") for x in (tmp_path / "out" / "alerts.txt").read_text().splitlines()
              if not x.startswith("#")]
    flagged = {(a[3], a[1]) for a in alerts}
    assert ("url", "https://login.bank-secure.example/x") in flagged
    assert ("ip", "203.0.113.7") in flagged
    assert ("bitcoin", WALLET) in flagged
    assert ("email", "phisher@bank-secure.example") in flagged
    assert ("domain", "mail.evil.com") not in flagged
    assert all(a[4] == "misp-event.json" and "Phishing wave" in a[5] for a in alerts)
    assert indicators.feeds()[0]["unsupported"] == 1


def test_no_indicators_no_alerts_file(tmp_path: Path) -> None:
    (tmp_path / "in.bin").write_bytes(EVIDENCE)
    scan(tmp_path / "in.bin", tmp_path / "out", jobs=1, scanners="email")
    assert not (tmp_path / "out" / "alerts.txt").exists()


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ('{"type": "bundle", "objects": [{"id": "x"}]}', "object 0: not a STIX object"),
    ('{"type": "bundle", "objects": [{"type": "indicator", "id": "indicator--9", '
     '"pattern": "[domain-name:value = \'x\'"}]}', "indicator--9: bad STIX pattern"),
    ('{"type": "bundle", "objects": [{"type": "indicator", "id": "indicator--8"}]}',
     "indicator--8: indicator without a 'pattern'"),
    ('{"Event": {"info": "E", "Attribute": [{"type": "domain"}]}}',
     "event 'E': attribute 0: needs a 'type' and a 'value'"),
    ('{"Event": {"info": "E", "Attribute": {}}}', "'Attribute' is not a list"),
    ('[1, 2]', "neither a STIX 2.1 bundle"),
])
def test_malformed_feeds_name_the_file_and_object(tmp_path: Path, content: str,
                                                  message: str) -> None:
    path = tmp_path / "bad-feed.json"
    path.write_text(content)
    with pytest.raises(IndicatorError) as caught:
        IndicatorSet.load([path])
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_pattern_comparisons() -> None:
    assert parse_pattern("[domain-name:value = 'a.example' AND domain-name:value != 'b']") \
        == [("domain-name:value", "a.example")]
    assert parse_pattern("[ipv4-addr:value IN ('1.2.3.4', '5.6.7.8')] WITHIN 60 SECONDS") == \
        [("ipv4-addr:value", "1.2.3.4"), ("ipv4-addr:value", "5.6.7.8")]
    assert parse_pattern("[file:hashes.'SHA-256' = 'AB']") == [("file:hashes.'SHA-256'", "AB")]
    assert parse_pattern("[url:value LIKE '%evil%']") == []
    for bad in ("[url:value = 'x'", "url:value = 'x']", "[url:value = ]", "[]", "[x = 'y'] ;"):
        with pytest.raises(PatternError):
            parse_pattern(bad)


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40))
def test_quoted_values_round_trip(value: str) -> None:
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    assert parse_pattern(f"[domain-name:value = '{quoted}']") == [("domain-name:value", value)]


def test_subdomains_networks_and_case() -> None:
    feed = Path(__file__)  # any name: only used in messages
    indicators = IndicatorSet()
    from dalil.engine.scan.indicators import _Feed

    source = _Feed("t", str(feed), "test")
    indicators.add(source, "d", "domain", "Evil.Example.")
    indicators.add(source, "n", "ip", "2001:db8::/32")
    indicators.add(source, "w", "wallet", "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED")
    assert indicators.match("domain", "a.b.evil.example")
    assert not indicators.match("domain", "notevil.example")
    assert indicators.match("ip", "2001:db8:85a3::8a2e:370:7334")
    assert indicators.match("ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
    assert indicators.match("email", "x@mail.evil.example")
