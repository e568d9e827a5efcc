"""OpenPGP public keys: the fingerprint of an ASCII-armoured key block (RFC 4880 / 9580).

An armoured block is ``-----BEGIN PGP PUBLIC KEY BLOCK-----``, optional ``Key: value``
header lines, a blank line, base64 lines, an optional ``=XXXX`` CRC-24 line and the END
line. The first packet must be a public-key packet (tag 6); its fingerprint is

- v4: SHA-1(0x99 | 2-byte length | packet body), 40 hex digits;
- v6: SHA-256(0x9B | 4-byte length | packet body), 64 hex digits (v5: 0x9A).

A block whose base64, CRC-24 or first packet does not check out is not a key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


def crc24(data: bytes) -> int:
    crc = _CRC24_INIT
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    return crc & 0xFFFFFF


def _first_packet(data: bytes) -> tuple[int, bytes] | None:
    """(tag, body) of the first packet, or None if it is not well formed."""
    if not data or not data[0] & 0x80:
        return None
    head = data[0]
    if head & 0x40:  # new format
        tag = head & 0x3F
        if len(data) < 2:
            return None
        first = data[1]
        if first < 192:
            length, pos = first, 2
        elif first < 224:
            if len(data) < 3:
                return None
            length, pos = ((first - 192) << 8) + data[2] + 192, 3
        elif first == 255:
            if len(data) < 6:
                return None
            length, pos = int.from_bytes(data[2:6], "big"), 6
        else:
            return None  # partial lengths are not allowed for key packets
    else:  # old format
        tag = (head >> 2) & 0x0F
        size = (1, 2, 4, 0)[head & 0x03]
        if size == 0 or len(data) < 1 + size:
            return None
        length, pos = int.from_bytes(data[1 : 1 + size], "big"), 1 + size
    body = data[pos : pos + length]
    if len(body) != length:
        return None
    return tag, body


def fingerprint(packets: bytes) -> str | None:
    """The fingerprint (upper-case hex) of the public key that starts ``packets``."""
    first = _first_packet(packets)
    if first is None or first[0] != 6 or not first[1]:
        return None
    body = first[1]
    version = body[0]
    if version == 4:
        return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
    if version in (5, 6):
        prefix = b"\x9a" if version == 5 else b"\x9b"
        return hashlib.sha256(prefix + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    return None


def armored_fingerprint(block: str) -> str | None:
    """The fingerprint of an armoured public key block, or None if it does not check out."""
    lines = [line.strip() for line in block.replace("\r", "").split("\n")]
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----"):
        return None
    i = 1
    while i < len(lines) and lines[i] and ":" in lines[i]:  # armour headers
        i += 1
    if i < len(lines) and not lines[i]:
        i += 1
    body: list[str] = []
    checksum: str | None = None
    for line in lines[i:]:
        if line.startswith("-----END PGP PUBLIC KEY BLOCK-----"):
            break
        if line.startswith("=") and len(line) == 5:
            checksum = line[1:]
            continue
        if line:
            body.append(line)
    try:
        data = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        return None
    if checksum is not None:
        try:
            expected = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
        except (binascii.Error, ValueError):
            return None
        if crc24(data) != expected:
            return None
    return fingerprint(data)
