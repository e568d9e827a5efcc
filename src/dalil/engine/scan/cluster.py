"""Scan pages on a Dask cluster instead of the local process pool (``DALIL_DASK_SCHEDULER``).

Imported by :mod:`.runner` only when ``DALIL_DASK_SCHEDULER`` is set, so that a plain scan
never pays for importing Dask. The parent plans the pages exactly as for the local pool and
submits one task per page (:func:`_page_task`, which runs the same :func:`.runner.scan_page`
code) with at most two tasks in flight per worker thread, then takes the results back in
page order: the feature files, counts, notes and reports are the same as with the local
pool, and memory on the client stays at a few pages' hits whatever the input's size.

Workers read the input themselves, by its path: the input must be on storage that every
worker mounts at the same path as the machine that runs ``dalil scan`` (NFS, CephFS, SMB, a
SAN file system). The run checks this on every worker before the first page and stops with
an error naming the worker and the path when a worker cannot see it (or sees a file of
another size); a task that still cannot open its file says the same.

Running a cluster (a national unit, say, with a few examination servers over shared
storage mounted at ``/evidence``)::

    # one machine: the scheduler (port 8786; dashboard on 8787)
    dask scheduler --port 8786
    # every examination server: a worker, one process per core, one thread each
    dask worker tcp://scheduler-host:8786 --nworkers auto --nthreads 1
    # where the examiner runs dalil (the workers need the same Dalil version installed)
    DALIL_DASK_SCHEDULER=tcp://scheduler-host:8786 dalil scan /evidence/case-17/disk.dd -o out

One thread per worker process is best: the scan is CPU-bound Python, and Hyperscan's
scratch space is per thread (each thread builds its own engine once).
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, cast

from distributed import Client, Future, get_worker
from distributed.comm.addressing import parse_address, parse_host_port

from dalil.engine.scan.features import FeatureType, select
from dalil.engine.scan.pages import Page
from dalil.engine.scan.prefilter import Engine, make_engine
from dalil.engine.scan.runner import (
    Opener,
    Options,
    PageResult,
    RandomAccess,
    ScanError,
    Source,
    _scan_reader_page,
    scan_page,
)

ENV = "DALIL_DASK_SCHEDULER"
TIMEOUT_ENV = "DALIL_DASK_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for the scheduler to answer, and for a first worker to join it."""
PROBED_SOURCES = 100
"""Files of a directory tree checked on every worker before the scan (all are checked
again, each by the task that reads it)."""


def timeout_from_env() -> float:
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise ScanError(f"{TIMEOUT_ENV} must be a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise ScanError(f"{TIMEOUT_ENV} must be positive")
    return seconds


# ---------------------------------------------------------------- worker side

_local = threading.local()
_READERS_PER_THREAD = 4
"""Readers (opened images) a worker thread keeps open between pages; the least recently used
is closed when another scan needs one."""


def _where() -> str:
    """This worker, as the error messages name it."""
    try:
        address = str(get_worker().address)
    except ValueError:  # not inside a worker (a test calling the task directly)
        address = "local"
    return f"Dask worker {address} on {socket.gethostname()}"


def _engine(names: tuple[str, ...], prefer: str, utf16: bool) -> Engine:
    """One engine per worker thread and selection (Hyperscan's scratch is per thread)."""
    engines: dict[tuple[tuple[str, ...], str, bool], Engine] | None = getattr(
        _local, "engines", None)
    if engines is None:
        engines = _local.engines = {}
    key = (names, prefer, utf16)
    engine = engines.get(key)
    if engine is None:
        engine = engines[key] = make_engine(select(",".join(names)), prefer, utf16)
    return engine


def _reader(scan_id: str, path: str, opener: Opener) -> RandomAccess:
    readers: collections.OrderedDict[tuple[str, str], RandomAccess] | None = getattr(
        _local, "readers", None)
    if readers is None:
        readers = _local.readers = collections.OrderedDict()
    key = (scan_id, path)
    reader = readers.get(key)
    if reader is not None:
        readers.move_to_end(key)
        return reader
    try:
        reader = opener()
    except Exception as exc:  # the opener's own error (missing file, bad image...)
        raise ScanError(f"{_where()} cannot open {path}: {_reason(exc)}; the input must be "
                        "on storage that every worker mounts at the same path") from exc
    readers[key] = reader
    while len(readers) > _READERS_PER_THREAD:
        _, old = readers.popitem(last=False)
        with contextlib.suppress(Exception):
            old.close()
    return reader


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _page_task(scan_id: str, names: tuple[str, ...], prefer: str, options: Options,
               path: str, page: Page, opener: Opener | None) -> PageResult:
    """What a Dask worker runs for one page: the local pool's :func:`.runner.scan_page`."""
    engine = _engine(names, prefer, options.utf16)
    if opener is not None:
        return _scan_reader_page(_reader(scan_id, path, opener), page, engine, options)
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as exc:
        raise ScanError(f"{_where()} cannot read {path}: {_reason(exc)}; the input must be "
                        "on storage that every worker mounts at the same path") from exc
    return scan_page(path, page, engine, options)


def _probe(files: Sequence[tuple[str, int]]) -> list[str]:
    """Problems this worker has with ``(path, size)`` files (run on every worker)."""
    problems: list[str] = []
    for path, size in files:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            problems.append(f"cannot read {path}: {_reason(exc)}")
            continue
        try:
            seen = os.lseek(fd, 0, os.SEEK_END)
        except OSError as exc:
            problems.append(f"cannot read {path}: {_reason(exc)}")
            continue
        finally:
            os.close(fd)
        if seen != size:
            problems.append(f"sees {path} with {seen:,} bytes, not {size:,} (another file "
                            "under the same path?)")
    return problems


# ---------------------------------------------------------------- client side


def _remote_path(source: Source) -> str:
    """The path a worker opens: absolute (a worker's working directory is its own), with
    symbolic links left as they are (the shared mount may differ below them)."""
    return str(source.path) if source.opener is not None else os.path.abspath(source.path)


class DaskPages:
    """A connection to the cluster for one scan."""

    def __init__(self, address: str, timeout: float | None = None) -> None:
        self.address = address
        wait = timeout_from_env() if timeout is None else timeout
        try:
            # Checked first: a Client that fails on a malformed address hangs a minute in
            # its finaliser.
            scheme, location = parse_address(address, strict=False)
            if scheme in ("tcp", "tls"):
                parse_host_port(location)
        except ValueError as exc:
            raise ScanError(f"{ENV} is not a Dask scheduler address (tcp://host:8786): "
                            f"{address!r}: {exc}") from None
        try:
            # distributed's Client is untyped; held as Any.
            self.client: Any = cast(Any, Client)(address, timeout=wait,
                                                 set_as_default=False)
        except Exception as exc:  # OSError, TimeoutError, ValueError for a bad address
            raise ScanError(f"cannot reach the Dask scheduler at {address} ({ENV}): "
                            f"{_reason(exc)}") from exc
        try:
            self.client.wait_for_workers(1, timeout=wait)
            self.threads: dict[str, int] = dict(self.client.nthreads())
        except Exception as exc:  # TimeoutError: no worker joined
            self.close()
            raise ScanError(f"no Dask worker joined the scheduler at {address} within "
                            f"{wait:g} s ({ENV}): {_reason(exc)}") from exc
        self.scan_id = uuid.uuid4().hex[:12]

    @property
    def description(self) -> str:
        total = sum(self.threads.values())
        return (f"Dask at {self.address} ({len(self.threads)} workers, {total} threads)")

    @property
    def total_threads(self) -> int:
        return max(1, sum(self.threads.values()))

    def check_sources(self, found: Sequence[Source]) -> None:
        """Stop, naming the worker and the path, if a worker cannot read a plain input."""
        files = [(_remote_path(s), s.size) for s in found if s.opener is None]
        files = files[:PROBED_SOURCES]
        if not files:
            return
        answers: dict[str, list[str]] = self.client.run(_probe, files)
        for worker, problems in sorted(answers.items()):
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                raise ScanError(f"Dask worker {worker} {problems[0]}{more}; the input must "
                                "be on storage that every worker mounts at the same path")

    def results(self, tasks: Sequence[tuple[Source, Page]], types: Sequence[FeatureType],
                engine: str, options: Options) -> Iterator[PageResult]:
        """The pages' results in task order, with a bounded number of tasks in flight.

        Closing the iterator (a progress callback that raised to cancel) cancels the tasks
        still pending."""
        names = tuple(t.name for t in types)
        window = 2 * self.total_threads
        pending: collections.deque[Future[Any]] = collections.deque()
        try:
            for index, (source, page) in enumerate(tasks):
                pending.append(self.client.submit(
                    _page_task, self.scan_id, names, engine, options, _remote_path(source), page,
                    source.opener, key=f"dalil-scan-{self.scan_id}-{index}", pure=False))
                if len(pending) >= window:
                    yield self._result(pending.popleft())
            while pending:
                yield self._result(pending.popleft())
        finally:
            if pending:
                with contextlib.suppress(Exception):
                    self.client.cancel(list(pending))

    def _result(self, future: Future[Any]) -> PageResult:
        try:
            result = future.result()
        except ScanError:
            raise
        except Exception as exc:
            name = type(exc).__name__
            if name in ("KilledWorker", "CommClosedError", "CancelledError"):
                raise ScanError(f"the Dask cluster at {self.address} lost a page task "
                                f"({name}: {exc})") from exc
            raise
        assert isinstance(result, PageResult)
        return result

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
