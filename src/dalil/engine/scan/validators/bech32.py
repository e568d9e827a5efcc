"""Bech32 (BIP-173) and Bech32m (BIP-350) strings and segwit addresses.

Witness version 0 must use bech32, versions 1 to 16 bech32m (BIP-350): a taproot
address written with the bech32 constant is invalid.
"""

from __future__ import annotations

from enum import Enum

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_INDEX = {ch: i for i, ch in enumerate(CHARSET)}
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Encoding(Enum):
    BECH32 = 1
    BECH32M = 0x2BC830A3


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32_decode(text: str) -> tuple[str, list[int], Encoding] | None:
    """(human-readable part, data without checksum, encoding) or None (BIP-173 rules)."""
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        return None
    if text.lower() != text and text.upper() != text:
        return None
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text) or len(text) > 90:
        return None
    hrp = text[:pos]
    data: list[int] = []
    for ch in text[pos + 1 :]:
        digit = _INDEX.get(ch)
        if digit is None:
            return None
        data.append(digit)
    const = _polymod(_hrp_expand(hrp) + data)
    for encoding in Encoding:
        if const == encoding.value:
            return hrp, data[:-6], encoding
    return None


def _convertbits(
    data: list[int], frombits: int, tobits: int, *, pad: bool = False
) -> list[int] | None:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        if value >> frombits:
            return None
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return out


def decode_segwit(hrp: str, address: str) -> tuple[int, bytes] | None:
    """(witness version, witness program) of a segwit address for ``hrp``, or None."""
    decoded = bech32_decode(address)
    if decoded is None:
        return None
    got_hrp, data, encoding = decoded
    if got_hrp != hrp or not data:
        return None
    version = data[0]
    program = _convertbits(data[1:], 5, 8)
    if program is None or not 2 <= len(program) <= 40 or version > 16:
        return None
    if version == 0 and len(program) not in (20, 32):
        return None
    if (version == 0) != (encoding is Encoding.BECH32):
        return None
    return version, bytes(program)


def encode_segwit(hrp: str, version: int, program: bytes) -> str:
    """The address of a witness program (bech32 for version 0, bech32m after)."""
    encoding = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    data = [version, *(_convertbits(list(program), 8, 5, pad=True) or [])]
    polymod = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ encoding.value
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)
