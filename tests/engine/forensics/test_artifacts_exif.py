"""EXIF with GPS from JPEGs written here with Pillow."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from dalil.engine.forensics.artifacts import parse_file


def photo(path: Path, *, gps: bool = True, south_west: bool = False, offset: str | None = "+05:00",
          exif: bool = True) -> Path:
    picture = Image.new("RGB", (16, 8), "green")
    if not exif:
        picture.save(path, "JPEG")
        return path
    tags = Image.Exif()
    tags[0x010F] = "Samsung"
    tags[0x0110] = "SM-G991B"
    tags[0x0131] = "G991BXXU5"
    details = tags.get_ifd(0x8769)
    details[0x9003] = "2024:03:08 14:30:00"
    if offset:
        details[0x9011] = offset
    if gps:
        tags[0x8825] = {
            1: "S" if south_west else "N", 2: (43.0, 14.0, 18.0),
            3: "W" if south_west else "E", 4: (76.0, 53.0, 42.0),
            5: 0, 6: 850.0, 7: (9.0, 30.0, 0.0), 29: "2024:03:08",
        }
    picture.save(path, "JPEG", exif=tags)
    return path


def test_exif_with_gps(tmp_path: Path) -> None:
    [record] = parse_file(photo(tmp_path / "IMG_0001.jpg"))
    assert record.kind == "exif" and record.source.parser == "exif"
    assert (record.make, record.model, record.software) == ("Samsung", "SM-G991B", "G991BXXU5")
    assert record.gps_latitude == pytest.approx(43.238333, abs=1e-5)
    assert record.gps_longitude == pytest.approx(76.895, abs=1e-5)
    assert record.gps_altitude == pytest.approx(850.0)
    assert record.taken_local == "2024:03:08 14:30:00"
    assert record.taken == datetime(2024, 3, 8, 9, 30, tzinfo=UTC)  # +05:00 -> UTC
    assert record.gps_time == datetime(2024, 3, 8, 9, 30, tzinfo=UTC)
    assert record.to_dict()["taken"] == "2024-03-08T09:30:00Z"


def test_southern_western_and_zone_unknown(tmp_path: Path) -> None:
    [record] = parse_file(photo(tmp_path / "b.jpg", south_west=True, offset=None))
    assert record.gps_latitude < 0 and record.gps_longitude < 0
    assert record.taken is None and record.taken_local == "2024:03:08 14:30:00"
    assert record.event_time == record.gps_time  # only GPS time is known to be UTC


def test_photo_without_exif_or_gps(tmp_path: Path) -> None:
    assert list(parse_file(photo(tmp_path / "plain.jpg", exif=False))) == []
    [record] = parse_file(photo(tmp_path / "nogps.jpg", gps=False))
    assert record.gps_latitude is None and record.make == "Samsung"


def test_damaged_photo_never_crashes(tmp_path: Path) -> None:
    good = photo(tmp_path / "good.jpg").read_bytes()
    for cut in (4, 30, 200, len(good) // 2):
        path = tmp_path / f"cut{cut}.jpg"
        path.write_bytes(good[:cut])
        for record in parse_file(path):
            assert record.kind in ("exif", "artifact-error")
    # A JPEG whose EXIF block is garbage.
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "JPEG")
    data = buffer.getvalue()
    hostile = data[:2] + b"\xff\xe1\x00\x40Exif\x00\x00" + b"MM\x00\x2a\xff\xff\xff\xff" + (
        b"\xee" * 48) + data[2:]
    path = tmp_path / "hostile.jpg"
    path.write_bytes(hostile)
    for record in parse_file(path):
        assert record.kind in ("exif", "artifact-error")
