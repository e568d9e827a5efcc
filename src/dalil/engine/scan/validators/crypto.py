"""Cryptocurrency addresses: Bitcoin, Litecoin, Tron, Ethereum (EIP-55) and Monero.

Keccak-256 (Ethereum, Monero) is the original Keccak padding, not NIST SHA3-256: it comes
from pycryptodome's ``Crypto.Hash.keccak``.
"""

from __future__ import annotations

from Crypto.Hash import keccak

from dalil.engine.scan.validators.base58 import ALPHABET, b58check_decode
from dalil.engine.scan.validators.bech32 import decode_segwit

_BTC_VERSIONS = {0x00: "p2pkh", 0x05: "p2sh"}
_LTC_VERSIONS = {0x30: "p2pkh", 0x32: "p2sh"}


def keccak256(data: bytes) -> bytes:
    return keccak.new(data=data, digest_bits=256).digest()


def _base58_kind(text: str, versions: dict[int, str]) -> str | None:
    payload = b58check_decode(text)
    if payload is None or len(payload) != 21:
        return None
    return versions.get(payload[0])


def bitcoin_kind(address: str) -> str | None:
    """p2pkh, p2sh, segwit-v0 or segwit-v1.. for a valid mainnet Bitcoin address, else None."""
    if address[:3].lower() == "bc1":
        decoded = decode_segwit("bc", address)
        return None if decoded is None else f"segwit-v{decoded[0]}"
    return _base58_kind(address, _BTC_VERSIONS)


def valid_bitcoin(address: str) -> bool:
    return bitcoin_kind(address) is not None


def valid_litecoin(address: str) -> bool:
    """A Litecoin address: base58check version 0x30 (L) or 0x32 (M), or ltc1 segwit."""
    if address[:4].lower() == "ltc1":
        return decode_segwit("ltc", address) is not None
    return _base58_kind(address, _LTC_VERSIONS) is not None


def valid_tron(address: str) -> bool:
    """A Tron address: base58check of 0x41 followed by the 20-byte account id."""
    payload = b58check_decode(address)
    return payload is not None and len(payload) == 21 and payload[0] == 0x41


def eip55(address: str) -> str:
    """The EIP-55 mixed-case checksum form of a 0x-prefixed 40-hex-digit address."""
    body = address[2:].lower()
    digest = keccak256(body.encode("ascii")).hex()
    return "0x" + "".join(
        ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch
        for i, ch in enumerate(body)
    )


def valid_ethereum(address: str) -> bool:
    """0x and 40 hex digits; when written in mixed case, the EIP-55 checksum must hold."""
    if len(address) != 42 or address[:2] not in ("0x", "0X"):
        return False
    body = address[2:]
    if not body.isascii() or any(c not in "0123456789abcdefABCDEF" for c in body):
        return False
    if body == body.lower() or body == body.upper():
        return True
    return eip55(address) == "0x" + body


# Monero: base58 in blocks of 8 bytes -> 11 characters, the last block shorter.
_XMR_BLOCK_CHARS = (0, 2, 3, 5, 6, 7, 9, 10, 11)
_XMR_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
MONERO_NETBYTES = {18: "standard", 19: "integrated", 42: "subaddress"}


def monero_decode(text: str) -> bytes | None:
    """The bytes of a Monero base58 string (8-byte blocks as 11 characters), or None."""
    out = bytearray()
    for start in range(0, len(text), 11):
        block = text[start : start + 11]
        try:
            size = _XMR_BLOCK_CHARS.index(len(block))
        except ValueError:
            return None
        value = 0
        for ch in block:
            digit = _XMR_INDEX.get(ch)
            if digit is None:
                return None
            value = value * 58 + digit
        if value >= 1 << (8 * size):
            return None
        out += value.to_bytes(size, "big")
    return bytes(out)


def monero_kind(address: str) -> str | None:
    """standard, integrated or subaddress for a valid mainnet Monero address, else None."""
    raw = monero_decode(address)
    if raw is None or len(raw) not in (69, 77):
        return None
    if keccak256(raw[:-4])[:4] != raw[-4:]:
        return None
    kind = MONERO_NETBYTES.get(raw[0])
    if kind is None or (kind == "integrated") != (len(raw) == 77):
        return None
    return kind


def valid_monero(address: str) -> bool:
    return monero_kind(address) is not None
