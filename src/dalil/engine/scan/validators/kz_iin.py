"""Kazakhstan IIN (individuals) and BIN (legal entities): 12 digits with a mod-11 check digit.

The check digit is the weighted sum of the first 11 digits modulo 11 with weights 1..11;
when that gives 10, the weights 3..11, 1, 2 are used; a second 10 means the number is
never issued. An IIN starts with the birth date YYMMDD and a century/sex digit 1-6; a BIN
starts with the registration year and month YYMM and a legal-entity-type digit 4-6.
"""

from __future__ import annotations

_W1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_W2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def check_digit(first11: str) -> int | None:
    """The check digit of the first 11 digits, or None when none exists."""
    digits = [ord(c) - 48 for c in first11]
    value = sum(d * w for d, w in zip(digits, _W1, strict=True)) % 11
    if value == 10:
        value = sum(d * w for d, w in zip(digits, _W2, strict=True)) % 11
        if value == 10:
            return None
    return value


def kind(number: str) -> str | None:
    """``"IIN"``, ``"BIN"`` or None for a 12-digit string whose check digit is right."""
    if len(number) != 12 or not number.isascii() or not number.isdigit():
        return None
    if check_digit(number[:11]) != ord(number[11]) - 48:
        return None
    month = int(number[2:4])
    if not 1 <= month <= 12:
        return None
    day = int(number[4:6])
    if number[6] in "123456" and 1 <= day <= 31:
        return "IIN"
    if number[4] in "456":
        return "BIN"
    return None


def valid_kz_iin(number: str) -> bool:
    """True for a well-formed IIN or BIN with the right check digit."""
    return kind(number) is not None
