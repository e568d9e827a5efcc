"""Address encodings against the BIPs' own test vectors (BIP-173, BIP-350) and base58check."""

from __future__ import annotations

import contextlib

import ledger_reference as reference
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.ledger.bitcoin.address import (
    MAINNET,
    TESTNET,
    AddressError,
    address_to_script,
    base58check_decode,
    base58check_encode,
    segwit_decode,
    segwit_encode,
    segwit_script,
)

# BIP-350 "Test vectors for v0-v16 native segregated witness addresses".
VALID = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
     "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
     "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"),
    ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
     "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    ("tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
     "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"),
    ("tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
     "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
     "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
]

INVALID = [
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",  # invalid hrp
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # bech32 for v1
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",  # bech32 for v2
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",  # bech32 for v16
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",  # bech32m for v0
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",  # bech32m for v0
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",  # bad checksum char
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",  # witness version 17
    "bc1pw5dgrnzv",  # 1-byte program
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",  # 41 B
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",  # 16-byte v0 program
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",  # mixed case
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",  # >4 bits padding
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",  # non-zero padding
    "bc1gmk9yu",  # empty data
]


@pytest.mark.parametrize(("address", "script_hex"), VALID)
def test_bip350_valid_addresses_decode_to_their_script(address, script_hex):
    hrp = address.lower().split("1")[0]
    version, program = segwit_decode(hrp, address)
    assert segwit_script(version, program).hex() == script_hex
    assert segwit_encode(hrp, version, program) == address.lower()


@pytest.mark.parametrize("address", INVALID)
def test_bip350_invalid_addresses_are_refused(address):
    hrp = "tb" if address.lower().startswith("tb") else "bc"
    with pytest.raises(AddressError):
        segwit_decode(hrp, address)


def test_taproot_uses_bech32m_not_bech32():
    program = bytes.fromhex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    assert segwit_encode("bc", 1, program) == (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0")


def test_well_known_base58_addresses_round_trip():
    # The genesis coinbase's P2PK key hashes to Satoshi's well-known address.
    genesis_key = bytes.fromhex(
        "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f3"
        "5504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f")
    address = base58check_encode(0, reference.h160(genesis_key))
    assert address == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    assert base58check_decode(address) == (0, reference.h160(genesis_key))
    assert address_to_script(address) == (
        b"\x76\xa9\x14" + reference.h160(genesis_key) + b"\x88\xac")


@pytest.mark.parametrize("bad", ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "0OIl", "", "1"])
def test_a_broken_base58_address_is_refused(bad):
    with pytest.raises(AddressError):
        base58check_decode(bad)


def test_an_address_of_another_network_is_refused():
    with pytest.raises(AddressError):
        address_to_script("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
                          MAINNET)
    assert address_to_script(
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", TESTNET).hex() == (
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262")


@given(version=st.integers(0, 255), payload=st.binary(min_size=0, max_size=40))
def test_base58check_round_trips_and_matches_the_reference(version, payload):
    address = base58check_encode(version, payload)
    assert address == reference.b58check(version, payload)
    assert base58check_decode(address) == (version, payload)


@given(version=st.integers(1, 16), program=st.binary(min_size=2, max_size=40))
def test_segwit_v1_plus_matches_the_reference(version, program):
    address = segwit_encode("bc", version, program)
    assert address == reference.segwit("bc", version, program)
    assert segwit_decode("bc", address) == (version, program)


@given(text=st.text(max_size=100))
def test_decoding_arbitrary_text_never_crashes(text):
    with contextlib.suppress(AddressError):
        segwit_decode("bc", text)
    with contextlib.suppress(AddressError):
        base58check_decode(text)
