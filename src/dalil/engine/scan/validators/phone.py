"""Telephone numbers through Google's libphonenumber (the ``phonenumbers`` package).

International numbers (written with ``+`` and the country code) are accepted when their
length fits the country's numbering plan (``is_possible_number``): the plans of many
countries change faster than any library's range tables. National numbers (no ``+``) are
accepted only for the first-class countries of this project and only when they are valid
numbers there: Kazakhstan and Russia (+7, trunk prefix 8, "8 (701) 123-45-67"),
Turkmenistan (+993, trunk prefix 8) and Kyrgyzstan (+996, trunk prefix 0); Tajik and
Uzbek numbers carry no trunk prefix and are recognised in international form.
"""

from __future__ import annotations

import phonenumbers

FIRST_CLASS = ("KZ", "KG", "TJ", "TM", "UZ", "RU")
"""Regions treated first-class: national formats and the leading 8 trunk prefix."""

_NATIONAL_BY_PREFIX: dict[str, tuple[str, ...]] = {"8": ("KZ", "RU", "TM"), "0": ("KG",)}


def _digits(text: str) -> str:
    return "".join(c for c in text if "0" <= c <= "9")


def international(text: str) -> str | None:
    """E.164 form of ``+CC ...`` when its length fits the country's plan, else None."""
    digits = _digits(text)
    if not text.startswith("+") or not 8 <= len(digits) <= 15:
        return None
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national(text: str) -> str | None:
    """E.164 form of a first-class country's national number (trunk prefix 8 or 0), or None."""
    digits = _digits(text)
    regions = _NATIONAL_BY_PREFIX.get(digits[:1])
    if regions is None or not 9 <= len(digits) <= 11:
        return None
    for region in regions:
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number_for_region(number, region):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def region_of(e164: str) -> str | None:
    """The region (ISO 3166 alpha-2) that an E.164 number belongs to, when one can be told."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
