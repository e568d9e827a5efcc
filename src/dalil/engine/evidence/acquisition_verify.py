"""Verification of a written image: read it back and hash it with one strong algorithm.

For raw and split images the read-back is incremental: after each checkpoint has synced a
stretch of the image to disk, the checkpoint thread reads that stretch back from the image
files and feeds the verification digest, so that on a multi-core machine verification
costs little extra wall time; whatever is left is read back at the end. Every byte is
read back from the image files after it was written and synced, never taken from the
acquisition's buffers. An E01 can only be read back once complete (through libewf).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from dalil.engine.evidence.hashing import (
    DEFAULT_CHUNK_SIZE,
    HashingError,
    hash_file,
    hash_stream,
    new_hash,
    strongest,
)

Locate = Callable[[int], tuple[str, int, int]]
"""``locate(image_offset) -> (path, offset_in_file, bytes_left_in_file)``."""


class ImageVerifier:
    """Hashes an image's bytes ``[0, n)`` read back from its files, in increasing steps.

    ``advance`` may be called from one thread at a time (the checkpoint thread, then the
    acquisition thread once that one has stopped).
    """

    def __init__(self, algorithm: str, locate: Locate, chunk_size: int = DEFAULT_CHUNK_SIZE):
        self.algorithm = algorithm
        self.locate = locate
        self.digest = new_hash(algorithm)
        self.done = 0  # bytes read back and hashed
        self.error: str | None = None
        self.seconds = 0.0  # time spent reading back
        self._buf = bytearray(chunk_size)
        self._view = memoryview(self._buf)
        self._fd: int | None = None
        self._fd_path: str | None = None
        self._lock = threading.Lock()

    def advance(self, upto: int) -> None:
        """Read back and hash the image up to byte offset ``upto`` (exclusive)."""
        with self._lock:
            if self.error is not None:
                return
            started = time.monotonic()
            try:
                while self.done < upto:
                    path, file_offset, left = self.locate(self.done)
                    fd = self._open(path)
                    want = min(len(self._buf), upto - self.done, left)
                    n = os.preadv(fd, [self._view[:want]], file_offset)
                    if n <= 0:
                        self.error = f"{path} ends early, at image offset {self.done}"
                        return
                    self.digest.update(self._view[:n])
                    self.done += n
            except OSError as exc:
                self.error = f"cannot read back {exc.filename or 'image'}: {exc.strerror or exc}"
            finally:
                self.seconds += time.monotonic() - started

    def _open(self, path: str) -> int:
        if self._fd_path != path:
            self.close()
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            self._fd_path = path
        assert self._fd is not None
        return self._fd

    def close(self) -> None:
        """Close the image file being read (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._fd_path = None

    def result(self, expected: Mapping[str, str], size: int) -> dict[str, Any]:
        """Finish (reading up to ``size`` bytes) and compare with ``expected[algorithm]``."""
        self.advance(size)
        self.close()
        actual = f"unreadable: {self.error}" if self.error else str(self.digest.hexdigest())
        want = expected[self.algorithm]
        return {
            "algorithm": self.algorithm,
            "expected": want,
            "actual": actual,
            "match": actual == want and self.done == size,
            "size": self.done,
            "seconds": round(self.seconds, 3),
            "method": "read back from the image files after each checkpoint's fsync",
        }


class _ConcatReader:
    """``readinto`` over several files read one after the other (split image segments)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = list(paths)
        self.fd: int | None = None

    def readinto(self, view: memoryview) -> int:
        while True:
            if self.fd is None:
                if not self.paths:
                    return 0
                self.fd = os.open(self.paths.pop(0), os.O_RDONLY | os.O_CLOEXEC)
            n = os.readv(self.fd, [view])
            if n:
                return n
            os.close(self.fd)
            self.fd = None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _hash_ewf(paths: list[str], algorithm: str) -> tuple[str, int, str | None]:
    """Hash the media data of an E01 through libewf; returns (hexdigest, size, stored MD5)."""
    import pyewf  # deferred: only E01 verification needs libewf

    handle = pyewf.handle()
    handle.open(paths)
    try:
        size = int(handle.get_media_size())
        digest = new_hash(algorithm)
        remaining = size
        while remaining:
            data = handle.read(min(DEFAULT_CHUNK_SIZE, remaining))
            if not data:
                break
            digest.update(data)
            remaining -= len(data)
        stored = handle.get_hash_value("MD5")
        return str(digest.hexdigest()), size - remaining, stored
    finally:
        handle.close()


def verify_image(
    image_format: str, paths: list[str], expected: Mapping[str, str]
) -> dict[str, Any]:
    """Re-read a complete image and hash it with one strong algorithm.

    ``expected`` maps algorithm to the acquisition's hex digest; the strongest of them is
    used (sha256 if present). Returns ``{"algorithm", "expected", "actual", "match",
    "size", "seconds", "method"}`` (size in bytes read back); for an E01 also ``"ewf_md5"``,
    the MD5 libewf stored in the image, which must agree too when md5 was computed.
    """
    algorithm = strongest(expected)
    result: dict[str, Any] = {"algorithm": algorithm, "expected": expected[algorithm]}
    started = time.monotonic()
    ewf_ok = True
    try:
        if image_format == "raw":
            read = hash_file(paths[0], (algorithm,))
            actual, size = read.hashes[algorithm], read.size
        elif image_format == "split":
            concat = _ConcatReader(paths)
            try:
                read = hash_stream(concat, (algorithm,), name=paths[0] if paths else "")
            finally:
                concat.close()
            actual, size = read.hashes[algorithm], read.size
        elif image_format == "e01":
            actual, size, stored = _hash_ewf(paths, algorithm)
            result["ewf_md5"] = stored
            ewf_ok = not (stored and "md5" in expected and stored.lower() != expected["md5"])
        else:
            raise ValueError(f"unknown image format {image_format!r}")
    except (HashingError, OSError) as exc:
        actual, size = f"unreadable: {exc}", 0
    result.update(
        actual=actual,
        match=actual == expected[algorithm] and ewf_ok,
        size=size,
        seconds=round(time.monotonic() - started, 3),
        method="read back from the complete image"
        + (" through libewf" if image_format == "e01" else ""),
    )
    return result
