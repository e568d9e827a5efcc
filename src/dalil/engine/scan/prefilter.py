"""Find the features of one buffer: Hyperscan as prefilter where it exists, ``re`` otherwise.

Both engines return the same hits for the same buffer. The ``re`` engine runs each
type's exact regex over the whole buffer. The Hyperscan engine compiles every type's
prefilter pattern into one database and scans the buffer once; each prefilter match end
``e`` opens a window ``[e - B, e + A]`` (``B`` bounds how far a match starts before the
end of the first prefilter match inside it, ``A`` how far it ends after, both with slack
for lookarounds), windows of a type that overlap are merged, and the exact regex runs
only inside the windows. Every match of the exact regex contains a prefilter match, so
every match lies inside a window: a match that started before a window's start would
contain a prefilter match and so would have widened that window. The
regex therefore sees the same bytes and finds the same matches as over the whole buffer,
while random and zero bytes (where no prefilter pattern matches) cost nothing in Python.

UTF-16LE text is found the same way in both engines (see :mod:`.utf16`): trigger
patterns (in the Hyperscan database, or :data:`.utf16.TRIGGER_RE` for ``re``) mark where
interleaved NULs surround feature characters, and only windows around them are narrowed
to one byte per code unit and scanned again.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dalil.engine.scan import utf16
from dalil.engine.scan.features import CONTEXT, FeatureType
from dalil.engine.scan.recurse import MAGICS, candidates, plausible

_hs: Any
try:  # Hyperscan ships wheels for x86-64 only; everything works without it.
    import hyperscan as _hs
except ImportError:  # pragma: no cover - depends on the platform
    _hs = None

_SLACK = CONTEXT + 16
"""Bytes added to each side of a window: lookbehinds and lookaheads see this far."""

Hit = tuple[str, int, str, int]
"""(type name, start offset in the buffer, feature text, end offset in the buffer)."""


def hyperscan_available() -> bool:
    return _hs is not None and platform.machine().lower() in ("x86_64", "amd64")


Magic = tuple[int, str]
"""(offset in the buffer, kind) of a compressed stream's magic number (see :mod:`.recurse`)."""


@dataclass
class _Types:
    types: tuple[FeatureType, ...]
    utf16: bool = True
    """Also look for features written in UTF-16LE."""

    def find(self, buf: bytes, lo: int = 0, hi: int | None = None) -> list[Hit]:
        """Validated hits (ASCII/UTF-8 and UTF-16LE) whose start lies in ``[lo, hi)``,
        sorted by offset. A UTF-16 hit's offsets are those of its bytes in ``buf``."""
        return self.scan(buf, lo, hi)[0]

    def scan(self, buf: bytes, lo: int = 0, hi: int | None = None, magics: bool = False
             ) -> tuple[list[Hit], list[Magic]]:
        """:meth:`find`, and (with ``magics``) the compressed-stream magic numbers that
        start in ``[lo, hi)``, in the same pass where the engine allows it."""
        hi = len(buf) if hi is None else hi
        out, triggers, found = self.find_plain(buf, lo, hi, self.utf16, magics)
        if triggers:
            self.find_utf16(buf, triggers, lo, hi, out)
            out.sort(key=lambda h: (h[1], h[0]))
        return out, found

    def find_plain(self, buf: bytes, lo: int, hi: int, triggers: bool, magics: bool
                   ) -> tuple[list[Hit], list[int], list[Magic]]:
        raise NotImplementedError

    def find_utf16(self, buf: bytes, ends: list[int], lo: int, hi: int, out: list[Hit]
                   ) -> None:
        size = len(buf)
        for window in utf16.windows(ends, size):
            start, stop = window
            if stop <= lo - 2 * utf16.MAX_UNITS or start >= hi:
                continue
            narrowed = utf16.narrow(buf, start, stop)
            hits, _, _ = self.find_plain(narrowed, 0, len(narrowed), False, False)
            for name, s, text, e in hits:
                offset = start + 2 * s
                if lo <= offset < hi and utf16.trusted(s, e, window, size, len(narrowed)):
                    out.append((name, offset, text, start + 2 * e))

    def validated(self, ftype: FeatureType, buf: bytes, spans: Iterable[tuple[int, int]],
                  lo: int, hi: int, out: list[Hit]) -> None:
        seen: set[tuple[int, str]] = set()
        validate = ftype.validate
        name = ftype.name
        for start, end in spans:
            if not lo <= start < hi:
                continue
            result = validate(buf, start, end)
            if result is None:
                continue
            s, e, text = result
            if (s, text) not in seen:
                seen.add((s, text))
                out.append((name, s, text, e))


class RegexEngine(_Types):
    """The pure-Python engine: each type's regex over the whole buffer."""

    name = "re"

    def find_plain(self, buf: bytes, lo: int, hi: int, triggers: bool, magics: bool
                   ) -> tuple[list[Hit], list[int], list[Magic]]:
        out: list[Hit] = []
        for ftype in self.types:
            spans = (m.span() for m in ftype.regex.finditer(buf))
            self.validated(ftype, buf, spans, lo, hi, out)
        out.sort(key=lambda h: (h[1], h[0]))
        ends = [m.end() for m in utf16.TRIGGER_RE.finditer(buf)] if triggers else []
        return out, ends, candidates(buf, lo, hi) if magics else []


class HyperscanEngine(_Types):
    """Hyperscan prefilter, then each type's regex inside windows around the prefilter hits.

    The same database also holds the UTF-16 triggers and the magic numbers of compressed
    streams, so one pass over the buffer finds all three."""

    name = "hyperscan"

    def __init__(self, types: tuple[FeatureType, ...], utf16_text: bool = True) -> None:
        super().__init__(types, utf16_text)
        if _hs is None:
            raise RuntimeError("hyperscan is not installed")
        names = [t.name for t in types]
        # Types with the same prefilter share one expression; a type whose prefilter
        # another selected type's covers takes that type's.
        own: list[bytes] = []
        self._expr_of: list[int] = []
        for ftype in types:
            pattern = (types[names.index(ftype.covered_by)].prefilter
                       if ftype.covered_by in names else ftype.prefilter)
            if pattern not in own:
                own.append(pattern)
            self._expr_of.append(own.index(pattern))
        self._runs = [re.compile(t.run + b"*") if t.run else None for t in types]
        self._pattern_count = len(own)
        self._magic_base = len(own) + len(utf16.TRIGGERS)
        expressions = (own + list(utf16.TRIGGERS)
                       + [re.escape(magic) for magic, _ in MAGICS])
        self._db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        self._db.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=[0] * len(expressions),
        )
        self._scratch = _hs.Scratch(self._db)

    def windows(self, buf: bytes) -> tuple[list[list[tuple[int, int]]], list[int],
                                           list[tuple[int, int]]]:
        """Per type, the merged windows ``(start, end)`` around the prefilter matches; the
        ends of the UTF-16 triggers; ``(end, magic index)`` of the magic numbers."""
        count = self._pattern_count
        base = self._magic_base
        ends: list[list[int]] = [[] for _ in range(count + 1)]
        trigger_ends = ends[count]
        magic_ends: list[tuple[int, int]] = []

        def on_match(ident: int, _from: int, to: int, _flags: int, _ctx: Any) -> None:
            if ident < count:
                ends[ident].append(to)
            elif ident < base:
                trigger_ends.append(to)
            else:
                magic_ends.append((to, ident - base))

        self._db.scan(buf, match_event_handler=on_match, scratch=self._scratch)
        size = len(buf)
        result: list[list[tuple[int, int]]] = []
        for ftype, expr, run in zip(self.types, self._expr_of, self._runs, strict=True):
            type_ends = ends[expr]
            before = (ftype.max_length if ftype.before < 0 else ftype.before) + _SLACK
            after = (ftype.max_length if ftype.after < 0 else ftype.after) + _SLACK
            merged: list[tuple[int, int]] = []
            for end in sorted(type_ends):
                start, stop = max(0, end - before), min(size, end + after)
                if run is not None:
                    # Only the run of bytes of the type's class around the end can match;
                    # one byte more on each side for the lookarounds.
                    back = run.match(buf[start:end][::-1])
                    start = max(start, end - (back.end() if back else 0) - 1)
                    fwd = run.match(buf, end, stop)
                    stop = min(stop, (fwd.end() if fwd else end) + 1)
                if merged and start <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
                else:
                    merged.append((start, stop))
            result.append(merged)
        return result, trigger_ends, magic_ends

    def find_plain(self, buf: bytes, lo: int, hi: int, triggers: bool, magics: bool
                   ) -> tuple[list[Hit], list[int], list[Magic]]:
        out: list[Hit] = []
        per_type, ends, magic_ends = self.windows(buf)
        for ftype, windows in zip(self.types, per_type, strict=True):
            regex = ftype.regex
            spans = (
                m.span()
                for start, stop in windows
                for m in regex.finditer(buf, start, stop)
            )
            self.validated(ftype, buf, spans, lo, hi, out)
        out.sort(key=lambda h: (h[1], h[0]))
        found: list[Magic] = []
        if magics:
            for end, index in magic_ends:
                magic, kind = MAGICS[index]
                at = end - len(magic)
                if lo <= at < hi and plausible(buf, at, kind):
                    found.append((at, kind))
            found.sort()
        return out, ends if triggers else [], found


Engine = RegexEngine | HyperscanEngine


def engine_name(prefer: str = "auto") -> str:
    """The engine :func:`make_engine` gives for ``prefer``, without building it."""
    if prefer == "re" or (prefer == "auto" and not hyperscan_available()):
        return "re"
    if prefer not in ("auto", "hyperscan"):
        raise ValueError(f"unknown engine {prefer!r} (auto, hyperscan or re)")
    return "hyperscan"


def make_engine(types: Sequence[FeatureType], prefer: str = "auto", utf16_text: bool = True
                ) -> Engine:
    """``hyperscan`` when asked for or available (``auto``), else the ``re`` engine."""
    chosen = tuple(types)
    if engine_name(prefer) == "re":
        return RegexEngine(chosen, utf16_text)
    return HyperscanEngine(chosen, utf16_text)
