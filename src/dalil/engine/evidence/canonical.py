"""Canonical JSON (RFC 8785, JCS) for everything Dalil signs or chains."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical_bytes(document: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 serialisation of a JSON-compatible value."""
    return rfc8785.dumps(document)


def canonical_sha256(document: Any) -> str:
    """Hex SHA-256 of the canonical serialisation."""
    return hashlib.sha256(canonical_bytes(document)).hexdigest()
