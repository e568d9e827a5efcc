"""Cut an input into pages read with a margin on both sides, tolerating unreadable sectors.

A page owns the bytes ``[start, start + size)``; it is read together with ``margin`` bytes
before and after, so that a feature that starts in the page and runs past its end is
seen whole, and so that the regexes see the same bytes before the page's first byte as a
scan of the whole input would. Only the hits that *start* inside the owned range are kept:
a feature crossing a page boundary is reported once, by the page where it starts, at its
true offset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

DEFAULT_PAGE_SIZE = 16 * 1024 * 1024
DEFAULT_MARGIN = 64 * 1024
SECTOR = 4096
"""Granularity at which a region that fails to read is retried, and skipped."""


@dataclass(frozen=True)
class Page:
    index: int
    start: int
    """First byte owned by the page (offset in the input)."""
    size: int
    read_start: int
    """First byte read: ``start`` minus the margin, never below 0."""
    read_size: int


def plan(total: int, page_size: int = DEFAULT_PAGE_SIZE, margin: int = DEFAULT_MARGIN
         ) -> Iterator[Page]:
    """The pages that cover ``total`` bytes."""
    if page_size <= 0 or margin < 0:
        raise ValueError("page size must be positive and the margin not negative")
    for index, start in enumerate(range(0, total, page_size)):
        size = min(page_size, total - start)
        read_start = max(0, start - margin)
        read_end = min(total, start + size + margin)
        yield Page(index, start, size, read_start, read_end - read_start)


def read_region(fd: int, offset: int, size: int) -> tuple[bytes, list[tuple[int, int, str]]]:
    """``size`` bytes at ``offset``; unreadable sectors come back as zeros, listed as
    ``(offset, length, error)``. A short read (end of a truncated input) ends the region."""
    try:
        data = os.pread(fd, size, offset)
        return data, []
    except OSError:
        pass
    parts: list[bytes] = []
    bad: list[tuple[int, int, str]] = []
    pos, end = offset, offset + size
    while pos < end:
        step = min(SECTOR - pos % SECTOR, end - pos)
        try:
            chunk = os.pread(fd, step, pos)
        except OSError as exc:
            if bad and bad[-1][0] + bad[-1][1] == pos:
                bad[-1] = (bad[-1][0], bad[-1][1] + step, bad[-1][2])
            else:
                bad.append((pos, step, exc.strerror or str(exc)))
            chunk = bytes(step)
        parts.append(chunk)
        if len(chunk) < step:
            break
        pos += step
    return b"".join(parts), bad


def input_size(fd: int) -> int:
    """Size of a regular file or a block device (which reports 0 in ``st_size``)."""
    return os.lseek(fd, 0, os.SEEK_END)
