"""PGP public keys [pgp.txt]: armoured key blocks (their fingerprint) and printed fingerprints."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from dalil.engine.scan import scan
from dalil.engine.scan.features import FEATURE_TYPES
from dalil.engine.scan.prefilter import make_engine
from dalil.engine.scan.validators.pgp import armored_fingerprint, crc24

# Generated with GnuPG 2.2 (ed25519); `gpg --fingerprint` printed the fingerprint below.
KEY = """-----BEGIN PGP PUBLIC KEY BLOCK-----

mDMEawQeLBYJKwYBBAHaRw8BAQdAWkHciIJmQIygcrHcrMsUEJeuvaF+SDBtfQ9U
gqXC+tm0GlRlc3QgS2V5IDx0ZXN0QGV4YW1wbGUua3o+iJAEExYIADgWIQTl50qK
ig4kKs4brB0FTdqZPdPI+wUCawQeLAIbAwULCQgHAgYVCgkICwIEFgIDAQIeAQIX
gAAKCRAFTdqZPdPI+4+fAQDgCe190LGW6QsbMFmJveQXLvbhtlyxzrCENW9fX/wb
xAEAg625cdpwmJJsaRzOzUjEcIAJ5QuM+c3JphWrJ73mDgU=
=cgbG
-----END PGP PUBLIC KEY BLOCK-----"""
FPR = "E5E74A8A8A0E242ACE1BAC1D054DDA993DD3C8FB"
PRINTED = "E5E7 4A8A 8A0E 242A CE1B  AC1D 054D DA99 3DD3 C8FB"


def test_armoured_block_fingerprint_matches_gnupg() -> None:
    assert armored_fingerprint(KEY) == FPR
    assert armored_fingerprint(KEY.replace("\n", "\r\n")) == FPR


def test_crc24_vector() -> None:
    assert crc24(b"") == 0xB704CE


@given(st.integers(min_value=40, max_value=len(KEY) - 60), st.sampled_from("AbQz09+/"))
def test_one_changed_character_fails(position: int, char: str) -> None:
    body_start = KEY.index("\n\n") + 2
    position = max(position, body_start)
    if KEY[position] in "\n=" or KEY[position] == char or position >= KEY.index("\n=cgbG"):
        return
    changed = KEY[:position] + char + KEY[position + 1:]
    assert armored_fingerprint(changed) is None


def test_pgp_hits_in_a_file(tmp_path: Path) -> None:
    head = os.urandom(500)
    data = head + b"\n" + KEY.encode() + b"\nfingerprint: " + PRINTED.encode() + b"\n" + \
        b"not a key: 1234 5678 9012 3456 7890  1234 5678 9012 3456 7890\n"
    (tmp_path / "in.bin").write_bytes(data)
    scan(tmp_path / "in.bin", tmp_path / "out", jobs=1, scanners="pgp")
    lines = [x.split("\t") for x in (tmp_path / "out" / "pgp.txt").read_text().splitlines()
             if not x.startswith("#")]
    printed_at = data.index(PRINTED.encode())
    assert [x[:2] for x in lines] == [[str(len(head) + 1), FPR], [str(printed_at), FPR]]
    histogram = (tmp_path / "out" / "pgp_histogram.txt").read_text()
    assert f"n=2\t{FPR}" in histogram


def test_pgp_engines_agree() -> None:
    buf = os.urandom(3000) + b"\n" + KEY.encode() + b"\n" + PRINTED.encode() + b" "
    assert make_engine(FEATURE_TYPES, "re").find(buf) == make_engine(FEATURE_TYPES).find(buf)
