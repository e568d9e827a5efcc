"""Find every header signature in a buffer: ``bytes.find`` per signature, or hyperscan."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dalil.engine.forensics.carve.base import Format

Hit = tuple[int, Format]


def _hyperscan_available() -> bool:
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return False
    return True


class HeaderSearch:
    """All header hits starting before ``limit`` in a buffer, in offset order.

    ``engine``: ``hyperscan`` (one pass for all signatures), ``find`` (one
    ``bytes.find`` pass per signature), or ``auto``: hyperscan where it is installed.
    Measured on 16 MiB of random bytes, all seven signatures: hyperscan ~4 GB/s, ``find``
    ~0.27 GB/s (each of the seven passes costs a full read, and ``\xff\xd8\xff`` is
    slow for CPython's two-way search).
    """

    def __init__(self, formats: Sequence[Format], engine: str = "auto") -> None:
        self.patterns: list[tuple[bytes, Format]] = [
            (sig, fmt) for fmt in formats for sig in fmt.signatures]
        self.longest = max((len(sig) for sig, _ in self.patterns), default=1)
        if engine not in ("auto", "find", "hyperscan"):
            raise ValueError(f"unknown search engine {engine!r} (auto, find or hyperscan)")
        if engine == "auto":
            engine = "hyperscan" if _hyperscan_available() else "find"
        self.engine = engine
        self._db: Any = None
        if self.engine == "hyperscan":
            import hyperscan

            self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            expressions = ["".join(f"\\x{b:02x}" for b in sig).encode()
                           for sig, _ in self.patterns]
            self._db.compile(expressions=expressions, ids=list(range(len(expressions))),
                             elements=len(expressions),
                             flags=[0] * len(expressions))

    def find(self, data: bytes, limit: int) -> list[Hit]:
        """Hits whose first byte is before ``limit`` (the rest belongs to the next chunk)."""
        hits: list[Hit] = []
        if self.engine == "hyperscan":
            found: list[tuple[int, int]] = []

            def on_match(ident: int, start: int, end: int, flags: int, context: Any) -> None:
                at = end - len(self.patterns[ident][0])
                if at < limit:
                    found.append((at, ident))

            self._db.scan(data[: limit + self.longest - 1], match_event_handler=on_match)
            hits = [(at, self.patterns[ident][1]) for at, ident in found]
        else:
            for sig, fmt in self.patterns:
                end = min(len(data), limit + len(sig) - 1)
                at = data.find(sig, 0, end)
                while at >= 0:
                    hits.append((at, fmt))
                    at = data.find(sig, at + 1, end)
        hits.sort(key=lambda hit: hit[0])
        return hits
