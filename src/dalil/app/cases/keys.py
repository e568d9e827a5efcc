"""The installation's signing key and the public keys it trusts, both kept in DALIL_HOME/keys.

Trusted keys live on the file system, not in the database: someone able to edit the
database must not be able to make Dalil trust a key of their own.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings

from dalil.engine.evidence.signing import PublicKey, SigningKey, load_or_create


def keys_dir() -> Path:
    return Path(settings.DALIL_HOME) / "keys"


@cache
def _key_for(home: str) -> SigningKey:
    return load_or_create(Path(home) / "keys")


def installation_key() -> SigningKey:
    return _key_for(str(settings.DALIL_HOME))


def trusted_keys() -> dict[str, PublicKey]:
    """The installation's own public key and every partner key imported with a bundle."""
    own = installation_key().public
    keys = {own.fingerprint: own}
    trusted = keys_dir() / "trusted"
    if trusted.is_dir():
        for path in sorted(trusted.glob("*.pub")):
            key = PublicKey.from_b64(path.read_text().strip())
            keys[key.fingerprint] = key
    return keys


def trust(key: PublicKey) -> None:
    """Accept custody signatures made with a partner's key (after a verified bundle import)."""
    trusted = keys_dir() / "trusted"
    trusted.mkdir(parents=True, exist_ok=True)
    name = key.fingerprint.split(":", 1)[1] + ".pub"
    (trusted / name).write_text(key.b64() + "\n")
