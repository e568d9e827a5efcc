"""IBAN: the country's length (the SWIFT IBAN registry) and the ISO 7064 mod 97-10 check."""

from __future__ import annotations

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
"""Length of the IBAN of each country in the SWIFT IBAN registry (KZ: 20)."""


NUMERIC_BBAN = frozenset((
    "AT", "BA", "BE", "CZ", "DE", "DK", "EE", "ES", "FI", "FO", "GL", "HR", "HU",
    "IL", "LT", "ME", "NO", "PL", "PT", "RS", "RU", "SE", "SI", "SK", "TN",
))
"""Countries whose account part (BBAN) is digits only: a letter there is a misread."""


def mod97(iban: str) -> int:
    """The ISO 7064 mod 97-10 remainder of an IBAN (country and check digits moved last)."""
    text = iban[4:] + iban[:4]
    total = 0
    for ch in text:
        if "0" <= ch <= "9":
            total = (total * 10 + ord(ch) - 48) % 97
        elif "A" <= ch <= "Z":
            total = (total * 100 + ord(ch) - 55) % 97
        else:
            raise ValueError(f"not an IBAN character: {ch!r}")
    return total


def valid_iban(text: str) -> bool:
    """True for an IBAN (spaces allowed between groups) of the right length and checksum."""
    iban = text.replace(" ", "")
    if not iban.isascii() or not iban.isalnum() or not iban[:2].isupper():
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None or len(iban) != expected or not iban[2:4].isdigit():
        return False
    if iban != iban.upper():
        return False
    if iban[:2] in NUMERIC_BBAN and not iban[4:].isdigit():
        return False
    return mod97(iban) == 1
