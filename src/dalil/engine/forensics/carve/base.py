"""What every carved format provides: its header signatures, an end finder, a validator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ReadAt = Callable[[int, int], bytes]
"""``read(offset, size)``: up to ``size`` bytes of the carved space at ``offset``."""

FindEnd = Callable[[ReadAt, int, int], int | None]
"""``find_end(read, start, limit)``: the file's length from its own structure, or None.

``start`` is where its header was found, ``limit`` the most bytes it may have (the type's
maximum size, or what is left of the carved space)."""

Validate = Callable[[Path], str | None]
"""``validate(path)``: None if the carved file decodes, else the reason it does not."""

SCAN_BLOCK = 1024 * 1024
"""Bytes read at once by the end finders that scan forward."""


@dataclass(frozen=True)
class Format:
    name: str  # jpg, png, gif, pdf, zip, sqlite
    extension: str
    signatures: tuple[bytes, ...]
    find_end: FindEnd
    validate: Validate
    max_size: int  # bytes: a candidate longer than this is dropped
    refine_extension: Callable[[Path], str] | None = None  # e.g. zip -> docx

    def describe(self) -> str:
        return self.name


def u16be(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 2], "big")


def u32be(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "big")


def u16le(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 2], "little")


def u32le(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "little")


class Cursor:
    """Sequential reads over ``ReadAt`` through one buffered block (end finders' helper)."""

    def __init__(self, read: ReadAt, start: int, limit: int, block: int = SCAN_BLOCK) -> None:
        self._read = read
        self.start = start
        self.end = start + limit  # exclusive bound
        self._block = block
        self._buf = b""
        self._buf_at = start

    def get(self, pos: int, size: int) -> bytes:
        """``size`` bytes at absolute ``pos`` (fewer only at the bound)."""
        if pos < self.start or pos >= self.end:
            return b""
        size = min(size, self.end - pos)
        rel = pos - self._buf_at
        if rel < 0 or rel + size > len(self._buf):
            want = max(size, self._block)
            want = min(want, self.end - pos)
            self._buf = self._read(pos, want)
            self._buf_at = pos
            rel = 0
        return self._buf[rel:rel + size]

    def block_at(self, pos: int) -> bytes:
        """Whatever is buffered from ``pos`` on (at least one block if the bound allows)."""
        return self.get(pos, self._block)


def image_validator(kind: str) -> Validate:
    """Validation by decoding with Pillow: ``verify()`` then a full ``load()``."""

    def validate(path: Path) -> str | None:
        import warnings

        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    if (img.format or "").lower() != kind:
                        return f"Pillow reads it as {img.format}, not {kind.upper()}"
                    img.verify()
                with Image.open(path) as img:
                    img.load()
                    frames = getattr(img, "n_frames", 1)
                    for frame in range(1, min(frames, 64)):
                        img.seek(frame)
                        img.load()
        except Exception as exc:  # Pillow raises many kinds on corrupt input
            return f"does not decode: {type(exc).__name__}: {exc}"
        return None

    return validate
