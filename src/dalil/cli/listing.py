"""`dalil fs ls -r` shared out between two processes. The names of the root directory are
claimed from both ends: this process lists them from the first on (to stdout, as it goes),
a forked child from the last one back (each name with everything under it, into a
temporary file), until they meet; then the child's parts follow in order. The output is
byte for byte the one-process listing.

Why: a recursive listing is Python work per entry (the walk is pytsk3 calls and the
building of each entry) and one core of two did all of it: 3.8 s against fls's 0.37 s on
the 100,000-file benchmark image, over the 10x the issue allows. Claiming from both ends
balances subtrees of any size to within one root name (a fixed half of the names left one
process with 64% of the entries there). XFS and APFS, walked by their own libraries,
roots of over 256 names (the child reads the root once a name) and one-core machines
keep the one-process listing.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import multiprocessing
import os
import signal
import struct
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from dalil.engine.forensics.filesystem import FileSystem
from dalil.engine.forensics.walk import (
    OWN_WALKERS,
    Entry,
    WalkProblem,
    count_top_names,
    walk,
)

_BUFFER = 1 << 20
_MOST_NAMES = 256


class _Claims:
    """Root names taken from both ends, in memory shared with the forked child: ``low``
    is the first name nobody took from the front, ``high`` one past the last name nobody
    took from the back."""

    def __init__(self, names: int) -> None:
        self._memory = mmap.mmap(-1, 16)  # anonymous and shared: seen by both processes
        self._lock = multiprocessing.get_context("fork").Lock()
        struct.pack_into("<qq", self._memory, 0, 0, names)

    def take_front(self, position: int) -> bool:
        with self._lock:
            low, high = struct.unpack_from("<qq", self._memory, 0)
            if position != low or low >= high:
                return False
            struct.pack_into("<q", self._memory, 0, low + 1)
            return True

    def take_back(self) -> int | None:
        with self._lock:
            low, high = struct.unpack_from("<qq", self._memory, 0)
            if high <= low:
                return None
            struct.pack_into("<q", self._memory, 8, high - 1)
            return int(high - 1)


class _Front:
    """``top`` for this process's walk: a position is walked if it could be claimed."""

    def __init__(self, claims: _Claims) -> None:
        self.claims = claims

    def __contains__(self, position: object) -> bool:
        return isinstance(position, int) and self.claims.take_front(position)


def shareable(fs: FileSystem) -> int:
    """How many root names a listing of ``fs`` can share out (0: list in one process)."""
    if fs.kind in OWN_WALKERS or not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        return 0
    names = count_top_names(fs)
    return names if 2 <= names <= _MOST_NAMES else 0


class SharedListing:
    """A recursive listing of a file system with ``names`` root names, in two processes.

    :meth:`first` gives this process's entries (walk them to the end before :meth:`rest`),
    :meth:`rest` the child's encoded rows after them; both keep only what ``keep`` keeps.
    """

    def __init__(self, names: int, open_fs: Callable[[], FileSystem],
                 keep: Callable[[Entry], bool], encode: Callable[[Entry], bytes]) -> None:
        self.claims = _Claims(names)
        self.keep = keep
        self.rows: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.index: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child (its output is what tests see)
            self._list(open_fs, encode)

    def first(self, fs: FileSystem,
              on_problem: Callable[[WalkProblem], None]) -> Iterator[Entry]:
        keep = self.keep
        return (e for e in walk(fs, on_problem=on_problem, top=_Front(self.claims))
                if keep(e))

    def _list(self, open_fs: Callable[[], FileSystem],
              encode: Callable[[Entry], bytes]) -> None:
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl+C
            # The image is opened again: the parent's handles share their file offsets.
            fs = open_fs()
            rows = io.BufferedWriter(io.FileIO(self.rows.fileno(), "wb", closefd=False),
                                     _BUFFER)
            written = 0

            def problem(found: WalkProblem) -> None:
                self.index.write(orjson.dumps(["problem", found.path, found.inode,
                                               found.message]) + b"\n")

            while (position := self.claims.take_back()) is not None:
                start = written
                for entry in walk(fs, on_problem=problem, top=range(position, position + 1)):
                    if self.keep(entry):
                        line = encode(entry) + b"\n"
                        rows.write(line)
                        written += len(line)
                self.index.write(orjson.dumps(["part", position, start, written]) + b"\n")
            rows.flush()
        except BaseException as exc:
            message = " ".join(str(exc).split()) or repr(exc)
            self.index.write(orjson.dumps(["failed", message]) + b"\n")
            code = 1
        finally:
            self.index.flush()
            os._exit(code)

    def rest(self, on_problem: Callable[[WalkProblem], None]) -> Iterator[bytes]:
        """Wait for the child, pass its problems on, and yield its encoded rows in walk
        order; raises RuntimeError naming what stopped it."""
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        self.index.seek(0)
        parts: list[tuple[int, int, int]] = []
        failure = ""
        for line in self.index:
            kind, *fields = orjson.loads(line)
            if kind == "part":
                parts.append((fields[0], fields[1], fields[2]))
            elif kind == "problem":
                on_problem(WalkProblem(fields[0], fields[1], fields[2]))
            else:
                failure = fields[0]
        code = os.waitstatus_to_exitcode(status)
        if code != 0 or failure:
            raise RuntimeError(f"the listing's second process stopped (exit code {code})"
                               f"{': ' + failure if failure else ''}")
        for _, start, end in sorted(parts):
            self.rows.seek(start)
            left = end - start
            while left > 0:
                line = self.rows.readline()
                left -= len(line)
                yield line[:-1]

    def close(self) -> None:
        if self.pid:  # stopped early (an error, Ctrl+C): the child is not wanted any more
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        self.rows.close()
        self.index.close()

    def __enter__(self) -> SharedListing:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
