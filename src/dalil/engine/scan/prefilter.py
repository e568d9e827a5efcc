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
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dalil.engine.scan.features import CONTEXT, FeatureType

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


@dataclass
class _Types:
    types: tuple[FeatureType, ...]

    def validated(self, ftype: FeatureType, buf: bytes, spans: Iterable[tuple[int, int]],
                  lo: int, hi: int, out: list[Hit]) -> None:
        seen: set[tuple[int, str]] = set()
        for start, end in spans:
            if not lo <= start < hi:
                continue
            result = ftype.validate(buf, start, end)
            if result is None:
                continue
            s, e, text = result
            if (s, text) not in seen:
                seen.add((s, text))
                out.append((ftype.name, s, text, e))


class RegexEngine(_Types):
    """The pure-Python engine: each type's regex over the whole buffer."""

    name = "re"

    def find(self, buf: bytes, lo: int = 0, hi: int | None = None) -> list[Hit]:
        """Validated hits whose start lies in ``[lo, hi)``, sorted by offset."""
        hi = len(buf) if hi is None else hi
        out: list[Hit] = []
        for ftype in self.types:
            spans = (m.span() for m in ftype.regex.finditer(buf))
            self.validated(ftype, buf, spans, lo, hi, out)
        out.sort(key=lambda h: (h[1], h[0]))
        return out


class HyperscanEngine(_Types):
    """Hyperscan prefilter, then each type's regex inside windows around the prefilter hits."""

    name = "hyperscan"

    def __init__(self, types: tuple[FeatureType, ...]) -> None:
        super().__init__(types)
        if _hs is None:
            raise RuntimeError("hyperscan is not installed")
        self._db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        self._db.compile(
            expressions=[t.prefilter for t in types],
            ids=list(range(len(types))),
            elements=len(types),
            flags=[0] * len(types),
        )
        self._scratch = _hs.Scratch(self._db)

    def windows(self, buf: bytes) -> list[list[tuple[int, int]]]:
        """Per type, the merged windows ``(start, end)`` around the prefilter matches."""
        ends: list[list[int]] = [[] for _ in self.types]

        def on_match(ident: int, _from: int, to: int, _flags: int, _ctx: Any) -> None:
            ends[ident].append(to)

        self._db.scan(buf, match_event_handler=on_match, scratch=self._scratch)
        size = len(buf)
        result: list[list[tuple[int, int]]] = []
        for ftype, type_ends in zip(self.types, ends, strict=True):
            before = (ftype.max_length if ftype.before < 0 else ftype.before) + _SLACK
            after = (ftype.max_length if ftype.after < 0 else ftype.after) + _SLACK
            merged: list[tuple[int, int]] = []
            for end in sorted(type_ends):
                start, stop = max(0, end - before), min(size, end + after)
                if merged and start <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
                else:
                    merged.append((start, stop))
            result.append(merged)
        return result

    def find(self, buf: bytes, lo: int = 0, hi: int | None = None) -> list[Hit]:
        """Validated hits whose start lies in ``[lo, hi)``, sorted by offset."""
        hi = len(buf) if hi is None else hi
        out: list[Hit] = []
        for ftype, windows in zip(self.types, self.windows(buf), strict=True):
            spans = (
                m.span()
                for start, stop in windows
                for m in ftype.regex.finditer(buf, start, stop)
            )
            self.validated(ftype, buf, spans, lo, hi, out)
        out.sort(key=lambda h: (h[1], h[0]))
        return out


Engine = RegexEngine | HyperscanEngine


def make_engine(types: Sequence[FeatureType], prefer: str = "auto") -> Engine:
    """``hyperscan`` when asked for or available (``auto``), else the ``re`` engine."""
    chosen = tuple(types)
    if prefer == "re" or (prefer == "auto" and not hyperscan_available()):
        return RegexEngine(chosen)
    if prefer not in ("auto", "hyperscan"):
        raise ValueError(f"unknown engine {prefer!r} (auto, hyperscan or re)")
    return HyperscanEngine(chosen)
