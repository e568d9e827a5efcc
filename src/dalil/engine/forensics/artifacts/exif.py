"""EXIF metadata of photos, GPS position included, through ExifRead.

ExifRead is pure Python, reads only the metadata (never decodes the picture) and handles
JPEG, TIFF (and raw formats built on it), HEIC, PNG and WebP. Times: ``DateTimeOriginal``
is the camera's local clock without a zone, kept as text in ``taken_local``; ``taken`` is
set in UTC only when ``OffsetTimeOriginal`` says the zone. ``gps_time`` (GPSDateStamp +
GPSTimeStamp) is UTC by definition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any, BinaryIO, ClassVar, cast

import exifread

from dalil.engine.forensics.artifacts.base import ArtifactInput, ArtifactRecord, register

logging.getLogger("exifread").setLevel(logging.ERROR)  # it logs every odd tag as a warning


@dataclass(frozen=True, kw_only=True)
class ExifRecord(ArtifactRecord):
    kind: ClassVar[str] = "exif"
    time_field: ClassVar[str | None] = "taken"
    make: str | None = None
    model: str | None = None
    software: str | None = None
    serial_number: str | None = None
    taken_local: str | None = None  # DateTimeOriginal as the camera wrote it (no zone)
    taken: datetime | None = None  # UTC, when the offset is recorded
    gps_latitude: float | None = None  # decimal degrees, negative south
    gps_longitude: float | None = None  # decimal degrees, negative west
    gps_altitude: float | None = None  # metres, negative below sea level
    gps_time: datetime | None = None  # UTC
    width: int | None = None
    height: int | None = None

    @property
    def event_time(self) -> datetime | None:
        return self.taken or self.gps_time


def _text(tags: dict[str, Any], key: str) -> str | None:
    tag = tags.get(key)
    if tag is None:
        return None
    text = str(tag.printable if hasattr(tag, "printable") else tag).strip().strip("\x00")
    return text or None


def _number(value: Any) -> float:
    if isinstance(value, Fraction):
        if value.denominator == 0:
            raise ValueError("zero denominator")
        return float(value)
    if hasattr(value, "num") and hasattr(value, "den"):
        if not value.den:
            raise ValueError("zero denominator")
        return float(value.num) / float(value.den)
    return float(value)


def _values(tags: dict[str, Any], key: str) -> list[Any] | None:
    tag = tags.get(key)
    values = getattr(tag, "values", None)
    return list(values) if isinstance(values, list | tuple) and values else None


def _degrees(tags: dict[str, Any], key: str, ref_key: str, negative: str) -> float | None:
    values = _values(tags, key)
    if values is None or len(values) < 3:
        return None
    try:
        degrees = _number(values[0]) + _number(values[1]) / 60 + _number(values[2]) / 3600
    except (ValueError, TypeError, ZeroDivisionError):
        return None
    ref = (_text(tags, ref_key) or "").upper()
    value = -degrees if ref.startswith(negative) else degrees
    limit = 90 if negative == "S" else 180
    return round(value, 7) if -limit <= value <= limit else None


def _altitude(tags: dict[str, Any]) -> float | None:
    values = _values(tags, "GPS GPSAltitude")
    if not values:
        return None
    try:
        altitude = _number(values[0])
    except (ValueError, TypeError, ZeroDivisionError):
        return None
    ref = _values(tags, "GPS GPSAltitudeRef")
    return -altitude if ref and ref[0] == 1 else altitude


def _gps_time(tags: dict[str, Any]) -> datetime | None:
    date = _text(tags, "GPS GPSDate") or _text(tags, "GPS GPSDateStamp")
    clock = _values(tags, "GPS GPSTimeStamp")
    if not date or not clock or len(clock) < 3:
        return None
    try:
        day = datetime.strptime(date.strip(), "%Y:%m:%d").replace(tzinfo=UTC)
        return day + timedelta(hours=_number(clock[0]), minutes=_number(clock[1]),
                               seconds=_number(clock[2]))
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        return None


def _taken(local: str | None, offset: str | None) -> datetime | None:
    if not local or not offset:
        return None
    try:
        naive = datetime.strptime(local.strip(), "%Y:%m:%d %H:%M:%S")
        sign = -1 if offset.strip().startswith("-") else 1
        hours, _, minutes = offset.strip().lstrip("+-").partition(":")
        zone = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes or 0)))
    except ValueError:
        return None
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _int(tags: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        values = _values(tags, key)
        if values and isinstance(values[0], int):
            return values[0]
    return None


_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length


def _png_exif_possible(head: bytes, whole: bool) -> bool:
    # eXIf may come after the image data: only the whole PNG (IEND reached, or the end of
    # a file cut short) proves there is none.
    pos, end = 8, len(head)
    while pos + 8 <= end:
        length = int.from_bytes(head[pos : pos + 4], "big")
        kind = head[pos + 4 : pos + 8]
        if kind == b"eXIf":
            return True
        if kind == b"IEND":
            return False
        pos += 12 + length
    return not whole


def exif_possible(head: bytes, whole: bool = False) -> bool:
    """False when the first bytes of a JPEG or PNG prove it has no EXIF: a JPEG's segments,
    read from the start, reach the image data (SOS) or the end (EOI) without an ``Exif``
    APP1; a PNG's chunks reach IEND without ``eXIf``; or, when ``head`` is the ``whole``
    file, its segments or chunks run to its end without one (a file cut short). True for
    anything else (other formats, a head that ends first, a malformed chain): only a
    certain answer rules a file out."""
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return _png_exif_possible(head, whole)
    if head[:2] != b"\xff\xd8":
        return True
    pos, end = 2, len(head)
    while pos + 4 <= end:
        if head[pos] != 0xFF:
            return True  # not a segment boundary: let ExifRead judge
        marker = head[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in (0xDA, 0xD9):
            return False
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(head[pos + 2 : pos + 4], "big")
        if length < 2:
            return True
        if marker == 0xE1 and head[pos + 4 : pos + 10] == b"Exif\x00\x00":
            return True
        pos += 2 + length
    return not whole


@register("exif", "EXIF metadata of photos, with GPS position",
          types=("jpeg", "tiff", "heic", "webp", "png"), head=exif_possible)
def parse_exif(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    with item.open() as handle:
        tags: dict[str, Any] = exifread.process_file(cast(BinaryIO, handle),
                                                        details=False)
    if not tags:
        return  # a photo without EXIF is normal, not an error
    local = _text(tags, "EXIF DateTimeOriginal") or _text(tags, "Image DateTime")
    offset = _text(tags, "EXIF OffsetTimeOriginal") or _text(tags, "EXIF OffsetTime")
    yield ExifRecord(
        source=item.source,
        make=_text(tags, "Image Make"),
        model=_text(tags, "Image Model"),
        software=_text(tags, "Image Software"),
        serial_number=_text(tags, "EXIF BodySerialNumber"),
        taken_local=local,
        taken=_taken(local, offset),
        gps_latitude=_degrees(tags, "GPS GPSLatitude", "GPS GPSLatitudeRef", "S"),
        gps_longitude=_degrees(tags, "GPS GPSLongitude", "GPS GPSLongitudeRef", "W"),
        gps_altitude=_altitude(tags),
        gps_time=_gps_time(tags),
        width=_int(tags, "EXIF ExifImageWidth", "Image ImageWidth"),
        height=_int(tags, "EXIF ExifImageLength", "Image ImageLength"),
    )
