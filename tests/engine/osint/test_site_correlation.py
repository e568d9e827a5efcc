"""Entities in captured pages and the sites that share them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.osint.entities import Entity, correlate, extract_entities, page_text

GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


def test_sites_sharing_a_key_or_an_address_are_linked(pgp_key):
    armoured, fingerprint = pgp_key
    market = extract_entities(f"<pre>{armoured}</pre><p>{GENESIS}</p>".encode())
    forum = extract_entities(f"vendor key:\n{armoured}\nvendor: darkseller".encode())
    shop = extract_entities(f"donate {GENESIS} / seller: darkseller".encode())
    links = correlate({"market.onion": market, "forum.onion": forum, "shop.onion": shop})
    by_value = {(link.kind, link.value): link.sites for link in links}
    assert by_value[("pgp", fingerprint)] == ("forum.onion", "market.onion")
    assert by_value[("bitcoin", GENESIS)] == ("market.onion", "shop.onion")
    assert ("username", "vendor:darkseller") in by_value or (
        "username", "seller:darkseller") not in by_value


def test_a_wallet_with_a_broken_checksum_is_not_an_entity():
    broken = GENESIS[:-1] + ("b" if GENESIS[-1] != "b" else "c")
    assert Entity("bitcoin", broken) not in extract_entities(f"pay {broken} now".encode())


def test_markup_does_not_hide_values():
    page = b"<p>mail: info&#64;example.org</p><p>pay&nbsp;" + GENESIS.encode() + b"</p>"
    text = page_text(page)
    assert b"info@example.org" in text
    assert Entity("email", "info@example.org") in extract_entities(page)


@given(data=st.binary(max_size=2000))
def test_any_bytes_give_entities_never_a_crash(data):
    assert isinstance(extract_entities(data), list)
