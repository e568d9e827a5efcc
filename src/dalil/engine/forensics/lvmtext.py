"""LVM2 metadata read directly, for the logical volumes libvslvm cannot open.

libvslvm (up to 20260901 at least) fails on any logical volume with more than one
segment: ``libvslvm_logical_volume_initialize`` keeps the physical-volume pointer of the
first segment, so the second lookup fails with "invalid physical volume value already
set". Every ``lvextend`` adds a segment, so such volumes are common. For them this module
reads the volume group's text metadata itself (label, PV header, metadata area header, the
text and its CRC, wrapped around the metadata area's ring buffer if need be) and maps each
linear segment (type ``striped`` with one stripe, on this physical volume) to bytes of the
PV. Other segment types (thin, raid, mirror, several stripes) are refused by name.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INITIAL_CRC = 0xF597A6CF
_MDA_MAGIC = b" LVM2 x[5A%r0N*>"
_MDA_HEADER = 512
_TOKEN = re.compile(r'\s+|#[^\n]*|"(?:[^"\\]|\\.)*"|[{}\[\]=,]|[^\s{}\[\]=,"#]+')

Reader = Callable[[int, int], bytes]
"""``read(offset, size)`` in bytes from the start of the physical volume."""


class LvmMetadataError(ValueError):
    """The LVM metadata is damaged or not supported; the message says what and where
    (offsets in bytes from the start of the physical volume)."""


def lvm_crc(data: bytes, initial: int = INITIAL_CRC) -> int:
    """LVM's ``calc_crc``: CRC-32 updates from ``initial``, without zlib's inversions."""
    return zlib.crc32(data, initial ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


@dataclass(frozen=True)
class Segment:
    start: int  # bytes from the start of the logical volume
    length: int  # bytes
    pv_offset: int  # bytes from the start of the physical volume


@dataclass(frozen=True)
class LinearVolume:
    """A logical volume as the metadata describes it; ``problem`` says why it cannot be
    read from this PV (an unsupported segment type, extents on another PV)."""

    name: str
    size: int  # bytes
    segments: tuple[Segment, ...]
    problem: str | None = None


def _exact(read: Reader, offset: int, size: int, what: str) -> bytes:
    data = read(offset, size)
    if len(data) < size:
        raise LvmMetadataError(f"{what} at PV offset {offset}: truncated ({len(data)} of "
                               f"{size} bytes)")
    return data


def read_metadata_text(read: Reader) -> tuple[str, str]:
    """The PV's UUID (32 characters) and the volume group's text metadata."""
    head = _exact(read, 0, 2048, "LVM label")
    at = next((a for a in range(0, 2048, 512) if head[a:a + 8] == b"LABELONE"), None)
    if at is None:
        raise LvmMetadataError("no LVM label (LABELONE) in the first four sectors")
    label = head[at:at + 512]
    if lvm_crc(label[20:]) != struct.unpack_from("<I", label, 16)[0]:
        raise LvmMetadataError(f"LVM label at PV offset {at}: CRC mismatch")
    pv_at = struct.unpack_from("<I", label, 20)[0]
    uuid = label[pv_at:pv_at + 32].decode("ascii", "replace")
    pos = pv_at + 40
    areas: list[list[tuple[int, int]]] = [[], []]  # data areas, metadata areas
    for kind in (0, 1):
        while pos + 16 <= 512:
            offset, size = struct.unpack_from("<QQ", label, pos)
            pos += 16
            if offset == 0:
                break
            areas[kind].append((offset, size))
    if not areas[1]:
        raise LvmMetadataError(f"LVM label at PV offset {at}: no metadata area on this PV")
    mda_start, mda_size = areas[1][0]
    header = _exact(read, mda_start, _MDA_HEADER, "LVM metadata area header")
    if header[4:20] != _MDA_MAGIC:
        raise LvmMetadataError(f"LVM metadata area header at PV offset {mda_start}: bad magic")
    if lvm_crc(header[4:]) != struct.unpack_from("<I", header, 0)[0]:
        raise LvmMetadataError(f"LVM metadata area header at PV offset {mda_start}: CRC "
                               "mismatch")
    text_offset, text_size, text_crc, _ = struct.unpack_from("<QQII", header, 40)
    if not text_size or text_offset >= mda_size or text_size > mda_size:
        raise LvmMetadataError(f"LVM metadata area header at PV offset {mda_start}: no valid "
                               "metadata location")
    first = min(text_size, mda_size - text_offset)  # the ring buffer wraps after `first`
    text = _exact(read, mda_start + text_offset, first, "LVM metadata text")
    if first < text_size:
        text += _exact(read, mda_start + _MDA_HEADER, text_size - first, "LVM metadata text")
    if lvm_crc(text) != text_crc:
        raise LvmMetadataError(f"LVM metadata text at PV offset {mda_start + text_offset}: "
                               "CRC mismatch")
    return uuid, text.rstrip(b"\0").decode("utf-8", "replace")


def _value(tokens: list[str], pos: int) -> tuple[Any, int]:
    word = tokens[pos]
    if word == "[":
        items: list[Any] = []
        pos += 1
        while tokens[pos] != "]":
            if tokens[pos] != ",":
                item, pos = _value(tokens, pos)
                items.append(item)
                continue
            pos += 1
        return items, pos + 1
    if word.startswith('"'):
        return re.sub(r"\\(.)", r"\1", word[1:-1]), pos + 1
    try:
        return int(word), pos + 1
    except ValueError:
        return word, pos + 1


def _section(tokens: list[str], pos: int) -> tuple[dict[str, Any], int]:
    found: dict[str, Any] = {}
    while pos < len(tokens) and tokens[pos] != "}":
        key = tokens[pos]
        if tokens[pos + 1] == "{":
            found[key], pos = _section(tokens, pos + 2)
            pos += 1  # the closing brace
        elif tokens[pos + 1] == "=":
            found[key], pos = _value(tokens, pos + 2)
        else:
            raise LvmMetadataError(f"LVM metadata text: unexpected {tokens[pos + 1]!r} "
                                   f"after {key!r}")
    return found, pos


def parse_metadata(text: str) -> dict[str, Any]:
    """LVM's text configuration format as nested dicts (sections), lists and values."""
    tokens = [t for t in _TOKEN.findall(text) if not t.isspace() and not t.startswith("#")]
    try:
        tree, pos = _section(tokens, 0)
    except IndexError as exc:
        raise LvmMetadataError("LVM metadata text: ends in the middle of a section") from exc
    if pos != len(tokens):
        raise LvmMetadataError("LVM metadata text: unbalanced braces")
    return tree


def linear_volumes(read: Reader) -> list[LinearVolume]:
    """The logical volumes of the volume group on the PV that ``read`` reads, in the
    metadata's order (libvslvm's index order)."""
    uuid, text = read_metadata_text(read)
    tree = parse_metadata(text)
    group = next((v for v in tree.values() if isinstance(v, dict)), None)
    if group is None or not isinstance(group.get("extent_size"), int):
        raise LvmMetadataError("LVM metadata text: no volume group with an extent size")
    extent = int(group["extent_size"]) * 512
    here = {name: pv for name, pv in group.get("physical_volumes", {}).items()
            if isinstance(pv, dict) and str(pv.get("id", "")).replace("-", "") == uuid}
    found: list[LinearVolume] = []
    for name, lv in group.get("logical_volumes", {}).items():
        if not isinstance(lv, dict):
            continue
        segments: list[Segment] = []
        problem: str | None = None
        size = 0
        for key in sorted((k for k in lv if k.startswith("segment") and k[7:].isdigit()),
                          key=lambda k: int(k[7:])):
            seg = lv[key]
            start, count = int(seg.get("start_extent", 0)), int(seg.get("extent_count", 0))
            size = max(size, (start + count) * extent)
            stripes = seg.get("stripes") or []
            if seg.get("type") != "striped" or seg.get("stripe_count") != 1 or len(stripes) != 2:
                problem = problem or (f"{key} of type {seg.get('type')} with "
                                      f"{seg.get('stripe_count', 0)} stripes is not supported")
            elif stripes[0] not in here:
                problem = problem or (f"{key} is on physical volume {stripes[0]}, not in "
                                      "this image")
            else:
                pe_start = int(here[stripes[0]].get("pe_start", 0)) * 512
                segments.append(Segment(start * extent, count * extent,
                                        pe_start + int(stripes[1]) * extent))
        found.append(LinearVolume(str(name), size, tuple(segments), problem))
    return found


class SegmentReader:
    """``read_at`` over a linear logical volume, through its segments."""

    def __init__(self, read: Reader, volume: LinearVolume) -> None:
        if volume.problem:
            raise LvmMetadataError(f"LVM logical volume {volume.name}: {volume.problem}")
        self._read = read
        self._segments = sorted(volume.segments, key=lambda s: s.start)
        self._length = volume.size

    def read_at(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0 or offset >= self._length:
            return b""
        end = min(offset + size, self._length)
        parts: list[bytes] = []
        for seg in self._segments:
            lo, hi = max(offset, seg.start), min(end, seg.start + seg.length)
            if lo >= hi:
                continue
            if lo > offset + sum(map(len, parts)):
                break  # a hole in the metadata's segments: stop short rather than invent
            data = self._read(seg.pv_offset + lo - seg.start, hi - lo)
            parts.append(data)
            if len(data) < hi - lo:
                break  # the image ends here (truncated)
        return b"".join(parts)

    def close(self) -> None:
        """Closed with the image that owns the reader."""
