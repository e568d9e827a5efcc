"""Onion service addresses: v3 validation (rend-spec-v3) and recognition of obsolete v2."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

V3_LENGTH = 56  # base32 of 35 bytes: public key (32) + checksum (2) + version (1)
V2_LENGTH = 16  # base32 of the first 10 bytes of SHA-1 of an RSA-1024 key
_BASE32 = re.compile(r"^[a-z2-7]+$")


@dataclass(frozen=True, slots=True)
class OnionCheck:
    address: str  # normalised: lower case, with ".onion", without scheme, path or subdomain
    valid: bool
    version: int | None
    public_key: str | None = None  # hex, v3 only
    obsolete: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"address": self.address, "valid": self.valid, "version": self.version,
                "public_key": self.public_key, "obsolete": self.obsolete,
                "reason": self.reason}


def _label(text: str) -> str:
    text = text.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split(":", 1)[0]
    if text.endswith(".onion"):
        text = text[: -len(".onion")]
    return text.rsplit(".", 1)[-1]  # a subdomain (www.<service>.onion) names the same service


def v3_checksum(public_key: bytes, version: int = 3) -> bytes:
    """SHA3-256(".onion checksum" | pubkey | version)[:2] (SHA3, not SHA-256)."""
    return hashlib.sha3_256(b".onion checksum" + public_key + bytes([version])).digest()[:2]


def v3_address(public_key: bytes) -> str:
    if len(public_key) != 32:
        raise ValueError("an ed25519 public key is 32 bytes")
    raw = public_key + v3_checksum(public_key) + b"\x03"
    return base64.b32encode(raw).decode("ascii").lower() + ".onion"


def check_onion(text: str) -> OnionCheck:
    """Validate an onion address (a bare label, a host name or a URL)."""
    label = _label(text)
    address = label + ".onion"
    if not label or not _BASE32.match(label):
        return OnionCheck(address, False, None, reason="not base32 (a-z, 2-7)")
    if len(label) == V2_LENGTH:
        return OnionCheck(address, False, 2, obsolete=True,
                          reason="v2 onion service: obsolete since Tor 0.4.6 (2021), "
                                 "unreachable on today's Tor network")
    if len(label) != V3_LENGTH:
        return OnionCheck(address, False, None,
                          reason=f"{len(label)} characters; a v3 address has {V3_LENGTH}")
    raw = base64.b32decode(label.upper())
    public_key, checksum, version = raw[:32], raw[32:34], raw[34]
    if version != 3:
        return OnionCheck(address, False, None, reason=f"version byte {version}, expected 3")
    if checksum != v3_checksum(public_key, version):
        return OnionCheck(address, False, 3, reason="checksum mismatch (a typo?)")
    return OnionCheck(address, True, 3, public_key.hex())
