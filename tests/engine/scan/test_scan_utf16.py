"""UTF-16LE text (Windows), Cyrillic included: found at the true byte offset, once."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dalil.engine.scan import scan
from dalil.engine.scan.features import FEATURE_TYPES
from dalil.engine.scan.pages import plan
from dalil.engine.scan.prefilter import RegexEngine, hyperscan_available, make_engine
from dalil.engine.scan.runner import scan_page

FEATURES = {
    "email": "ivan.petrov@mail.example.kz",
    "telephone": "+7 701 123 45 67",
    "ccn": "4111 1111 1111 1111",
    "url": "https://t.me/some_channel",
    "iban": "KZ86125KZT5004100100",
    "bitcoin": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    "ethereum": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "onion": "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion",
}
ENGINES = ["re"] + (["hyperscan"] if hyperscan_available() else [])


def _planted(prefix: bytes, pieces: list[tuple[str, str]]) -> tuple[bytes, dict[str, int]]:
    """Cyrillic UTF-16LE sentences around each feature; the byte offset of each."""
    buf = bytearray(prefix)
    where: dict[str, int] = {}
    for name, text in pieces:
        buf += "Контакт подозреваемого: ".encode("utf-16-le")
        where[name] = len(buf)
        buf += text.encode("utf-16-le")
        buf += " — проверить.\r\n".encode("utf-16-le")
        buf += os.urandom(64)
    return bytes(buf), where


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("align", [0, 1])
def test_utf16_features_found_at_their_byte_offset(engine: str, align: int) -> None:
    buf, where = _planted(b"\x00" * (100 + align), list(FEATURES.items()))
    hits = make_engine(FEATURE_TYPES, engine).find(buf)
    for name, text in FEATURES.items():
        found = [h for h in hits if h[0] == name and h[2] == text]
        assert [(h[1], h[3]) for h in found] == [(where[name], where[name] + 2 * len(text))], \
            name


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan runs on x86-64 only")
@pytest.mark.parametrize("seed", [7, 8])
def test_hyperscan_and_re_agree_on_utf16(seed: int) -> None:
    rng = random.Random(seed)
    pieces = [(f"{name}{i}", text) for i in range(30) for name, text in
              [rng.choice(list(FEATURES.items()))]]
    buf, _ = _planted(rng.randbytes(333), pieces)
    assert make_engine(FEATURE_TYPES, "hyperscan").find(buf) == \
        make_engine(FEATURE_TYPES, "re").find(buf)


def test_utf16_can_be_turned_off() -> None:
    buf, _ = _planted(b"", [("email", FEATURES["email"])])
    assert not [h for h in RegexEngine(FEATURE_TYPES, utf16=False).find(buf)
                if h[0] == "email"]


def test_utf16_in_feature_files_with_decoded_text(tmp_path: Path) -> None:
    buf, where = _planted(os.urandom(1000), [("email", FEATURES["email"]),
                                             ("telephone", FEATURES["telephone"])])
    (tmp_path / "pagefile.sys").write_bytes(buf)
    scan(tmp_path / "pagefile.sys", tmp_path / "out", jobs=1, scanners="email,telephone")
    lines = [x.split("\t") for x in (tmp_path / "out" / "email.txt").read_text().splitlines()
             if not x.startswith("#")]
    assert [x[:2] for x in lines] == [[str(where["email"]), FEATURES["email"]]]
    assert "i\\x00v\\x00a\\x00n\\x00" in lines[0][2]  # context: the raw bytes
    phone = (tmp_path / "out" / "telephone.txt").read_text()
    assert f"{where['telephone']}\t+7 701 123 45 67\t" in phone


def test_utf16_feature_crossing_a_page_boundary_is_reported_once(tmp_path: Path) -> None:
    page = 8192
    data = bytearray(os.urandom(page * 3))
    text = "olga@example.kz".encode("utf-16-le")
    at = page * 2 - 11
    data[at - 2:at + len(text) + 2] = b" \x00" + text + b" \x00"
    (tmp_path / "img").write_bytes(bytes(data))
    engine = make_engine(FEATURE_TYPES, "auto")
    hits = [h for p in plan(len(data), page, 4096)
            for h in scan_page(str(tmp_path / "img"), p, engine).hits if h[0] == "email"]
    assert [(h[1], h[2]) for h in hits] == [(at, "olga@example.kz")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(FEATURES)), pad=st.integers(0, 3000),
       seed=st.integers(0, 2**32 - 1))
def test_any_feature_anywhere_in_utf16(name: str, pad: int, seed: int) -> None:
    rng = random.Random(seed)
    before = rng.randbytes(pad)
    text = FEATURES[name]
    buf = before + b"\n\x00" + text.encode("utf-16-le") + b"\n\x00" + rng.randbytes(200)
    at = len(before) + 2
    hits = make_engine(FEATURE_TYPES, "auto").find(buf)
    assert (name, at, text, at + 2 * len(text)) in hits
