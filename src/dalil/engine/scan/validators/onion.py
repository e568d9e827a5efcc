"""Tor onion service addresses: v3 (ed25519 key, SHA3-256 checksum, version 3) and v2.

v3 address = base32(pubkey[32] | checksum[2] | version[1]) + ".onion", with
checksum = SHA3-256(".onion checksum" | pubkey | version)[:2] (tor rend-spec-v3).
"""

from __future__ import annotations

import base64
import hashlib


def onion_v3_from_key(pubkey: bytes) -> str:
    checksum = hashlib.sha3_256(b".onion checksum" + pubkey + b"\x03").digest()[:2]
    return base64.b32encode(pubkey + checksum + b"\x03").decode("ascii").lower() + ".onion"


def valid_onion_v3(address: str) -> bool:
    label = address.lower().removesuffix(".onion")
    if len(label) != 56:
        return False
    try:
        raw = base64.b32decode(label.upper())
    except ValueError:
        return False
    pubkey, checksum, version = raw[:32], raw[32:34], raw[34]
    if version != 3:
        return False
    expected = hashlib.sha3_256(b".onion checksum" + pubkey + b"\x03").digest()[:2]
    return checksum == expected


def valid_onion_v2(address: str) -> bool:
    """A syntactically valid v2 address (16 base32 characters); v2 has no checksum."""
    label = address.lower().removesuffix(".onion")
    return len(label) == 16 and all(c in "abcdefghijklmnopqrstuvwxyz234567" for c in label)
