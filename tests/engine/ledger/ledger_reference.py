"""An independent reference derivation of output addresses, for cross-checking the engine.

Written straight from BIP-13/BIP-16 (base58check), BIP-173 and BIP-350 (bech32/bech32m)
without importing anything from dalil, so a shared mistake cannot hide in both.
"""

from __future__ import annotations

import hashlib

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def b58check(version: int, payload: bytes) -> str:
    raw = bytes([version]) + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    n = int.from_bytes(raw, "big")
    text = ""
    while n:
        n, r = divmod(n, 58)
        text = ALPHABET[r] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


def _polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def segwit(hrp: str, version: int, program: bytes) -> str:
    bits = "".join(f"{b:08b}" for b in program)
    bits += "0" * (-len(bits) % 5)
    data = [version] + [int(bits[i : i + 5], 2) for i in range(0, len(bits), 5)]
    const = 1 if version == 0 else 0x2BC830A3
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    mod = _polymod(expanded + data + [0] * 6) ^ const
    checksum = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in data + checksum)


def h160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def output_address(script: bytes, *, p2pkh: int = 0, p2sh: int = 5, hrp: str = "bc") -> str | None:
    """The address a standard scriptPubKey pays to, None for any other script."""
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return b58check(p2pkh, script[3:23])
    if n == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return b58check(p2sh, script[2:22])
    if n in (35, 67) and script[0] == n - 2 and script[-1] == 0xAC:
        key = script[1:-1]  # the whole key: 33 or 65 bytes (the trap: not 64 of 65)
        # Bitcoin Core's CPubKey::ValidSize: the first byte fixes the length (hybrid 6/7 too).
        if (len(key) == 33 and key[0] in (2, 3)) or (len(key) == 65 and key[0] in (4, 6, 7)):
            return b58check(p2pkh, h160(key))
        return None
    if 4 <= n <= 42 and script[1] == n - 2 and (script[0] == 0 or 0x51 <= script[0] <= 0x60):
        version = 0 if script[0] == 0 else script[0] - 0x50
        program = script[2:]
        if version == 0 and len(program) not in (20, 32):
            return None
        return segwit(hrp, version, program)
    return None
