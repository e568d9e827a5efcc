"""PNG: the signature, then chunks (length, type, data, CRC) up to IEND."""

from __future__ import annotations

import zlib

from dalil.engine.forensics.carve.base import Cursor, Format, ReadAt, image_validator, u32be

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def find_end(read: ReadAt, start: int, limit: int) -> int | None:
    cur = Cursor(read, start, limit)
    if cur.get(start, 8) != SIGNATURE:
        return None
    pos = start + 8
    first = True
    while True:
        head = cur.get(pos, 8)
        if len(head) < 8:
            return None
        length, kind = u32be(head, 0), head[4:8]
        if length > 0x7FFFFFFF or not kind.isalpha():
            return None
        if first:
            if kind != b"IHDR" or length != 13:
                return None
            body = cur.get(pos + 4, 4 + 13 + 4)
            if zlib.crc32(body[:17]) != u32be(body, 17):
                return None
            first = False
        pos += 12 + length
        if pos - start > limit:
            return None
        if kind == b"IEND":
            return pos - start


FORMAT = Format(
    name="png",
    extension="png",
    signatures=(SIGNATURE,),
    find_end=find_end,
    validate=image_validator("png"),
    max_size=64 * 1024 * 1024,
)
