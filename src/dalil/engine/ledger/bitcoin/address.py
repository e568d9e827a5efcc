"""Bitcoin address encodings: base58check (P2PKH, P2SH), bech32 (witness v0), bech32m (v1+).

bech32/bech32m are written here from the BIP-173 / BIP-350 reference algorithm rather than
taken from PyPI: the popular ``bech32`` package (1.2.0, the one most tools depend on)
implements only BIP-173's constant and so encodes and accepts taproot (v1) addresses with
the wrong checksum. The BIPs' test vectors are in tests/engine/ledger.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    p2pkh: int
    p2sh: int
    hrp: str


MAINNET = Network("mainnet", 0x00, 0x05, "bc")
TESTNET = Network("testnet", 0x6F, 0xC4, "tb")
SIGNET = Network("signet", 0x6F, 0xC4, "tb")
REGTEST = Network("regtest", 0x6F, 0xC4, "bcrt")
NETWORKS = {n.name: n for n in (MAINNET, TESTNET, SIGNET, REGTEST)}
NETWORKS["testnet4"] = TESTNET


class AddressError(ValueError):
    """Not a valid address."""


try:  # copying a ready RIPEMD-160 object is a third faster than hashlib.new("ripemd160")
    _RIPEMD160: hashlib._Hash | None = hashlib.new("ripemd160")
except ValueError:  # an OpenSSL without it: hash160 raises the same error when called
    _RIPEMD160 = None
_sha256 = hashlib.sha256


def hash160(data: bytes) -> bytes:
    """RIPEMD-160 of the SHA-256 of ``data``."""
    if _RIPEMD160 is None:
        return hashlib.new("ripemd160", _sha256(data).digest()).digest()
    h = _RIPEMD160.copy()
    h.update(_sha256(data).digest())
    return h.digest()


# --- base58check -------------------------------------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(B58)}


_B58_PAIRS = [a + b for a in B58 for b in B58]  # 58**2 two-character groups
_B58_CHUNK = 58**10


def base58_encode(data: bytes) -> str:
    # Ten base-58 digits per big-integer division, then two per table lookup: about four
    # times faster than one divmod per digit on the 25-byte payloads of addresses.
    n = int.from_bytes(data, "big")
    groups: list[str] = []
    pairs = _B58_PAIRS
    while n:
        n, chunk = divmod(n, _B58_CHUNK)
        for _ in range(5):
            chunk, pair = divmod(chunk, 3364)
            groups.append(pairs[pair])
    text = "".join(reversed(groups)).lstrip("1")
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + text


def base58_decode(text: str) -> bytes:
    n = 0
    for c in text:
        if c not in _B58_INDEX:
            raise AddressError(f"{c!r} is not a base58 character")
        n = n * 58 + _B58_INDEX[c]
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def base58check_encode(version: int, payload: bytes) -> str:
    data = bytes([version]) + payload
    check = hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4]
    return base58_encode(data + check)


def base58check_decode(text: str) -> tuple[int, bytes]:
    raw = base58_decode(text)
    if len(raw) < 5:
        raise AddressError("too short for base58check")
    data, check = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4] != check:
        raise AddressError("base58check checksum mismatch")
    return data[0], data[1:]


# --- bech32 / bech32m (BIP-173, BIP-350 reference algorithm) ------------------------------

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Encoding(Enum):
    BECH32 = 1
    BECH32M = 0x2BC830A3


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32_encode(hrp: str, data: list[int], encoding: Encoding) -> str:
    values = _hrp_expand(hrp) + data
    polymod = _polymod([*values, 0, 0, 0, 0, 0, 0]) ^ encoding.value
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


def bech32_decode(text: str) -> tuple[str, list[int], Encoding]:
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise AddressError("character outside the printable ASCII range")
    if text.lower() != text and text.upper() != text:
        raise AddressError("mixed case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or sep + 7 > len(text) or len(text) > 90:
        raise AddressError("bad separator position or length")
    hrp = text[:sep]
    try:
        data = [_CHARSET_INDEX[c] for c in text[sep + 1 :]]
    except KeyError as exc:
        raise AddressError(f"{exc.args[0]!r} is not a bech32 character") from None
    const = _polymod(_hrp_expand(hrp) + data)
    for encoding in Encoding:
        if const == encoding.value:
            return hrp, data[:-6], encoding
    raise AddressError("bech32 checksum mismatch")


def convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out = []
    maxv = (1 << tobits) - 1
    for value in data:
        if value < 0 or value >> frombits:
            raise AddressError("value out of range")
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        raise AddressError("invalid padding")
    return out


def segwit_encode(hrp: str, version: int, program: bytes) -> str:
    """bech32 for witness version 0, bech32m for 1..16 (BIP-350)."""
    if not 0 <= version <= 16 or not 2 <= len(program) <= 40:
        raise AddressError(f"invalid witness program (v{version}, {len(program)} bytes)")
    if version == 0 and len(program) not in (20, 32):
        raise AddressError("witness v0 programs are 20 or 32 bytes")
    encoding = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    return bech32_encode(hrp, [version, *convertbits(program, 8, 5, True)], encoding)


def segwit_decode(hrp: str, address: str) -> tuple[int, bytes]:
    got_hrp, data, encoding = bech32_decode(address)
    if got_hrp != hrp:
        raise AddressError(f"human-readable part {got_hrp!r}, expected {hrp!r}")
    if not data or data[0] > 16:
        raise AddressError("invalid witness version")
    program = bytes(convertbits(data[1:], 5, 8, False))
    version = data[0]
    if not 2 <= len(program) <= 40:
        raise AddressError("invalid witness program length")
    if version == 0 and len(program) not in (20, 32):
        raise AddressError("witness v0 programs are 20 or 32 bytes")
    expected = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    if encoding is not expected:
        raise AddressError(f"witness v{version} must use {expected.name.lower()}")
    return version, program


def segwit_script(version: int, program: bytes) -> bytes:
    return bytes([version + 0x50 if version else 0, len(program)]) + program


def address_to_script(address: str, network: Network = MAINNET) -> bytes:
    """The scriptPubKey an address pays to (raises :class:`AddressError` when invalid)."""
    if address.lower().startswith(network.hrp + "1"):
        return segwit_script(*segwit_decode(network.hrp, address))
    version, payload = base58check_decode(address)
    if len(payload) != 20:
        raise AddressError("base58 payload is not 20 bytes")
    if version == network.p2pkh:
        return b"\x76\xa9\x14" + payload + b"\x88\xac"
    if version == network.p2sh:
        return b"\xa9\x14" + payload + b"\x87"
    raise AddressError(f"version byte {version} is not {network.name}'s")
