"""Onion service addresses: tor's own v3 vector, typos, obsolete v2, hostile text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.ledger.onion import check_onion, v3_address

TOR_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
TOR_ADDRESS = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion"


def test_tors_own_test_vector():
    assert v3_address(bytes.fromhex(TOR_KEY)) == TOR_ADDRESS
    result = check_onion(TOR_ADDRESS)
    assert result.valid and result.version == 3 and result.public_key == TOR_KEY


def test_urls_and_subdomains_name_the_same_service():
    assert check_onion(f"http://www.{TOR_ADDRESS}:80/market?id=1").address == TOR_ADDRESS
    assert check_onion(TOR_ADDRESS.upper()).valid


def test_a_one_character_change_is_invalid():
    typo = "35" + TOR_ADDRESS[2:]
    result = check_onion(typo)
    assert not result.valid and "checksum" in result.reason


def test_v2_is_recognised_as_obsolete():
    result = check_onion("expyuzz4wqqyqhjn.onion")
    assert not result.valid and result.version == 2 and result.obsolete


@given(text=st.text(max_size=120))
def test_any_text_gives_a_verdict_never_a_crash(text):
    result = check_onion(text)
    assert result.valid in (True, False)
    if not result.valid:
        assert result.reason
