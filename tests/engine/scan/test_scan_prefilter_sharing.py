"""The Hyperscan engine's shortcuts (shared prefilters, windows cut to character runs) find
exactly what the ``re`` engine finds, for any selection of scanners."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dalil.engine.scan.features import FEATURE_TYPES, select
from dalil.engine.scan.prefilter import hyperscan_available, make_engine

SAMPLES = [
    b"900401300543", b"4111 1111 1111 1111", b"KZ86125KZT5004100100", b"KZ86 125K ZT50 0410 0100",
    b"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", b"LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9",
    b"TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7", b"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    b"olga.petrov+news@mail.secure.kz", b"http://www.acme.co.uk/a?b=1", b"sub.domain.example.com",
    b"a" * 70 + b".com", b"x@" + b"b" * 80 + b".org", b"https://" + b"c" * 3000 + b".com/",
]
NAMES = [t.name for t in FEATURE_TYPES]


def _buffer(seed: int) -> bytes:
    rng = random.Random(seed)
    buf = bytearray(rng.randbytes(1 << 16))
    for _ in range(60):
        sample = rng.choice(SAMPLES)
        at = rng.randrange(1, len(buf) - len(sample) - 1)
        buf[at - 1] = ord(rng.choice(" \n\t<(,\x00.-@"))
        buf[at:at + len(sample)] = sample
        buf[at + len(sample)] = ord(rng.choice(" \n\t>),\x00.-"))
    return bytes(buf)


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan runs on x86-64 only")
@settings(max_examples=25, deadline=None)
@given(names=st.sets(st.sampled_from(NAMES), min_size=1), seed=st.integers(0, 1000))
def test_any_selection_same_hits(names: set[str], seed: int) -> None:
    types = select(",".join(sorted(names)))
    buf = _buffer(seed)
    assert make_engine(types, "hyperscan").find(buf) == make_engine(types, "re").find(buf)


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan runs on x86-64 only")
@pytest.mark.parametrize("names", ["kz_iin", "kz_iin,ccn", "tron", "monero,bitcoin",
                                   "iban", "domain", "email,domain,url"])
def test_shared_and_cut_windows(names: str) -> None:
    types = select(names)
    for seed in range(3):
        buf = _buffer(seed)
        fast = make_engine(types, "hyperscan").find(buf)
        assert fast == make_engine(types, "re").find(buf)
        assert fast or names == "monero,bitcoin"
