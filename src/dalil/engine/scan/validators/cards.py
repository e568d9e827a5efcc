"""Payment cards: the Luhn check digit and the issuers' number ranges (IIN ranges)."""

from __future__ import annotations

# (first digits low, high, number of prefix digits, allowed lengths, brand)
_RANGES: tuple[tuple[int, int, int, tuple[int, ...], str], ...] = (
    (4, 4, 1, (13, 16, 19), "visa"),
    (51, 55, 2, (16,), "mastercard"),
    (2221, 2720, 4, (16,), "mastercard"),
    (34, 34, 2, (15,), "amex"),
    (37, 37, 2, (15,), "amex"),
    (6011, 6011, 4, (16, 17, 18, 19), "discover"),
    (644, 649, 3, (16, 17, 18, 19), "discover"),
    (65, 65, 2, (16, 17, 18, 19), "discover"),
    (3528, 3589, 4, (16, 17, 18, 19), "jcb"),
    (300, 305, 3, (14, 15, 16, 17, 18, 19), "diners"),
    (36, 36, 2, (14, 15, 16, 17, 18, 19), "diners"),
    (38, 39, 2, (16, 17, 18, 19), "diners"),
    (2200, 2204, 4, (16, 17, 18, 19), "mir"),
    (62, 62, 2, (16, 17, 18, 19), "unionpay"),
    (50, 50, 2, (12, 13, 14, 15, 16, 17, 18, 19), "maestro"),
    (56, 58, 2, (12, 13, 14, 15, 16, 17, 18, 19), "maestro"),
    (67, 67, 2, (12, 13, 14, 15, 16, 17, 18, 19), "maestro"),
)


def luhn_ok(digits: str) -> bool:
    """True when the string of decimal digits passes the Luhn (mod 10) check."""
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The issuer whose range and length fit ``digits``, or None."""
    if not digits.isascii() or not digits.isdigit():
        return None
    for low, high, width, lengths, brand in _RANGES:
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return brand
    return None


def valid_card(digits: str) -> bool:
    """A card number: a known issuer range and length, and the Luhn check digit."""
    return card_brand(digits) is not None and luhn_ok(digits)
