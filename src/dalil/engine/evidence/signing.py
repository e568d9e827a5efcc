"""The installation's Ed25519 signing key: created on first use, kept with mode 0600."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

PRIVATE_NAME = "ed25519.key"
PUBLIC_NAME = "ed25519.pub"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def fingerprint(public_raw: bytes) -> str:
    """Key id: ``SHA256:`` and the hex digest of the 32 raw public-key bytes."""
    return "SHA256:" + hashlib.sha256(public_raw).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    raw: bytes  # 32 bytes

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        raw = unb64(text)
        if len(raw) != 32:
            raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(raw)}")
        return cls(raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def b64(self) -> str:
        return b64(self.raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class SigningKey:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = PublicKey(
            private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def private_pem(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def load_or_create(keys_dir: Path) -> SigningKey:
    """The installation key in ``keys_dir``; created (mode 0600) when absent."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_path = keys_dir / PRIVATE_NAME
    if private_path.exists():
        mode = private_path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(
                f"{private_path} is readable by others (mode {mode:o}); chmod 600 it"
            )
        private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{private_path} is not an Ed25519 private key")
        return SigningKey(private)
    key = SigningKey.generate()
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return load_or_create(keys_dir)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_pem())
    (keys_dir / PUBLIC_NAME).write_text(key.public.b64() + "\n")
    return key
