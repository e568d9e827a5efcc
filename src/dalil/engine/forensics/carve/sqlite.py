"""SQLite 3: length = page size x page count from the database header."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dalil.engine.forensics.carve.base import Format, ReadAt, u16be, u32be

SIGNATURE = b"SQLite format 3\x00"


def find_end(read: ReadAt, start: int, limit: int) -> int | None:
    head = read(start, 100)
    if len(head) < 100 or not head.startswith(SIGNATURE):
        return None
    page_size = u16be(head, 16)
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return None
    if head[18] not in (1, 2) or head[19] not in (1, 2) or head[21:24] != b"\x40\x20\x20":
        return None
    pages = u32be(head, 28)
    # The in-header size is valid only if the change counter matches version-valid-for.
    if pages == 0 or u32be(head, 24) != u32be(head, 92):
        return None
    length = pages * page_size
    return length if length <= limit else None


def validate(path: Path) -> str | None:
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        connection = sqlite3.connect(uri, uri=True)
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return f"does not open: {exc}"
    if rows != [("ok",)]:
        return "integrity_check: " + "; ".join(str(r[0]) for r in rows[:3])
    return None


FORMAT = Format(
    name="sqlite",
    extension="sqlite",
    signatures=(SIGNATURE,),
    find_end=find_end,
    validate=validate,
    max_size=1024 * 1024 * 1024,
)
