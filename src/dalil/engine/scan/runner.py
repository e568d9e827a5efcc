"""Scan files, devices and directory trees page by page in a pool of worker processes.

Each worker opens the input itself and reads its own page (no page crosses a pipe), finds
and validates the features with the engine of :mod:`.prefilter`, and sends back only the
hits, with their context already formatted. The parent receives pages in order, so the
feature files come out sorted by offset; memory stays at about one page per worker (plus
what :class:`.recurse.Limits` lets it decompress).

A worker also decompresses the gzip, zlib and zip streams that start in its page (reading
past the page's end from the input itself when a stream is longer), scans the output in
pages of its own with the same margin, and so on down to the depth limit; those hits
carry forensic paths (``1234-GZIP-56``) instead of plain offsets. The parent matches every
hit against the known indicators (:mod:`.indicators`) and writes the alerts, histograms,
``report.json`` and the DFXML ``report.xml``.

With ``DALIL_DASK_SCHEDULER`` set (``tcp://host:8786``), the same pages go to a Dask
cluster instead of the local pool (:mod:`.cluster`, imported only then): same results, in
the same order, with a bounded number of pages in flight. The workers read the input by
its path, so it must be on storage every worker mounts at the same path; a worker that
cannot read it, or a scheduler that does not answer, stops the run with an error naming
it (there is no fallback to the local pool: the user asked for the cluster). A national
unit runs the cluster with ``dask scheduler`` on one machine and ``dask worker
tcp://scheduler-host:8786 --nworkers auto --nthreads 1`` on each examination server
(Dalil installed on every one, the evidence share mounted at the same path); see
:mod:`.cluster` and ``docs/decisions.md``.

A worker process of the local pool that dies (killed by the OOM killer, a crash in a
native library) does not end the run: the pages that were in flight are scanned again one
at a time in a fresh pool, so the page that kills its worker again is found; that page is
recorded as not scanned (``ScanSummary.unscanned`` and a note naming its byte range) and
the run goes on with the next pages, keeping every hit already found. After
:data:`MAX_WORKER_DEATHS` deaths the rest of the input is recorded as not scanned.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dalil.engine.scan.features import CONTEXT, FeatureType, select
from dalil.engine.scan.indicators import Alert, IndicatorSet
from dalil.engine.scan.output import FeatureWriter, escape
from dalil.engine.scan.pages import (
    DEFAULT_MARGIN,
    DEFAULT_PAGE_SIZE,
    SECTOR,
    Page,
    plan,
    read_region,
)
from dalil.engine.scan.prefilter import Engine, engine_name, make_engine
from dalil.engine.scan.recurse import (
    PROBE,
    Budget,
    Limits,
    Note,
    Reader,
    buffer_reader,
    open_stream,
)
from dalil.engine.scan.report import write_dfxml

if TYPE_CHECKING:
    from dalil.engine.scan import cluster as cluster_module

Progress = Callable[[int, int], None]
"""``(bytes_done, bytes_total)``."""


class ScanError(Exception):
    """The input cannot be scanned at all (missing, not a file, device or directory)."""


class RandomAccess(Protocol):
    """Bytes read by offset: a disk image's media (``dalil.engine.forensics.image.Image``)
    or anything else that is not a plain file."""

    def read(self, offset: int, size: int) -> bytes: ...

    def close(self) -> None: ...


Opener = Callable[[], RandomAccess]
"""Opens a :class:`RandomAccess`; each worker process calls it once, so it must pickle
(a module-level function or a ``functools.partial`` of one) when more than one job runs."""


@dataclass(frozen=True)
class Source:
    path: Path
    label: str
    """Prefix of the offset column: empty for a single input, the relative path in a tree."""
    size: int
    opener: Opener | None = None
    """Read through this instead of opening ``path`` (which then only names the input)."""


@dataclass(frozen=True)
class Options:
    """What a worker does besides the plain scan."""

    recurse: bool = True
    """Decompress gzip, zlib and zip streams found in the data and scan them."""
    limits: Limits = field(default_factory=Limits)
    utf16: bool = True
    """Look for features written in UTF-16LE."""
    page_size: int = DEFAULT_PAGE_SIZE
    margin: int = DEFAULT_MARGIN
    hash_streams: bool = False
    """Hash each decompressed stream (to match file-hash indicators)."""


Where = int | str
"""A plain offset in the source, or a forensic path through compressed streams."""


@dataclass
class PageResult:
    hits: list[tuple[str, Where, str, str]]
    """(type, offset in the source or forensic path, feature, context); the page's own
    hits sorted by offset, then those inside the streams that start in the page."""
    unreadable: list[tuple[int, int, str]]
    scanned: int
    notes: list[Note] = field(default_factory=list)
    streams: list[dict[str, object]] = field(default_factory=list)
    """Each decompressed stream: path, kind, name, size, complete (and hashes if asked)."""
    lost: str = ""
    """Why the page was not scanned at all (its worker process died), or empty."""


@dataclass
class ScanSummary:
    input: str
    engine: str
    jobs: int
    scanners: list[str]
    bytes_total: int = 0
    bytes_scanned: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    unreadable: list[dict[str, object]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    files: int = 0
    notes: list[dict[str, str]] = field(default_factory=list)
    """What could not be done: decompression (limits, truncated or corrupt streams) and
    pages not scanned (a worker process died)."""
    unscanned: list[dict[str, object]] = field(default_factory=list)
    """Byte ranges not scanned at all (path, offset, length, reason): the pages whose
    worker process died. Their hits are missing; every other page's are kept."""
    streams: int = 0
    bytes_decompressed: int = 0
    alerts: list[Alert] = field(default_factory=list)
    alert_count: int = 0
    feeds: list[dict[str, object]] = field(default_factory=list)
    source_hashes: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    ended_at: str = ""
    executor: str = ""
    """What scanned the pages: ``local pool with N workers``, ``in process`` or
    ``Dask at ADDRESS (...)``."""
    command_line: list[str] = field(default_factory=list)
    options: dict[str, object] = field(default_factory=dict)

    MAX_ALERTS_IN_JSON = 1000

    @property
    def mb_per_s(self) -> float:
        return self.bytes_scanned / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "input": self.input,
            "engine": self.engine,
            "jobs": self.jobs,
            "executor": self.executor,
            "scanners": self.scanners,
            "files": self.files,
            "bytes_total": self.bytes_total,
            "bytes_scanned": self.bytes_scanned,
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.mb_per_s, 1),
            "counts": self.counts,
            "unreadable": self.unreadable,
            "unscanned": self.unscanned,
            "skipped": self.skipped,
            "streams": self.streams,
            "bytes_decompressed": self.bytes_decompressed,
            "notes": self.notes,
            "indicator_feeds": self.feeds,
            "alert_count": self.alert_count,
            "alerts": [a.to_dict() for a in self.alerts[: self.MAX_ALERTS_IN_JSON]],
            "source_hashes": self.source_hashes,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "options": self.options,
        }


# ---------------------------------------------------------------- worker side

_engine: Engine | None = None
_options: Options = Options()
_die_at: int | None = None

DIE_AT_ENV = "DALIL_SCAN_TEST_DIE_AT"
"""Test only: with this set to an offset, the worker process that is given the page owning
that offset exits abruptly (``os._exit``), as one killed by the OOM killer would. Read by
the parent when it starts a local pool and handed to the workers' initialiser (a
forkserver's children do not see later changes of the parent's environment)."""

MAX_WORKER_DEATHS = 32
"""Worker processes that may die in one run; after that the rest is not scanned."""


def _die_at_from_env() -> int | None:
    value = os.environ.get(DIE_AT_ENV, "").strip()
    return int(value) if value.isdigit() else None


def _init_worker(names: Sequence[str], engine: str, options: Options,
                 die_at: int | None = None) -> None:
    global _engine, _options, _die_at
    _engine = make_engine(select(",".join(names)), engine, options.utf16)
    _options = options
    _die_at = die_at


def _feature_text(text: str) -> str:
    return escape(text.encode("utf-8", errors="replace"))


class _Recursion:
    """Decompresses the streams of one page and scans them, depth first."""

    def __init__(self, engine: Engine, options: Options, result: PageResult) -> None:
        self.engine = engine
        self.options = options
        self.limits = options.limits
        self.budget = Budget(options.limits.max_total)
        self.result = result

    def streams_in(self, buf: bytes, magics: list[tuple[int, str]], base: int, prefix: str,
                   read: Reader, depth: int) -> None:
        """Decompress each stream whose magic number is at ``magics`` in ``buf``; ``base``
        is the offset of ``buf[0]`` in what ``read`` reads, ``prefix`` the path of that data."""
        for at, kind in magics:
            offset = base + at
            path = f"{prefix}{offset}-{kind}"
            if depth > self.limits.max_depth:
                if open_stream(read, offset, kind, 1 << 12) is not None:
                    self.result.notes.append(Note(path, f"not decompressed: depth limit "
                                                  f"({self.limits.max_depth}) reached"))
                continue
            if self.budget.left <= 0:
                if open_stream(read, offset, kind, 1 << 12) is not None:
                    self.result.notes.append(Note(path, "not decompressed: the page's "
                                                  "decompression budget "
                                                  f"({self.limits.max_total:,} bytes) is spent"))
                continue
            limit = min(self.limits.max_size, self.budget.left)
            stream = open_stream(read, offset, kind, limit, buf[at : at + PROBE])
            if stream is None:
                continue
            if stream.note is not None:
                note = stream.note
                if len(stream.data) >= limit and limit < self.limits.max_size:
                    note += " (the page's decompression budget is spent)"
                self.result.notes.append(Note(path, note))
            if not stream.data:
                continue
            self.budget.left -= len(stream.data)
            record: dict[str, object] = {"path": path, "kind": kind, "name": stream.name,
                                         "size": len(stream.data),
                                         "complete": stream.complete}
            if self.options.hash_streams:
                record["hashes"] = {name: hashlib.new(name, stream.data).hexdigest()
                                    for name in ("md5", "sha1", "sha256")}
            self.result.streams.append(record)
            self.scan_data(stream.data, path + "-", depth)

    def scan_data(self, data: bytes, prefix: str, depth: int) -> None:
        """Scan decompressed ``data`` in pages with the same margin as the input."""
        read = buffer_reader(data)
        for page in plan(len(data), self.options.page_size, self.options.margin):
            view = data[page.read_start : page.read_start + page.read_size]
            lo = page.start - page.read_start
            hi = lo + page.size
            hits, magics = self.engine.scan(view, lo, hi, magics=True)
            for name, start, text, end in hits:
                context = view[max(0, start - CONTEXT) : end + CONTEXT]
                self.result.hits.append((name, f"{prefix}{page.read_start + start}",
                                         _feature_text(text), escape(context)))
            self.streams_in(view, magics, page.read_start, prefix, read, depth + 1)


_readers: dict[str, RandomAccess] = {}
"""The readers this process opened, by input (kept open from page to page)."""


def _reader(path: str, opener: Opener) -> RandomAccess:
    reader = _readers.get(path)
    if reader is None:
        reader = _readers[path] = opener()
    return reader


def _close_readers() -> None:
    while _readers:
        _, reader = _readers.popitem()
        reader.close()


def _read_through(reader: RandomAccess, offset: int, size: int
                  ) -> tuple[bytes, list[tuple[int, int, str]]]:
    """As :func:`.pages.read_region`, through a reader: a region that fails to read is
    read again sector by sector, and what still fails comes back as zeros, listed."""
    with contextlib.suppress(Exception):  # an image reader's own errors: retried below
        return reader.read(offset, size), []
    parts: list[bytes] = []
    bad: list[tuple[int, int, str]] = []
    pos, end = offset, offset + size
    while pos < end:
        step = min(SECTOR - pos % SECTOR, end - pos)
        try:
            chunk = reader.read(pos, step)
        except Exception as exc:  # an image reader's own error
            if bad and bad[-1][0] + bad[-1][1] == pos:
                bad[-1] = (bad[-1][0], bad[-1][1] + step, bad[-1][2])
            else:
                bad.append((pos, step, str(exc) or type(exc).__name__))
            chunk = bytes(step)
        parts.append(chunk)
        if len(chunk) < step:
            break
        pos += step
    return b"".join(parts), bad


def scan_page(path: str, page: Page, engine: Engine | None = None,
              options: Options | None = None, opener: Opener | None = None) -> PageResult:
    """The hits of one page of ``path`` (features that start inside the page), and of the
    compressed streams that start inside it. With ``opener``, the bytes are read through
    the reader it opens (kept open for the next pages of ``path``)."""
    active = engine or _engine
    opts = options or _options
    assert active is not None, "worker not initialised"
    if opener is not None:
        return _scan_reader_page(_reader(path, opener), page, active, opts)
    fd = os.open(path, os.O_RDONLY)
    try:
        buf, bad = read_region(fd, page.read_start, page.read_size)
        lo = page.start - page.read_start
        hi = min(len(buf), lo + page.size)
        hits, magics = active.scan(buf, lo, hi, magics=opts.recurse)
        result = PageResult([], [], 0)
        for name, start, text, end in hits:
            context = buf[max(0, start - CONTEXT) : end + CONTEXT]
            result.hits.append((name, page.read_start + start, _feature_text(text),
                                escape(context)))
        if magics:
            def read(offset: int, size: int) -> bytes:
                return read_region(fd, offset, size)[0]

            _Recursion(active, opts, result).streams_in(buf, magics, page.read_start, "",
                                                         read, 1)
    finally:
        os.close(fd)
    return _finish(result, page, buf, bad, lo, hi)


def _scan_reader_page(reader: RandomAccess, page: Page, engine: Engine, opts: Options
                      ) -> PageResult:
    buf, bad = _read_through(reader, page.read_start, page.read_size)
    lo = page.start - page.read_start
    hi = min(len(buf), lo + page.size)
    hits, magics = engine.scan(buf, lo, hi, magics=opts.recurse)
    result = PageResult([], [], 0)
    for name, start, text, end in hits:
        context = buf[max(0, start - CONTEXT) : end + CONTEXT]
        result.hits.append((name, page.read_start + start, _feature_text(text),
                            escape(context)))
    if magics:
        def read(offset: int, size: int) -> bytes:
            return _read_through(reader, offset, size)[0]

        _Recursion(engine, opts, result).streams_in(buf, magics, page.read_start, "", read, 1)
    return _finish(result, page, buf, bad, lo, hi)


def _finish(result: PageResult, page: Page, buf: bytes, bad: list[tuple[int, int, str]],
            lo: int, hi: int) -> PageResult:
    owned_end = page.start + page.size
    unreadable = [
        (max(o, page.start), min(o + n, owned_end) - max(o, page.start), err)
        for o, n, err in bad
        if o < owned_end and o + n > page.start
    ]
    short = page.read_size - len(buf)
    if short > 0:
        gap_start = page.read_start + len(buf)
        if gap_start < owned_end:
            unreadable.append((gap_start, owned_end - gap_start, "short read (input truncated)"))
    result.unreadable = unreadable
    result.scanned = max(0, hi - lo)
    return result


def _scan_task(args: tuple[str, Page, Opener | None]) -> PageResult:
    path, page, opener = args
    if _die_at is not None and page.start <= _die_at < page.start + page.size:
        os._exit(70)  # the test-only hook of DIE_AT_ENV
    return scan_page(path, page, opener=opener)


# ---------------------------------------------------------------- parent side


def sources(input_path: Path) -> tuple[list[Source], list[dict[str, str]]]:
    """The files to scan under ``input_path`` and the ones skipped (with the reason)."""
    try:
        info = input_path.stat()
    except OSError as exc:
        raise ScanError(f"cannot scan {input_path}: {exc.strerror or exc}") from exc
    if stat.S_ISREG(info.st_mode) or stat.S_ISBLK(info.st_mode) or stat.S_ISCHR(info.st_mode):
        return [Source(input_path, "", _size(input_path))], []
    if not stat.S_ISDIR(info.st_mode):
        raise ScanError(f"cannot scan {input_path}: not a file, device or directory")
    found: list[Source] = []
    skipped: list[dict[str, str]] = []
    for root, dirs, files in os.walk(input_path, onerror=lambda e: skipped.append(
            {"path": str(e.filename), "reason": e.strerror or str(e)})):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(input_path).as_posix()
            if path.is_symlink() or not path.is_file():
                skipped.append({"path": rel, "reason": "not a regular file"})
                continue
            try:
                found.append(Source(path, rel, _size(path)))
            except OSError as exc:
                skipped.append({"path": rel, "reason": exc.strerror or str(exc)})
    return found, skipped


def _size(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


DASK_SCHEDULER_ENV = "DALIL_DASK_SCHEDULER"


def dask_scheduler() -> str | None:
    """The Dask scheduler's address when ``DALIL_DASK_SCHEDULER`` is set, else ``None``."""
    return os.environ.get(DASK_SCHEDULER_ENV, "").strip() or None


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def scan(
    input_path: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    *,
    scanners: str | None = None,
    jobs: int | None = None,
    engine: str = "auto",
    page_size: int = DEFAULT_PAGE_SIZE,
    margin: int = DEFAULT_MARGIN,
    progress: Progress | None = None,
    indicators: IndicatorSet | None = None,
    recurse: bool = True,
    limits: Limits | None = None,
    utf16: bool = True,
    hash_source: bool = False,
    command_line: Sequence[str] | None = None,
    start: int = 0,
) -> ScanSummary:
    """Scan ``input_path`` (file, device or directory tree) into feature files in ``outdir``.

    ``indicators``: known indicators to flag hits against (``alerts.txt``); ``recurse``:
    decompress gzip/zlib/zip streams within ``limits``; ``utf16``: also UTF-16LE text;
    ``hash_source``: SHA-256 of a single-file input (read a second time, in a thread),
    recorded in ``report.xml``; ``command_line``: recorded in ``report.xml``; ``start``:
    skip the pages that begin before this offset (resuming a single input where an
    earlier run stopped; the progress counts them as done).
    """
    root = Path(input_path)
    found, skipped = sources(root)
    return _run(found, skipped, str(root), outdir, scanners=scanners, jobs=jobs,
                engine=engine, page_size=page_size, margin=margin, progress=progress,
                indicators=indicators, recurse=recurse, limits=limits, utf16=utf16,
                hash_source=hash_source, command_line=command_line, start=start)


def scan_reader(
    opener: Opener,
    size: int,
    outdir: str | os.PathLike[str],
    *,
    name: str,
    scanners: str | None = None,
    jobs: int | None = None,
    engine: str = "auto",
    page_size: int = DEFAULT_PAGE_SIZE,
    margin: int = DEFAULT_MARGIN,
    progress: Progress | None = None,
    indicators: IndicatorSet | None = None,
    recurse: bool = True,
    limits: Limits | None = None,
    utf16: bool = True,
    hash_source: bool = False,
    command_line: Sequence[str] | None = None,
    start: int = 0,
) -> ScanSummary:
    """As :func:`scan`, over ``size`` bytes read through what ``opener`` opens (the logical
    media of an E01, QCOW2, VMDK or VHD image, say); ``name`` names the input in the
    reports. Each worker opens its own reader, so ``opener`` must pickle when ``jobs`` is
    more than 1."""
    found = [Source(Path(name), "", size, opener)]
    return _run(found, [], name, outdir, scanners=scanners, jobs=jobs, engine=engine,
                page_size=page_size, margin=margin, progress=progress,
                indicators=indicators, recurse=recurse, limits=limits, utf16=utf16,
                hash_source=hash_source, command_line=command_line, start=start)


def scan_image(
    path: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    *,
    container: str,
    size: int,
    name: str | None = None,
    **options: Any,
) -> ScanSummary:
    """Scan the media of a disk image whose ``container`` and media ``size`` (bytes) are
    known (see :mod:`dalil.engine.forensics.image`): a raw image directly, any other
    container (E01, split raw, QCOW2, VMDK, VHD) through its reader, so that offsets are
    the disk's, not the container file's. ``options`` are those of :func:`scan`."""
    if container == "raw":
        return scan(path, outdir, **options)
    # Imported here: the containers' libraries are needed only for such images.
    from dalil.engine.forensics.image import open_image

    opener = functools.partial(open_image, str(path))
    return scan_reader(opener, size, outdir, name=name or str(path), **options)


def _run(
    found: list[Source],
    skipped: list[dict[str, str]],
    input_name: str,
    outdir: str | os.PathLike[str],
    *,
    scanners: str | None,
    jobs: int | None,
    engine: str,
    page_size: int,
    margin: int,
    progress: Progress | None,
    indicators: IndicatorSet | None,
    recurse: bool,
    limits: Limits | None,
    utf16: bool,
    hash_source: bool,
    command_line: Sequence[str] | None,
    start: int,
) -> ScanSummary:
    types = select(scanners)
    jobs = jobs or default_jobs()
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    if start < 0:
        raise ValueError("start must not be negative")
    options = Options(recurse=recurse, limits=limits or Limits(), utf16=utf16,
                      page_size=page_size, margin=margin,
                      hash_streams=bool(indicators and indicators.has_hashes))
    summary = ScanSummary(input_name, engine_name(engine), jobs, [t.name for t in types],
                          skipped=skipped, files=len(found))
    summary.bytes_total = sum(s.size for s in found)
    summary.command_line = list(command_line if command_line is not None else sys.argv)
    summary.started_at = _now()
    summary.options = {"page_size": page_size, "margin": margin, "recurse": recurse,
                       "utf16": utf16, "max_depth": options.limits.max_depth,
                       "max_stream_size": options.limits.max_size,
                       "max_page_decompressed": options.limits.max_total}
    if indicators is not None:
        summary.feeds = indicators.feeds()
    if start:
        summary.options["start"] = start
    tasks = [(source, page) for source in found
             for page in plan(source.size, page_size, margin) if page.start >= start]
    cluster = _connect(found) if (scheduler := dask_scheduler()) is not None else None
    results: Iterator[PageResult]
    if cluster is not None:
        summary.jobs = cluster.total_threads
        summary.executor = cluster.description
        summary.options["dask_scheduler"] = scheduler
        results = cluster.results(tasks, types, engine, options)
    else:
        # The parent only scans when there is no pool; its Hyperscan database would cost
        # a compilation (about 0.1 s of CPU) for nothing.
        local_engine = make_engine(types, engine, utf16) if jobs == 1 or len(tasks) <= 1 \
            else None
        summary.executor = "in process" if local_engine is not None else \
            f"local pool with {jobs} workers"
        results = _results(tasks, types, jobs, engine, local_engine, options)
    hasher = _SourceHasher(found[0]) if hash_source and len(found) == 1 and \
        not found[0].label else None
    started = time.perf_counter()
    try:
        writer = FeatureWriter(Path(outdir), types, input_name, alerts=indicators is not None)
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    done = summary.bytes_total - sum(page.size for _, page in tasks)  # skipped by ``start``
    try:
        for (source, page), result in zip(tasks, results, strict=True):
            label = f"{source.label}:" if source.label else ""
            for name, offset, feature, context in result.hits:
                where = f"{label}{offset}"
                writer.add(name, where, feature, context)
                if indicators is not None:
                    for match in indicators.match(name, feature):
                        _alert(summary, writer, Alert(where, name, feature, context,
                                                      match.feed, match.indicator,
                                                      match.value))
            for record in result.streams:
                summary.streams += 1
                summary.bytes_decompressed += int(str(record["size"]))
                hashes = record.get("hashes")
                if indicators is not None and isinstance(hashes, dict):
                    for match in indicators.match_hashes(hashes):
                        where = f"{label}{record['path']}"
                        _alert(summary, writer, Alert(where, "file", match.value, "",
                                                      match.feed, match.indicator,
                                                      match.value))
            for note in result.notes:
                summary.notes.append({"path": f"{label}{note.path}", "message": note.message})
            if result.lost:
                end = page.start + page.size
                summary.unscanned.append({"path": source.label or str(source.path),
                                          "offset": page.start, "length": page.size,
                                          "reason": result.lost})
                summary.notes.append({"path": f"{label}{page.start}",
                                      "message": f"bytes {page.start} to {end} ({page.size} "
                                                 f"bytes) not scanned: {result.lost}"})
            for offset, length, error in result.unreadable:
                summary.unreadable.append({"path": source.label or str(source.path),
                                           "offset": offset, "length": length,
                                           "error": error})
            summary.bytes_scanned += result.scanned
            done += page.size
            if progress is not None:
                progress(done, summary.bytes_total)
    finally:
        summary.seconds = time.perf_counter() - started
        if cluster is not None:
            # Stopped early (a progress callback that cancels, an error): drop the pages
            # still queued on the cluster.
            close = getattr(results, "close", None)
            if close is not None:
                close()
            cluster.close()
        if hasher is not None:
            summary.source_hashes = hasher.result()
            if hasher.error is not None:
                summary.notes.append({"path": input_name,
                                      "message": f"not hashed: {hasher.error}"})
        summary.ended_at = _now()
        _close_readers()
        summary.counts = writer.close(summary.to_dict)
        write_dfxml(Path(outdir) / "report.xml", summary, types)
    return summary


def _connect(found: Sequence[Source]) -> cluster_module.DaskPages:
    """Connect to the Dask cluster named by ``DALIL_DASK_SCHEDULER`` and check that every
    worker can read the input (imports Dask, which a local scan never does)."""
    from dalil.engine.scan import cluster

    address = dask_scheduler()
    assert address is not None
    pages = cluster.DaskPages(address)
    try:
        pages.check_sources(found)
    except BaseException:
        pages.close()
        raise
    return pages


def _alert(summary: ScanSummary, writer: FeatureWriter, alert: Alert) -> None:
    writer.alert(alert)
    summary.alert_count += 1
    if len(summary.alerts) < summary.MAX_ALERTS_IN_JSON:
        summary.alerts.append(alert)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _SourceHasher:
    """SHA-256 of the input, in a thread (hashlib releases the GIL) while the workers scan."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.digest: dict[str, str] = {}
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            sha = hashlib.sha256()
            if self.source.opener is not None:
                reader = self.source.opener()
                try:
                    for offset in range(0, self.source.size, 8 << 20):
                        sha.update(reader.read(offset, min(8 << 20, self.source.size - offset)))
                finally:
                    reader.close()
            else:
                with open(self.source.path, "rb", buffering=0) as handle:
                    while chunk := handle.read(8 << 20):
                        sha.update(chunk)
            self.digest = {"sha256": sha.hexdigest()}
        except OSError as exc:
            self.error = exc.strerror or str(exc)
        except Exception as exc:  # an image reader's own error
            self.error = str(exc) or type(exc).__name__

    def result(self) -> dict[str, str]:
        self.thread.join()
        return self.digest


def _results(tasks: list[tuple[Source, Page]], types: Sequence[FeatureType], jobs: int,
             engine: str, local: Engine | None, options: Options) -> Iterator[PageResult]:
    if local is not None:
        for source, page in tasks:
            yield scan_page(str(source.path), page, local, options, source.opener)
        return
    names = [t.name for t in types]
    yield from _pool_results(tasks, jobs, (names, engine, options, _die_at_from_env()))


_DIED = ("the worker process scanning it died (killed by the system, for example when "
         "out of memory, or crashed)")


def _pool_results(tasks: list[tuple[Source, Page]], jobs: int,
                  initargs: tuple[list[str], str, Options, int | None]
                  ) -> Iterator[PageResult]:
    """The results of ``tasks`` in order, from a local pool that is started again when a
    worker dies. The pages in flight then are scanned again one at a time (so a page that
    kills its worker cannot take innocent pages with it); a page whose worker dies alone
    comes back with :attr:`PageResult.lost` set."""
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                   initargs=initargs)

    def submit(pool: ProcessPoolExecutor, index: int) -> Future[PageResult]:
        source, page = tasks[index]
        return pool.submit(_scan_task, (str(source.path), page, source.opener))

    def lost(reason: str) -> PageResult:
        return PageResult([], [], 0, lost=reason)

    # Keep only a few pages in flight per worker: memory stays constant on any input.
    window = jobs * 2
    deaths = 0
    pool = new_pool()
    pending: deque[tuple[int, Future[PageResult]]] = deque()
    following = 0  # the next task to submit
    try:
        while following < len(tasks) or pending:
            if deaths > MAX_WORKER_DEATHS:
                # Give up: what is left is reported, not scanned.
                reason = (f"not scanned: {deaths} worker processes died, the rest of the "
                          "input was given up")
                for _ in pending:
                    yield lost(reason)
                pending.clear()
                for _ in range(following, len(tasks)):
                    yield lost(reason)
                following = len(tasks)
                break
            try:
                while following < len(tasks) and len(pending) < window:
                    pending.append((following, submit(pool, following)))
                    following += 1
                result = pending[0][1].result()
            except BrokenProcessPool:
                deaths += 1
                pool.shutdown(wait=True, cancel_futures=True)
                pool = new_pool()
                # Pages already done keep their results; the others are retried alone.
                while pending:
                    index, future = pending.popleft()
                    if future.done() and not future.cancelled() and \
                            future.exception() is None:
                        yield future.result()
                        continue
                    try:
                        yield submit(pool, index).result()
                    except BrokenProcessPool:
                        deaths += 1
                        pool.shutdown(wait=True, cancel_futures=True)
                        pool = new_pool()
                        yield lost(_DIED)
                continue
            pending.popleft()
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
