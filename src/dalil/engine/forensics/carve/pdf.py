"""PDF: from ``%PDF-`` to the last ``%%EOF`` within the bound whose ``startxref`` fits."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from dalil.engine.forensics.carve.base import Cursor, Format, ReadAt

_EOF = b"%%EOF"
_STARTXREF = re.compile(rb"startxref\s+(\d{1,12})\s*$")
_OBJ = re.compile(rb"\s*(xref|\d{1,10}\s+\d{1,5}\s+obj)")
MAX_CANDIDATES = 64
MAX_PAGES = 200  # pages whose content streams a validation decodes


def _eol(cur: Cursor, pos: int) -> int:
    tail = cur.get(pos, 2)
    if tail.startswith(b"\r\n"):
        return pos + 2
    if tail[:1] in (b"\r", b"\n"):
        return pos + 1
    return pos


def _plausible(cur: Cursor, start: int, eof: int) -> bool:
    """``startxref N`` just before this ``%%EOF`` points at an xref table or stream."""
    before = cur.get(max(start, eof - 64), eof - max(start, eof - 64))
    found = _STARTXREF.search(before)
    if found is None:
        return False
    target = start + int(found.group(1))
    return target < eof and _OBJ.match(cur.get(target, 32)) is not None


def find_end(read: ReadAt, start: int, limit: int) -> int | None:
    cur = Cursor(read, start, limit)
    if cur.get(start, 5) != b"%PDF-":
        return None
    ends: list[int] = []
    pos = start + 5
    while pos < cur.end:
        block = cur.block_at(pos)
        if not block:
            break
        # A following PDF header bounds this one (another file starts there).
        stop = block.find(b"%PDF-")
        scan = block if stop < 0 else block[:stop]
        at = scan.find(_EOF)
        while at >= 0:
            ends.append(pos + at)
            at = scan.find(_EOF, at + 1)
        if stop >= 0:
            break
        pos += max(1, len(block) - 4)  # a marker split across blocks is seen again
    ends = sorted(set(ends))[-MAX_CANDIDATES:]
    for eof in reversed(ends):
        if _plausible(cur, start, eof):
            return _eol(cur, eof + 5) - start
    return _eol(cur, ends[-1] + 5) - start if ends else None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def validate(path: Path) -> str | None:
    """pypdf reads every page and decodes every content stream, without a single
    warning (a carved file whose xref or streams pypdf had to repair is rejected)."""
    logger = logging.getLogger("pypdf")
    collect = _Collect()
    logger.addHandler(collect)
    propagate = logger.propagate
    logger.propagate = False
    try:
        from pypdf import PdfReader

        reader = PdfReader(path, strict=False)
        pages = len(reader.pages)
        if pages == 0:
            return "no pages"
        for page in list(reader.pages)[:MAX_PAGES]:
            contents = page.get_contents()
            if contents is not None:
                contents.get_data()
    except Exception as exc:  # pypdf raises many kinds on corrupt input
        return f"does not parse: {type(exc).__name__}: {exc}"
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate
    if collect.messages:
        return f"damaged: {collect.messages[0]}"
    return None


FORMAT = Format(
    name="pdf",
    extension="pdf",
    signatures=(b"%PDF-",),
    find_end=find_end,
    validate=validate,
    max_size=64 * 1024 * 1024,
)
