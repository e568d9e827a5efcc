"""The installation key: created once with mode 0600, refused when readable by others."""

from __future__ import annotations

import pytest

from dalil.engine.evidence.canonical import canonical_bytes
from dalil.engine.evidence.signing import PublicKey, load_or_create


def test_the_key_is_created_once_with_mode_0600(tmp_path):
    key = load_or_create(tmp_path / "keys")
    assert (tmp_path / "keys" / "ed25519.key").stat().st_mode & 0o777 == 0o600
    again = load_or_create(tmp_path / "keys")
    assert again.public == key.public
    assert key.public.fingerprint.startswith("SHA256:")


def test_a_key_readable_by_others_is_refused(tmp_path):
    load_or_create(tmp_path / "keys")
    (tmp_path / "keys" / "ed25519.key").chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create(tmp_path / "keys")


def test_signatures_verify_only_for_the_signed_message(tmp_path):
    key = load_or_create(tmp_path / "keys")
    public = PublicKey.from_b64(key.public.b64())
    assert public.verify(key.sign(b"m"), b"m")
    assert not public.verify(key.sign(b"m"), b"n")


def test_canonical_json_follows_rfc8785():
    # RFC 8785 §3.2.3: keys sorted by UTF-16 code units, no whitespace, shortest numbers.
    assert canonical_bytes({"b": 1, "a": [1.0, "é"], "€": True}) == (
        '{"a":[1,"é"],"b":1,"€":true}'.encode()
    )
