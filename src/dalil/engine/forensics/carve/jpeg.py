"""JPEG: markers from SOI, entropy-coded data after each SOS, up to EOI."""

from __future__ import annotations

import re

from dalil.engine.forensics.carve.base import Cursor, Format, ReadAt, image_validator, u16be

# A marker inside entropy-coded data: 0xFF followed by neither a stuffed 0x00, nor a
# restart marker (D0-D7), nor a fill byte (FF).
_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
# Markers that may follow a scan: another table, another scan, a restart interval,
# an application segment, a comment, DNL, or the end of the image.
_AFTER_SCAN = frozenset([0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xD9, 0xFE, *range(0xE0, 0xF0)])
_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])
_SOF = frozenset([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                  0xCF])


def find_end(read: ReadAt, start: int, limit: int) -> int | None:
    cur = Cursor(read, start, limit)
    if cur.get(start, 3) != b"\xff\xd8\xff":
        return None
    pos = start + 2
    seen_frame = False
    while True:
        head = cur.get(pos, 4)
        if len(head) < 2 or head[0] != 0xFF:
            return None
        marker = head[1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2 - start if seen_frame else None
        if marker in _STANDALONE:
            pos += 2
            continue
        if len(head) < 4:
            return None
        length = u16be(head, 2)
        if length < 2 or marker in (0x00, 0xD8):
            return None
        if marker in _SOF:
            seen_frame = True
        pos += 2 + length
        if marker != 0xDA:
            continue
        if not seen_frame:
            return None
        # Entropy-coded data: look for the next real marker.
        while True:
            block = cur.block_at(pos)
            if not block:
                return None
            found = _MARKER.search(block)
            if found is None:
                # Keep a trailing 0xFF so that a marker split across blocks is seen.
                pos += len(block) - 1 if len(block) > 1 else 1
                continue
            pos += found.start()
            if block[found.start() + 1] not in _AFTER_SCAN:
                return None
            break


FORMAT = Format(
    name="jpg",
    extension="jpg",
    signatures=(b"\xff\xd8\xff",),
    find_end=find_end,
    validate=image_validator("jpeg"),
    max_size=64 * 1024 * 1024,
)
