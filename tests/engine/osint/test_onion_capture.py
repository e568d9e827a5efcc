"""Capturing an onion page through a SOCKS5 proxy into a WARC, with its hashes."""

from __future__ import annotations

import hashlib
import random

import pytest
from osint_servers import Site, onion

from dalil.engine.osint.capture import CaptureError, capture
from dalil.engine.osint.entities import Entity, extract_entities
from dalil.engine.osint.warc import WarcError, responses

GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


def _market(pgp: str) -> bytes:
    key_html = pgp.replace("\n", "<br>\n")
    return (f"<html><head><title>Market</title></head><body><h1>Vendor shop</h1>"
            f"<p>Pay to <b>{GENESIS}</b></p><p>contact: vendor&#64;example.org, "
            f"https://t.me/vendor_shop_bot</p><p>Jabber: vendor@jabber.example</p>"
            f"<div class=key>{key_html}</div></body></html>").encode()


def test_an_onion_page_is_captured_through_the_proxy(servers, tmp_path, pgp_key):
    armoured, fingerprint = pgp_key
    site = onion(1)
    Site.pages[f"{site}/"] = (200, {"Content-Type": "text/html; charset=utf-8"},
                              _market(armoured))
    warc = tmp_path / "capture.warc.gz"
    record = capture(f"http://{site}/", warc, proxy=servers.proxy_url, operator="officer.k")
    assert servers.proxy.names == [site]  # the proxy, not this machine, resolved the name
    assert record.status == 200 and record.onion["valid"] is True
    assert record.warc_sha256 == hashlib.sha256(warc.read_bytes()).hexdigest()
    assert record.warc_md5 == hashlib.md5(warc.read_bytes()).hexdigest()
    assert not (tmp_path / "capture.warc.gz.part").exists()
    with open(warc, "rb") as handle:
        (page,) = list(responses(handle))
    assert page.url == f"http://{site}/" and page.status == "200"
    assert page.body == _market(armoured)  # stored gzipped as received, read back decoded
    entities = extract_entities(page.body)
    assert Entity("bitcoin", GENESIS) in entities
    assert Entity("email", "vendor@example.org") in entities
    assert Entity("pgp", fingerprint) in entities
    assert Entity("username", "jabber:vendor@jabber.example") in entities
    assert any(e.kind == "telegram" for e in entities)


def test_redirects_are_followed_and_every_hop_recorded(servers, tmp_path):
    site = onion(2)
    Site.pages[f"{site}/"] = (302, {"Location": "/shop"}, b"")
    Site.pages[f"{site}/shop"] = (200, {"Content-Type": "text/html"}, b"<p>shop</p>")
    record = capture(f"http://{site}/", tmp_path / "c.warc.gz", proxy=servers.proxy_url)
    assert [h.status for h in record.hops] == [302, 200]
    assert record.final_url == f"http://{site}/shop"
    with open(tmp_path / "c.warc.gz", "rb") as handle:
        assert [r.status for r in responses(handle)] == ["302", "200"]


def test_a_large_body_is_cut_and_marked(servers, tmp_path):
    site = onion(3)
    Site.pages[f"{site}/big"] = (200, {"Content-Type": "application/octet-stream"},
                                 random.Random(7).randbytes(1 << 20))
    record = capture(f"http://{site}/big", tmp_path / "big.warc.gz", proxy=servers.proxy_url,
                     max_bytes=10_000)
    assert record.hops[-1].truncated and record.body_size == 10_000


@pytest.mark.parametrize(("url", "message"), [
    ("http://expyuzz4wqqyqhjn.onion/", "obsolete"),
    ("http://" + onion(6)[:20] + ("b" if onion(6)[20] != "b" else "c") + onion(6)[21:] + "/",
     "checksum"),
    ("ftp://example.org/", "not an http"),
])
def test_bad_addresses_are_refused_before_any_connection(servers, tmp_path, url, message):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CaptureError, match=message):
        capture(url, out / "x.warc.gz", proxy=servers.proxy_url)
    assert servers.proxy.names == []
    assert list(out.iterdir()) == []


def test_a_proxy_that_is_down_is_named(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(CaptureError, match=r"through the proxy socks5h://127\.0\.0\.1:9 "):
        capture(f"http://{onion(4)}/", out / "x.warc.gz",
                proxy="socks5h://127.0.0.1:9", timeout=5)
    assert list(out.iterdir()) == []


def test_an_existing_file_is_never_overwritten(servers, tmp_path):
    existing = tmp_path / "x.warc.gz"
    existing.write_bytes(b"earlier capture")
    with pytest.raises(CaptureError, match="never overwrites"):
        capture(f"http://{onion(5)}/", existing, proxy=servers.proxy_url)
    assert existing.read_bytes() == b"earlier capture"


def test_a_file_that_is_not_a_warc_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.warc.gz"
    bogus.write_bytes(b"this is not a WARC\r\n\r\n")
    with open(bogus, "rb") as handle, pytest.raises(WarcError, match="bogus"):
        list(responses(handle, name="bogus.warc.gz"))
