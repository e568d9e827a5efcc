"""Shared output conventions of every command.

Data goes to stdout (one JSON document with ``--json``, a Rich table otherwise);
messages, warnings and progress bars go to stderr so that ``--json`` output can be piped.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

out = Console()
err = Console(stderr=True)


def print_json(document: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def json_row(row: Any) -> bytes:
    """One row as :func:`print_json_array` encodes it (no newline in it)."""
    try:
        return orjson.dumps(row, default=str, option=orjson.OPT_UTC_Z)
    except (orjson.JSONEncodeError, TypeError):  # e.g. an integer beyond 64 bits
        return _FALLBACK(row).encode()


def print_json_array(rows: Iterable[Any], encoded: Iterable[bytes] = ()) -> None:
    """Print one JSON array on stdout, a row per line, as the rows come; then the rows of
    ``encoded``, already encoded by :func:`json_row` (another process's part).

    For listings of millions of entries: memory stays constant, and each row is encoded by
    orjson (UTF-8, datetimes as ISO 8601 with a ``Z``), five times faster than the standard
    library's C encoder; anything it cannot encode falls back to that encoder.
    """
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    write: Any = binary.write if binary is not None else (
        lambda data: sys.stdout.write(data.decode()))
    _widen_pipe(sys.stdout)
    first = True
    pending: list[bytes] = []
    size = 0
    for data in itertools.chain(map(json_row, rows), encoded):
        pending.append(b"[\n" if first else b",\n")
        pending.append(data)
        first = False
        size += len(data)
        if size >= _CHUNK:
            write(b"".join(pending))
            pending, size = [], 0
    pending.append(b"[]\n" if first else b"\n]\n")
    write(b"".join(pending))
    if binary is not None:
        binary.flush()
    sys.stdout.flush()


def _iso_or_text(value: Any) -> str:
    """What the fallback encoder writes for a value JSON lacks: times as orjson does."""
    if isinstance(value, datetime.datetime) and value.utcoffset() == datetime.timedelta(0):
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


_FALLBACK = json.JSONEncoder(ensure_ascii=False, default=_iso_or_text,
                             separators=(",", ":")).encode
_CHUNK = 1 << 20  # bytes written at once: a listing of 100,000 rows is 13 MiB


def _widen_pipe(stream: Any) -> None:
    """A pipe on stdout holds 64 KiB: each time it fills, the listing waits for the
    reader to wake. Linux lets a process give its pipe 1 MiB (``fs.pipe-max-size``):
    measured on 100,000 rows into a pipe, 4.4 s before, the same as to a file after."""
    try:
        import fcntl

        fd = stream.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _CHUNK)
    except (OSError, ValueError, AttributeError, ImportError):
        pass  # not a pipe, not Linux, or over the system's limit: the default stands


def error(message: str) -> None:
    """Report an error on stderr and carry on (the caller decides the exit code)."""
    # soft_wrap: a long message naming a file stays on one line for scripts that grep it;
    # escape: a name with [brackets] is printed as is, not read as Rich markup.
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True,
              soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Report an error on stderr and leave with a non-zero exit code."""
    error(message)
    raise typer.Exit(code)


@contextmanager
def byte_progress(description: str, total: int | None, *, quiet: bool = False) -> Iterator[Any]:
    """A Rich progress bar on stderr counting bytes; yields ``advance_to(done_bytes)``."""
    if quiet or not err.is_terminal:
        yield lambda done, total=None: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(description, total=total)

        def advance_to(done: int, new_total: int | None = None) -> None:
            if new_total is not None:
                progress.update(task, total=new_total)
            progress.update(task, completed=done)

        yield advance_to


class TerminalJob:
    """A job context (the ``progress``/``cancelled`` of the app's job services) for a command
    run in a terminal: a Rich bar on stderr, none when stderr is not a terminal or the output
    is JSON. Ctrl+C (KeyboardInterrupt) is how it is cancelled; use it as a context manager.
    """

    def __init__(self, description: str, *, show: bool) -> None:
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                             TransferSpeedColumn(), TimeElapsedColumn(), console=err,
                             transient=True) if show and err.is_terminal else None
        self._task = self._bar.add_task(description, total=None) if self._bar else None
        self._last = 0.0

    def __enter__(self) -> TerminalJob:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def progress(self, done: int, total: int | None = None, message: str | None = None,
                 *, stop_if_cancelled: bool = True) -> None:
        if self._bar is None or self._task is None:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and (total is None or done < total):
            return  # at most ten redraws a second, but always the last one
        self._last = now
        fields: dict[str, Any] = {"completed": done}
        if total is not None:
            fields["total"] = total or None
        if message is not None:
            fields["description"] = escape(message)
        self._bar.update(self._task, **fields)

    def cancelled(self) -> bool:
        return False
