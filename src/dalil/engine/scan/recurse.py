"""Compressed streams inside the data: gzip, zlib and zip members, decompressed with limits.

Only real magic numbers start a stream (``1f 8b 08`` for gzip, ``78 01|5e|9c|da`` for
zlib, ``PK 03 04`` for a zip local file header); they are found with ``bytes.find``, which
costs next to nothing on any input. A stream is read through a :data:`Reader` (the input
file itself for a top-level stream, so that a stream that runs past the end of its page is
decompressed whole, once, by the page where it starts; a slice of the parent stream for a
nested one), decompressed in chunks, and stopped at :attr:`Limits.max_size` bytes of
output or when the page's :class:`Budget` runs out; nesting stops at
:attr:`Limits.max_depth`. A limit that stops a stream, a truncated or corrupt stream, an
encrypted or unsupported zip member: each leaves a :class:`Note` saying so, and what was
decompressed up to that point is still scanned.

Forensic paths are bulk_extractor's: a hit at byte 56 of the gzip stream that starts at
byte 1234 of the input is at ``1234-GZIP-56``; nested: ``1234-ZIP-56-GZIP-78``. A zip
member stored without compression is not decompressed: its bytes are already scanned
where they lie.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

Reader = Callable[[int, int], bytes]
"""``read(offset, size)``: up to ``size`` bytes at ``offset`` (fewer at the end)."""

MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b\x08", "GZIP"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x78\x01", "ZLIB"),
    (b"\x78\x5e", "ZLIB"),
    (b"\x78\x9c", "ZLIB"),
    (b"\x78\xda", "ZLIB"),
)
CHUNK = 1 << 20
PROBE = 1 << 12
"""Bytes of a candidate stream tried from memory before reading more."""
_MIN_CORRUPT_OUTPUT = 64
"""A stream that fails before giving this many bytes is taken for a chance magic number."""
_ZIP_HEADER = struct.Struct("<4sHHHHHIIIHH")


@dataclass(frozen=True)
class Limits:
    max_depth: int = 5
    """Nesting levels decompressed (a stream inside a stream inside the input is level 2)."""
    max_size: int = 64 * 1024 * 1024
    """Bytes of output taken from one stream."""
    max_total: int = 128 * 1024 * 1024
    """Bytes of output taken from all the streams that start in one page, nested ones
    included (this also bounds the memory a worker holds)."""

    def __post_init__(self) -> None:
        if self.max_depth < 0 or self.max_size < 1 or self.max_total < 1:
            raise ValueError("decompression limits must be positive")


@dataclass
class Budget:
    left: int


@dataclass(frozen=True)
class Stream:
    kind: str
    """GZIP, ZLIB or ZIP."""
    data: bytes
    complete: bool
    """The stream ended normally (and its check value matched)."""
    note: str | None = None
    name: str | None = None
    """A zip member's file name."""


@dataclass(frozen=True)
class Note:
    path: str
    """Forensic path of the stream (``1234-GZIP``)."""
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def plausible(buf: bytes, at: int, kind: str) -> bool:
    """Cheap checks of the bytes after a magic number, before any decompression: the gzip
    flags' reserved bits are zero; a zlib stream's first deflate block has a valid type,
    and a stored block's length is followed by its complement."""
    if kind == "GZIP":
        return at + 3 >= len(buf) or not buf[at + 3] & 0xE0
    if kind == "ZLIB" and at + 2 < len(buf):
        btype = (buf[at + 2] >> 1) & 3
        if btype == 3:
            return False
        if btype == 0 and at + 7 <= len(buf):
            length = int.from_bytes(buf[at + 3 : at + 5], "little")
            return length ^ int.from_bytes(buf[at + 5 : at + 7], "little") == 0xFFFF
    return True


def candidates(buf: bytes, lo: int, hi: int) -> list[tuple[int, str]]:
    """``(offset, kind)`` of every plausible magic number that starts in ``[lo, hi)``."""
    found: list[tuple[int, str]] = []
    for magic, kind in MAGICS:
        at = buf.find(magic, lo, hi + len(magic) - 1)
        while at >= 0:
            if plausible(buf, at, kind):
                found.append((at, kind))
            at = buf.find(magic, at + 1, hi + len(magic) - 1)
    found.sort()
    return found


def _inflate(read: Reader, start: int, wbits: int, limit: int, first: bytes = b""
             ) -> tuple[bytes, str, int]:
    """Decompress from ``start``: the output, how it ended (``eof``, ``limit``,
    ``truncated`` or ``corrupt: ...``) and the number of bytes of output. ``first``: the
    bytes at ``start`` already in memory (a chance magic number in random data fails in
    them, before anything is read)."""
    decomp = zlib.decompressobj(wbits)
    parts: list[bytes] = []
    produced = 0
    pos = start + len(first)
    pending = first
    while True:
        if not pending:
            pending = read(pos, CHUNK)
            if not pending:
                return b"".join(parts), "truncated", produced
            pos += len(pending)
        try:
            out = decomp.decompress(pending, limit - produced)
        except zlib.error as exc:
            return b"".join(parts), f"corrupt: {exc}", produced
        parts.append(out)
        produced += len(out)
        pending = decomp.unconsumed_tail
        if decomp.eof:
            return b"".join(parts), "eof", produced
        if produced >= limit:
            return b"".join(parts), "limit", produced


def open_stream(read: Reader, offset: int, kind: str, limit: int, first: bytes = b""
                ) -> Stream | None:
    """The stream of ``kind`` at ``offset``, at most ``limit`` bytes of it; None if the magic
    number was there by chance (nothing decompresses). ``first``: bytes at ``offset``
    already in memory, if any."""
    if kind == "ZIP":
        return _zip_member(read, offset, limit)
    wbits = 31 if kind == "GZIP" else 15
    data, end, produced = _inflate(read, offset, wbits, limit, first)
    if end == "eof":
        return Stream(kind, data, True)
    if kind == "ZLIB":
        # Two bytes are a weak signature: only a complete stream (Adler-32 checked) counts.
        return None
    if end.startswith("corrupt") and produced < _MIN_CORRUPT_OUTPUT:
        return None
    if produced == 0:
        return None
    label = kind.lower()
    if end == "limit":
        note = f"{label} stream stopped at the size limit ({limit:,} bytes of output)"
    elif end == "truncated":
        note = f"truncated {label} stream: {produced:,} bytes recovered"
    else:
        note = f"{label} stream {end} after {produced:,} bytes of output"
    return Stream(kind, data, False, note)


def _zip_member(read: Reader, offset: int, limit: int) -> Stream | None:
    head = read(offset, _ZIP_HEADER.size)
    if len(head) < _ZIP_HEADER.size:
        return None
    (_sig, _version, flags, method, _time, _date, _crc, _csize, _usize, name_len,
     extra_len) = _ZIP_HEADER.unpack(head)
    name = read(offset + _ZIP_HEADER.size, name_len).decode("utf-8" if flags & 0x800 else
                                                           "cp437", errors="replace")
    if method == 0:
        return None  # stored: already scanned where it lies
    if flags & 0x1:
        return Stream("ZIP", b"", False, f"zip member {name!r} is encrypted; not scanned", name)
    if method != 8:
        return Stream("ZIP", b"", False,
                      f"zip member {name!r}: compression method {method} not supported; "
                      "not scanned", name)
    data_start = offset + _ZIP_HEADER.size + name_len + extra_len
    data, end, produced = _inflate(read, data_start, -15, limit)
    if end == "eof":
        return Stream("ZIP", data, True, None, name)
    if produced == 0:
        return Stream("ZIP", b"", False, f"zip member {name!r}: {end}; nothing recovered", name)
    if end == "limit":
        note = f"zip member {name!r} stopped at the size limit ({limit:,} bytes of output)"
    else:
        note = f"zip member {name!r}: {end} after {produced:,} bytes of output"
    return Stream("ZIP", data, False, note, name)


def buffer_reader(data: bytes) -> Reader:
    def read(offset: int, size: int) -> bytes:
        return data[offset : offset + size]

    return read
