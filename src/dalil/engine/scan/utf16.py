"""UTF-16LE text (Windows: registry, page file, Office, event logs), Cyrillic included.

Every feature type is ASCII, so a feature written in UTF-16LE is a run of code units
``<ascii byte> 00``. Looking for such text everywhere would cost as much as the scan
itself; instead a few *trigger* patterns, which only match interleaved NULs around
characters that every feature contains, are added to the prefilter (Hyperscan sees them
for free in the same pass; the ``re`` engine runs :data:`TRIGGER_RE`). Random bytes, zero
runs and ASCII text never match them.

Around each trigger a window of :data:`RADIUS` bytes on each side (same parity as the
trigger, so code units stay aligned) is *narrowed*: each code unit becomes one byte, the
low byte when the high byte is 0 (ASCII and Latin-1), :data:`PLACEHOLDER` otherwise (Cyrillic
``xx 04`` and every other script: a non-ASCII byte, so it separates features exactly as
a letter of another script does in UTF-8). The ordinary regexes and validators then run
on the narrowed bytes, and a hit at narrowed offset ``i`` is at byte ``start + 2 i`` of
the input. Its feature is the decoded text; its context is the raw bytes around it.

A feature that is not contained in some trigger's window is not seen. Host names, e-mail
addresses, URLs, IP addresses, phone numbers and grouped card numbers contain an
``@ . : + / - (`` between two printable characters or ``digit space digit digit``; digit
strings (cards, IIN, IBAN), hex and base58 addresses contain a digit with two letters or
digits before it and one after (a base58 address of 34 characters lacks one with a
probability under 1%; a ``(?:[0-9A-Za-z]\x00){12}`` trigger that would catch those too
made Hyperscan three times slower on every input, UTF-16 or not). Features longer than
:data:`MAX_UNITS` characters (PGP key blocks) are only found in UTF-16 when shorter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

TRIGGERS: tuple[bytes, ...] = (
    rb"[\x21-\x7e]\x00[@.:+/\-(]\x00[\x21-\x7e]\x00",
    rb"[0-9A-Za-z]\x00[0-9A-Za-z]\x00[0-9]\x00[0-9A-Za-z]\x00",
    rb"[0-9]\x00 \x00[0-9]\x00[0-9]\x00",
)
TRIGGER_RE = re.compile(b"|".join(TRIGGERS))

MAX_UNITS = 4096
"""Longest UTF-16 feature looked for, in code units."""
EDGE = 64
"""Code units at a window's inner edges where a match is not trusted (its lookbehind or
lookahead could not see the bytes beyond the window); real features never lie there."""
RADIUS = 2 * (MAX_UNITS + EDGE + 64)
"""Bytes on each side of a trigger that are narrowed."""
PLACEHOLDER = 0xFF


def windows(ends: Iterable[int], size: int) -> list[tuple[int, int]]:
    """Merged windows ``(start, stop)`` around trigger ends, per parity; ``stop - start`` is
    even and ``start`` has the parity of the triggers inside. (NumPy: a page of UTF-16
    text has a trigger every few bytes.)"""
    every = np.fromiter(ends, dtype=np.int64)
    result: list[tuple[int, int]] = []
    for parity in (0, 1):
        chosen = np.unique(every[every % 2 == parity])
        if not chosen.size:
            continue
        starts = np.maximum(chosen - RADIUS, parity)
        stops = np.minimum(chosen + RADIUS, size)
        first = np.concatenate(([0], np.flatnonzero(starts[1:] > stops[:-1]) + 1))
        last = np.concatenate((first[1:] - 1, [chosen.size - 1]))
        for start, stop in zip(starts[first].tolist(), stops[last].tolist(), strict=True):
            result.append((start, stop - (stop - start) % 2))
    return result


def narrow(buf: bytes, start: int, stop: int) -> bytes:
    """One byte per UTF-16LE code unit of ``buf[start:stop]`` (see the module's text)."""
    units = np.frombuffer(buf[start:stop], dtype="<u2")
    return bytes(np.minimum(units, PLACEHOLDER).astype(np.uint8).tobytes())


def trusted(start: int, end: int, window: tuple[int, int], size: int, length: int) -> bool:
    """Whether a match ``[start, end)`` of a narrowed window of ``length`` units is away from
    the window's edges, or at an edge that is also the buffer's."""
    ws, we = window
    if start < EDGE and ws > 1:
        return False
    return not (end > length - EDGE and we < size - 1)
