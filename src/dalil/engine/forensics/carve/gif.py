"""GIF: header, screen descriptor, blocks (extensions and images) up to the trailer."""

from __future__ import annotations

from dalil.engine.forensics.carve.base import Cursor, Format, ReadAt, image_validator


def _skip_sub_blocks(cur: Cursor, pos: int) -> int | None:
    while True:
        size = cur.get(pos, 1)
        if not size:
            return None
        pos += 1 + size[0]
        if size[0] == 0:
            return pos


def find_end(read: ReadAt, start: int, limit: int) -> int | None:
    cur = Cursor(read, start, limit)
    head = cur.get(start, 13)
    if len(head) < 13 or head[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    pos = start + 13
    if head[10] & 0x80:
        pos += 3 * (2 << (head[10] & 0x07))
    images = 0
    while True:
        kind = cur.get(pos, 1)
        if not kind:
            return None
        if kind == b"\x3b":
            return pos + 1 - start if images else None
        if kind == b"\x21":
            end = _skip_sub_blocks(cur, pos + 2)
        elif kind == b"\x2c":
            desc = cur.get(pos, 10)
            if len(desc) < 10:
                return None
            pos += 10
            if desc[9] & 0x80:
                pos += 3 * (2 << (desc[9] & 0x07))
            code_size = cur.get(pos, 1)
            if not code_size or not 1 <= code_size[0] <= 12:
                return None
            end = _skip_sub_blocks(cur, pos + 1)
            images += 1
        else:
            return None
        if end is None:
            return None
        pos = end


FORMAT = Format(
    name="gif",
    extension="gif",
    signatures=(b"GIF87a", b"GIF89a"),
    find_end=find_end,
    validate=image_validator("gif"),
    max_size=32 * 1024 * 1024,
)
