"""A parser may rule a file out from its first bytes: a JPEG whose segments reach the image
data without an EXIF segment holds no EXIF, and is not read again for it."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dalil.engine.forensics.artifacts import REGISTRY, parse_file
from dalil.engine.forensics.artifacts.exif import exif_possible
from dalil.engine.forensics.filetype import HEAD_SIZE


def _picture(kind: str, exif: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    picture = Image.new("RGB", (16, 16), (10, 120, 30))
    if exif is None:
        picture.save(buffer, kind)
    else:
        picture.save(buffer, kind, exif=exif)
    return buffer.getvalue()


def _jpeg(exif: bytes | None = None) -> bytes:
    return _picture("JPEG", exif)


def _png(exif: bytes | None = None) -> bytes:
    return _picture("PNG", exif)


def _exif() -> bytes:
    data = Image.Exif()
    data[0x010F] = "Dalil camera"  # Make
    return data.tobytes()


def test_a_jpeg_without_exif_is_ruled_out_and_one_with_exif_is_not():
    plain, tagged = _jpeg(), _jpeg(_exif())
    assert exif_possible(plain[:HEAD_SIZE]) is False
    assert exif_possible(tagged[:HEAD_SIZE]) is True
    assert REGISTRY["exif"].may_hold(plain[:HEAD_SIZE]) is False


def test_the_rule_agrees_with_the_parser(tmp_path):
    plain, tagged = tmp_path / "plain.jpg", tmp_path / "tagged.jpg"
    plain.write_bytes(_jpeg())
    tagged.write_bytes(_jpeg(_exif()))
    assert [r.kind for r in parse_file(plain, [REGISTRY["exif"]])] == []
    (record,) = parse_file(tagged, [REGISTRY["exif"]])
    assert record.make == "Dalil camera"  # type: ignore[attr-defined]


def test_exif_after_a_long_segment_beyond_the_head_is_not_ruled_out():
    tagged = _jpeg(_exif())
    # An APP2 segment of 60 KiB between SOI and the EXIF segment: the head ends inside it.
    app2 = b"\xff\xe2" + (60_000 + 2).to_bytes(2, "big") + bytes(60_000)
    moved = tagged[:2] + app2 + tagged[2:]
    assert exif_possible(moved[:HEAD_SIZE]) is True


def test_a_whole_png_without_exif_is_ruled_out_and_one_with_exif_is_not(tmp_path):
    plain, tagged = _png(), _png(_exif())
    assert exif_possible(plain[:HEAD_SIZE]) is False
    assert exif_possible(tagged[:HEAD_SIZE]) is True
    (tmp_path / "tagged.png").write_bytes(tagged)
    (record,) = parse_file(tmp_path / "tagged.png", [REGISTRY["exif"]])
    assert record.make == "Dalil camera"  # type: ignore[attr-defined]
    # A PNG longer than the head may hold eXIf after its image data: not ruled out.
    assert exif_possible(plain[:40]) is True


def test_other_formats_and_damaged_segment_chains_are_never_ruled_out():
    assert exif_possible(b"\x89PNG\r\n\x1a\n" + bytes(100)) is True
    assert exif_possible(b"\xff\xd8\x00\x00garbage") is True  # not a segment boundary
    assert exif_possible(b"\xff\xd8\xff\xe0\x00\x01") is True  # a length that lies
    assert exif_possible(b"\xff\xd8") is True


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_head_gets_an_answer(tail):
    assert exif_possible(b"\xff\xd8" + tail) in (True, False)
    assert exif_possible(tail) in (True, False)


def test_a_file_cut_short_is_ruled_out_only_when_the_head_is_all_of_it():
    for picture in (_jpeg(), _png()):
        cut = picture[: len(picture) // 3]  # ends inside the headers
        assert exif_possible(cut, whole=False) is True  # more may follow
        assert exif_possible(cut, whole=True) is False  # nothing follows: no EXIF
    tagged = _jpeg(_exif())
    assert exif_possible(tagged[:40], whole=True) is True  # the EXIF segment begins in it
