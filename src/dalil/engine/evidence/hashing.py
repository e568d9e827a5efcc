"""Hashing of files, block devices and streams: several digests in one read pass.

The reader reads each chunk once, into one of a few preallocated buffers, and every
digest runs in its own long-lived thread over that same buffer (hashlib releases the GIL
for buffers of 2048 bytes or more, and OpenSSL's MD5, SHA-1 and SHA-256 with SHA-NI run
at hundreds of MB/s to GB/s per core). While the digests work on chunk *n* the reader
already fills chunk *n + 1*. Memory stays constant: a buffer is only reused once every
digest has released it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

SUPPORTED: tuple[str, ...] = ("md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b")
"""Algorithms Dalil computes, by their :mod:`hashlib` names."""

DEFAULT_ALGORITHMS: tuple[str, ...] = ("md5", "sha1", "sha256")

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
"""Bytes read at once. 4 MiB measured best on a 2-core EPYC: big enough that the thread
hand-off costs nothing, small enough that the buffers stay in the shared L3 cache."""

DEFAULT_BUFFERS = 3
"""Buffers rotated between the reader and the digests (bytes in flight = buffers x chunk)."""

# Preference when one algorithm has to stand for all of them (verification of an image).
_STRENGTH_ORDER: tuple[str, ...] = ("sha256", "sha512", "sha3_256", "blake2b", "sha1", "md5")

Progress = Callable[[int, "int | None"], None]
"""Progress callback: ``(bytes_done, total_bytes_or_None)``."""


class HashingError(OSError):
    """A path or stream could not be hashed; the message names the path and the reason."""

    def __init__(self, path: str, reason: str, errno_: int | None = None) -> None:
        super().__init__(f"cannot hash {path}: {reason}")
        self.path = path
        self.reason = reason
        if errno_ is not None:
            self.errno = errno_


def parse_algorithms(spec: str | Iterable[str]) -> tuple[str, ...]:
    """Parse ``"md5,sha256"`` (or an iterable of names) into validated, de-duplicated names.

    Names are case-insensitive and ``-`` is accepted for ``_`` (``SHA3-256``). Raises
    :class:`ValueError` naming the first unknown algorithm, or if none is given.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for raw in items:
        name = raw.strip().lower().replace("-", "_")
        if not name:
            continue
        if name not in SUPPORTED:
            raise ValueError(
                f"unknown hash algorithm {raw.strip()!r}; supported: {', '.join(SUPPORTED)}"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError(f"no hash algorithm given; supported: {', '.join(SUPPORTED)}")
    return tuple(names)


def strongest(algorithms: Iterable[str]) -> str:
    """The algorithm to trust when only one is computed: sha256 if chosen, else the strongest."""
    chosen = set(algorithms)
    for name in _STRENGTH_ORDER:
        if name in chosen:
            return name
    raise ValueError("no supported algorithm given")


def new_hash(name: str) -> Any:
    """A fresh :mod:`hashlib` object for one of :data:`SUPPORTED`.

    ``usedforsecurity=False``: MD5 and SHA-1 identify evidence here, they do not protect
    secrets, and FIPS-mode OpenSSL would otherwise refuse them.
    """
    return hashlib.new(name, usedforsecurity=False)


class _Digest:
    """One algorithm over the whole stream, plus optionally over consecutive fixed-size parts
    (the segments of a split image), fed by one thread at a time."""

    def __init__(self, name: str, part_size: int | None) -> None:
        self.name = name
        self.total = new_hash(name)
        self.part_size = part_size
        self.part = new_hash(name) if part_size else None
        self.part_fill = 0
        self.parts: list[str] = []

    def update(self, data: memoryview | bytes) -> None:
        self.total.update(data)
        if self.part is None or self.part_size is None:
            return
        view = memoryview(data)
        pos, size = 0, len(view)
        while pos < size:
            take = min(size - pos, self.part_size - self.part_fill)
            self.part.update(view[pos : pos + take])
            pos += take
            self.part_fill += take
            if self.part_fill == self.part_size:
                self.parts.append(self.part.hexdigest())
                self.part = new_hash(self.name)
                self.part_fill = 0

    def total_hex(self) -> str:
        return str(self.total.hexdigest())

    def parts_hex(self) -> list[str]:
        tail = [self.part.hexdigest()] if self.part is not None and self.part_fill else []
        return [*self.parts, *tail]


_STOP = object()

Tap = Callable[[memoryview, Any], None]
"""An extra consumer of a :class:`MultiHasher`'s chunks: ``tap(chunk, tag)``."""


class _Worker(threading.Thread):
    """A long-lived thread handing every chunk, in order, to one consumer."""

    def __init__(self, name: str, consume: Tap) -> None:
        super().__init__(name=f"dalil-{name}", daemon=True)
        self.consume = consume
        self.jobs: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.acks: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.acked = 0  # touched by the feeding thread only
        self.error: BaseException | None = None

    def run(self) -> None:
        jobs, acks, consume = self.jobs, self.acks, self.consume
        while True:
            job = jobs.get()
            if job is _STOP:
                return
            if self.error is None:  # after a failure the rest is skipped, never half-done
                try:
                    consume(*job)  # type: ignore[misc]
                except BaseException as exc:  # re-raised in the feeding thread
                    self.error = exc
            acks.put(None)


class MultiHasher:
    """Several digests over one stream of bytes, each in its own thread.

    Feed it with :meth:`update`. For zero-copy speed, fill the buffers it lends with
    :meth:`buffer` (``readinto``) and pass slices of them to :meth:`update`: the call
    returns at once and the digests run while the caller reads the next chunk. ``bytes``
    are also hashed asynchronously (they are immutable); any other buffer is hashed before
    :meth:`update` returns, since the caller may change it afterwards. With one algorithm
    and no taps everything runs inline, without a thread.

    With ``part_size`` (bytes) it also hashes each consecutive ``part_size`` slice of the
    stream on its own (:meth:`part_hexdigests`), in the same pass.

    ``taps`` are extra consumers, each in its own thread, called as ``tap(chunk, tag)``
    for every chunk in order (``tag`` is what was given to :meth:`update`) — an image
    writer, say, so that writing overlaps reading and hashing. An exception raised by a
    tap (or a digest) stops that consumer and is re-raised in the feeding thread by the
    next :meth:`buffer`, :meth:`update`, :meth:`drain` or :meth:`hexdigests`.
    """

    def __init__(
        self,
        algorithms: Iterable[str],
        *,
        part_size: int | None = None,
        buffer_size: int = DEFAULT_CHUNK_SIZE,
        buffers: int = DEFAULT_BUFFERS,
        taps: Sequence[Tap] = (),
    ) -> None:
        self.algorithms = parse_algorithms(algorithms)
        if part_size is not None and part_size <= 0:
            raise ValueError("part_size must be a positive number of bytes")
        if buffer_size <= 0 or buffers <= 0:
            raise ValueError("buffer_size and buffers must be positive")
        self.buffer_size = buffer_size
        self._digests = [_Digest(name, part_size) for name in self.algorithms]
        self._bufs = [bytearray(buffer_size) for _ in range(buffers)]
        self._views = [memoryview(b) for b in self._bufs]
        self._buf_seq = [0] * buffers  # last submission that used each buffer
        self._next_buf = 0
        self._seq = 0  # submissions so far
        self._max_in_flight = buffers
        self._bytes = 0
        self._result: dict[str, str] | None = None
        self._error: BaseException | None = None  # a consumer failed: no digest is valid
        self._workers: list[_Worker] = []
        if len(self._digests) > 1 or taps:
            self._workers = [
                _Worker(f"hash-{d.name}", _digest_tap(d)) for d in self._digests
            ] + [_Worker(f"tap-{i}", tap) for i, tap in enumerate(taps)]
            for worker in self._workers:
                worker.start()

    @property
    def bytes_hashed(self) -> int:
        """Bytes fed so far."""
        return self._bytes

    def buffer(self) -> memoryview:
        """Lend the next free preallocated buffer (``buffer_size`` bytes, writable).

        Blocks until every digest and tap has finished with its previous contents. The
        view stays valid until the following ``buffers - 1`` calls to :meth:`buffer`.
        """
        index = self._next_buf
        self._next_buf = (index + 1) % len(self._bufs)
        self._wait(self._buf_seq[index])
        return self._views[index]

    def update(self, data: bytes | bytearray | memoryview, tag: Any = None) -> None:
        """Add ``data`` to every digest, and hand it with ``tag`` to every tap.

        See the class docstring for when this returns before the digests are done.
        """
        if self._result is not None:
            raise ValueError("MultiHasher already finalised")
        size = len(data) if not isinstance(data, memoryview) else data.nbytes
        if size == 0:
            return
        self._bytes += size
        if not self._workers:
            self._digests[0].update(data)  # type: ignore[arg-type]
            return
        own = -1
        if isinstance(data, memoryview):
            for index, buf in enumerate(self._bufs):
                if data.obj is buf:
                    own = index
                    break
        elif isinstance(data, bytes):
            own = -2
        # Bound the chunks in flight (matters for bytes, whose count is not tied to buffers).
        self._wait(self._seq - self._max_in_flight + 1)
        self._seq += 1
        job = (data, tag)
        for worker in self._workers:
            worker.jobs.put(job)
        if own >= 0:
            self._buf_seq[own] = self._seq
        elif own == -1:
            self._wait(self._seq)  # a foreign mutable buffer: finish before handing it back

    def drain(self) -> None:
        """Block until every digest and tap has consumed everything fed so far."""
        self._wait(self._seq)

    def _wait(self, seq: int) -> None:
        """Block until every worker has finished submission number ``seq`` (1-based)."""
        for worker in self._workers:
            while worker.acked < seq:
                worker.acks.get()
                worker.acked += 1
        for worker in self._workers:
            if worker.error is not None:
                self._error = worker.error
                self.close()
        if self._error is not None:
            raise self._error

    def hexdigests(self) -> dict[str, str]:
        """Finish and return ``{algorithm: hex digest}``, in the order the algorithms were given."""
        if self._result is None:
            self._wait(self._seq)
            self._result = {d.name: d.total_hex() for d in self._digests}
            self.close()
        return dict(self._result)

    def part_hexdigests(self) -> list[dict[str, str]]:
        """Finish and return the digests of each part, in order (empty without ``part_size``)."""
        self.hexdigests()
        per_algo = [d.parts_hex() for d in self._digests]
        count = len(per_algo[0]) if per_algo else 0
        return [{d.name: per_algo[i][n] for i, d in enumerate(self._digests)} for n in range(count)]

    def close(self) -> None:
        """Stop the worker threads (idempotent). Digests are lost unless already read."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.jobs.put(_STOP)
        for worker in workers:
            worker.join()

    def __enter__(self) -> MultiHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _digest_tap(digest: _Digest) -> Tap:
    def consume(chunk: memoryview, tag: Any) -> None:
        digest.update(chunk)

    return consume


@dataclass(frozen=True)
class HashResult:
    """Hashes of one file, device or stream. ``size`` is in bytes."""

    path: str
    size: int
    hashes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"path", "size", "hashes"}``, JSON-serialisable."""
        return {"path": self.path, "size": self.size, "hashes": dict(self.hashes)}


class SupportsRead(Protocol):
    """A binary stream with ``read(size) -> bytes``."""

    def read(self, size: int = ..., /) -> bytes: ...


class SupportsReadinto(Protocol):
    """A binary stream with ``readinto(buffer) -> bytes_read`` (the zero-copy path)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


Stream = BinaryIO | SupportsReadinto | SupportsRead


def _stream_readinto(fileobj: Stream) -> Callable[[memoryview], int | None] | None:
    readinto = getattr(fileobj, "readinto", None)
    return readinto if callable(readinto) else None


def hash_stream(
    fileobj: Stream,
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    *,
    name: str = "<stream>",
    total: int | None = None,
) -> HashResult:
    """Hash a binary stream from its current position to its end.

    ``total`` (bytes, if known) is only passed on to ``progress(bytes_done, total)``,
    which is called after every chunk. Read errors raise :class:`HashingError`
    naming ``name`` and the offset.
    """
    hasher = MultiHasher(algorithms, buffer_size=chunk_size)
    readinto = _stream_readinto(fileobj)
    done = 0
    try:
        while True:
            try:
                if readinto is not None:
                    view = hasher.buffer()
                    n = readinto(view) or 0
                    chunk: memoryview | bytes = view[:n] if n else b""
                else:
                    chunk = fileobj.read(chunk_size)  # type: ignore[union-attr]
                    n = len(chunk)
            except OSError as exc:
                raise HashingError(
                    name, f"read error at offset {done}: {exc.strerror or exc}", exc.errno
                ) from exc
            if not n:
                break
            hasher.update(chunk)
            done += n
            if progress is not None:
                progress(done, total)
        return HashResult(path=name, size=done, hashes=hasher.hexdigests())
    finally:
        hasher.close()


class _FdReader:
    """``readinto`` over a raw file descriptor (no Python-level buffering, no copies)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def readinto(self, view: memoryview) -> int:
        return os.readv(self.fd, [view])


def open_source(path: str | os.PathLike[str]) -> tuple[int, int | None, os.stat_result]:
    """Open a file or block device read-only and find its size in bytes.

    Returns ``(fd, size, stat)``; size is None for streams (FIFOs, character devices).
    Block devices report size 0 in ``st_size``, so their size comes from seeking to the end.
    Raises :class:`HashingError` naming the path and the reason.
    """
    spath = os.fspath(path)
    try:
        fd = os.open(spath, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise HashingError(spath, exc.strerror or str(exc), exc.errno) from exc
    try:
        st = os.fstat(fd)
        size: int | None
        if stat.S_ISDIR(st.st_mode):
            raise HashingError(spath, "is a directory", 21)
        if stat.S_ISBLK(st.st_mode):
            size = os.lseek(fd, 0, os.SEEK_END)
            os.lseek(fd, 0, os.SEEK_SET)
        elif stat.S_ISREG(st.st_mode):
            size = st.st_size
        else:
            size = None
        if hasattr(os, "posix_fadvise"):
            # Tell the kernel to read ahead aggressively: we read every byte once, in order.
            with contextlib.suppress(OSError):  # advisory only; some devices refuse it
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        return fd, size, st
    except BaseException:
        os.close(fd)
        raise


def hash_file(
    path: str | os.PathLike[str],
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> HashResult:
    """Hash a regular file or a block device, read-only, in one pass.

    ``progress(bytes_done, total_bytes)`` is called after every chunk (sizes in bytes;
    total is None for streams of unknown size). Raises :class:`HashingError` naming the
    path and the reason if it cannot be opened or read, and :class:`ValueError` for an
    unknown algorithm.
    """
    names = parse_algorithms(algorithms)
    spath = os.fspath(path)
    fd, size, _ = open_source(spath)
    try:
        result = hash_stream(
            _FdReader(fd), names, progress, chunk_size, name=spath, total=size
        )
    finally:
        os.close(fd)
    return result
