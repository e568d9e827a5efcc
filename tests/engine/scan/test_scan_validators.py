"""Validators: official vectors, and a valid item with one character changed fails."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.scan.validators import cards, crypto, iban, kz_iin, onion, phone
from dalil.engine.scan.validators.bech32 import decode_segwit, encode_segwit

# BIP-173 / BIP-350 valid mainnet segwit addresses, and invalid ones
BIP350_VALID = [
    "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
    "BC1SW50QGDZ25J",
    "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
]
BIP350_INVALID = [
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # bech32 for v1
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",  # bech32 for v16
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",  # bech32m for v0
    "bc1rw5uspcuh",  # program too short
    "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",  # invalid program length for v0
    "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",  # zero padding of more than 4 bits
    "bc1gmk9yu",  # empty data section
    "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",  # testnet hrp
]
BASE58_BTC = ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"]
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
TRON = ["TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]
MONERO = [
    # Monero documentation: a standard address and a subaddress (mainnet)
    "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge",
    "888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H",
]
IBANS = ["KZ86125KZT5004100100", "GB82WEST12345698765432", "DE89370400440532013000",
         "RU0204452560040702810412345678901"]


@pytest.mark.parametrize("address", BIP350_VALID)
def test_bip350_valid(address: str) -> None:
    assert decode_segwit("bc", address) is not None
    version, program = decode_segwit("bc", address)  # type: ignore[misc]
    assert encode_segwit("bc", version, program) == address.lower()


@pytest.mark.parametrize("address", BIP350_INVALID)
def test_bip350_invalid(address: str) -> None:
    assert decode_segwit("bc", address) is None


@pytest.mark.parametrize("address", BASE58_BTC + BIP350_VALID[:1])
def test_bitcoin_valid(address: str) -> None:
    assert crypto.valid_bitcoin(address)


@pytest.mark.parametrize("address", EIP55)
def test_eip55_vectors(address: str) -> None:
    assert crypto.eip55(address.lower()) == address
    assert crypto.valid_ethereum(address)
    assert crypto.valid_ethereum(address.lower())


def test_keccak_is_not_sha3() -> None:
    assert crypto.keccak256(b"").hex().startswith("c5d2460186f7233c927e7db2dcc703c0")


@pytest.mark.parametrize("address", TRON)
def test_tron(address: str) -> None:
    assert crypto.valid_tron(address)
    assert not crypto.valid_bitcoin(address)


@pytest.mark.parametrize("address", MONERO)
def test_monero(address: str) -> None:
    assert crypto.valid_monero(address)


def test_onion_tor_vector() -> None:
    key = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    address = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion"
    assert onion.onion_v3_from_key(key) == address
    assert onion.valid_onion_v3(address)


@pytest.mark.parametrize("number", IBANS)
def test_iban(number: str) -> None:
    assert iban.valid_iban(number)
    assert iban.valid_iban(" ".join(number[i:i + 4] for i in range(0, len(number), 4)))


def test_kz_iin() -> None:
    # Check digits computed by hand with weights 1..11: 8+0+... (see the module docstring)
    assert kz_iin.check_digit("90040130054") is not None
    number = "90040130054" + str(kz_iin.check_digit("90040130054"))
    assert kz_iin.kind(number) == "IIN"
    assert kz_iin.kind("000000000000") is None


def test_card_examples() -> None:
    for number in ("4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"):
        assert cards.valid_card(number)
    assert not cards.valid_card("4111111111111112")
    assert not cards.valid_card("1111111111111117")  # no issuer


@pytest.mark.parametrize("text,e164", [
    ("8 (701) 123-45-67", "+77011234567"), ("87011234567", "+77011234567"),
    ("8 (495) 123-45-67", "+74951234567"), ("0 (555) 123 456", "+996555123456"),
    ("8 12 34 56 78", "+99312345678"),
])
def test_phone_national_first_class(text: str, e164: str) -> None:
    assert phone.national(text) == e164


@pytest.mark.parametrize("text", ["+7 701 123 45 67", "+996 555 123 456", "+992 93 123 4567",
                                  "+993 65 123456", "+998 90 123 45 67", "+7 (495) 123-45-67"])
def test_phone_international_first_class(text: str) -> None:
    e164 = phone.international(text)
    assert e164 is not None
    assert phone.region_of(e164) in phone.FIRST_CLASS


def _mutations(draw: st.DrawFn, value: str, alphabet: str) -> str:
    index = draw(st.integers(0, len(value) - 1))
    replacement = draw(st.sampled_from(alphabet).filter(lambda c: c != value[index]))
    return value[:index] + replacement + value[index + 1:]


@st.composite
def mutated(draw: st.DrawFn, values: list[str], alphabet: str) -> str:
    return _mutations(draw, draw(st.sampled_from(values)), alphabet)


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@settings(max_examples=300, deadline=None)
@given(mutated(BASE58_BTC, B58))
def test_bitcoin_base58_mutation_fails(address: str) -> None:
    assert not crypto.valid_bitcoin(address)


@settings(max_examples=300, deadline=None)
@given(mutated([a.lower() for a in BIP350_VALID], "qpzry9x8gf2tvdw0s3jn54khce6mua7l"))
def test_bech32_mutation_fails(address: str) -> None:
    assert decode_segwit("bc", address) is None


@settings(max_examples=300, deadline=None)
@given(mutated(TRON, B58))
def test_tron_mutation_fails(address: str) -> None:
    assert not crypto.valid_tron(address)


@settings(max_examples=200, deadline=None)
@given(mutated(MONERO, B58))
def test_monero_mutation_fails(address: str) -> None:
    assert not crypto.valid_monero(address)


@settings(max_examples=300, deadline=None)
@given(mutated([a[2:] for a in EIP55], "0123456789abcdefABCDEF"))
def test_eip55_mutation_fails(body: str) -> None:
    if body.lower() == body or body.upper() == body:
        return  # an all-one-case address carries no checksum
    assert not crypto.valid_ethereum("0x" + body)


@settings(max_examples=300, deadline=None)
@given(mutated(["25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid"],
               "abcdefghijklmnopqrstuvwxyz234567"))
def test_onion_mutation_fails(label: str) -> None:
    assert not onion.valid_onion_v3(label + ".onion")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(IBANS), st.data())
def test_iban_mutation_fails(number: str, data: st.DataObject) -> None:
    # mod 97-10 detects every change of one digit for a digit or one letter for a letter;
    # a letter in a digits-only account part is refused by the country's format.
    index = data.draw(st.integers(0, len(number) - 1))
    pool = "0123456789" if number[index].isdigit() else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if index >= 4 and number[:2] in iban.NUMERIC_BBAN:
        pool = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    replacement = data.draw(st.sampled_from(pool).filter(lambda c: c != number[index]))
    assert not iban.valid_iban(number[:index] + replacement + number[index + 1:])


@settings(max_examples=300, deadline=None)
@given(st.text("0123456789", min_size=15, max_size=15), st.data())
def test_luhn_single_digit_change_fails(body: str, data: st.DataObject) -> None:
    number = "4" + body
    number = number[:-1] + str(next(d for d in range(10) if cards.luhn_ok(number[:-1] + str(d))))
    assert cards.valid_card(number)
    assert not cards.valid_card(_mutations(data.draw, number, "0123456789"))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 99), st.integers(1, 12), st.integers(1, 28), st.integers(1, 6),
       st.integers(0, 9999), st.data())
def test_kz_iin_single_digit_change_fails(yy: int, mm: int, dd: int, century: int,
                                          serial: int, data: st.DataObject) -> None:
    first = f"{yy:02d}{mm:02d}{dd:02d}{century}{serial:04d}"
    check = kz_iin.check_digit(first)
    if check is None:
        return
    number = first + str(check)
    assert kz_iin.valid_kz_iin(number)
    mutant = _mutations(data.draw, number, "0123456789")
    def first_pass(n: str) -> int:
        return sum(int(c) * w for c, w in zip(n[:11], range(1, 12))) % 11

    # The algorithm's own blind spots: the 11th digit has weight 11 = 0 (mod 11) in the
    # first pass, and a sum of 10 switches to the second weight set.
    if mutant[10] != number[10] or 10 in (first_pass(number), first_pass(mutant)):
        return
    assert kz_iin.check_digit(mutant[:11]) != int(mutant[11])
