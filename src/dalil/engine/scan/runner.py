"""Scan files, devices and directory trees page by page in a pool of worker processes.

Each worker opens the input itself and reads its own page (no page crosses a pipe), finds
and validates the features with the engine of :mod:`.prefilter`, and sends back only the
hits, with their context already formatted. The parent receives pages in order, so the
feature files come out sorted by offset; memory stays at about one page per worker.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from dalil.engine.scan.features import CONTEXT, FeatureType, select
from dalil.engine.scan.output import FeatureWriter, escape
from dalil.engine.scan.pages import DEFAULT_MARGIN, DEFAULT_PAGE_SIZE, Page, plan, read_region
from dalil.engine.scan.prefilter import Engine, make_engine

Progress = Callable[[int, int], None]
"""``(bytes_done, bytes_total)``."""


class ScanError(Exception):
    """The input cannot be scanned at all (missing, not a file, device or directory)."""


@dataclass(frozen=True)
class Source:
    path: Path
    label: str
    """Prefix of the offset column: empty for a single input, the relative path in a tree."""
    size: int


@dataclass
class PageResult:
    hits: list[tuple[str, int, str, str]]
    """(type, offset in the source, feature, context) sorted by offset."""
    unreadable: list[tuple[int, int, str]]
    scanned: int


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

    @property
    def mb_per_s(self) -> float:
        return self.bytes_scanned / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "input": self.input,
            "engine": self.engine,
            "jobs": self.jobs,
            "scanners": self.scanners,
            "files": self.files,
            "bytes_total": self.bytes_total,
            "bytes_scanned": self.bytes_scanned,
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.mb_per_s, 1),
            "counts": self.counts,
            "unreadable": self.unreadable,
            "skipped": self.skipped,
        }


# ---------------------------------------------------------------- worker side

_engine: Engine | None = None


def _init_worker(names: Sequence[str], engine: str) -> None:
    global _engine
    _engine = make_engine(select(",".join(names)), engine)


def scan_page(path: str, page: Page, engine: Engine | None = None) -> PageResult:
    """The hits of one page of ``path`` (features that start inside the page)."""
    active = engine or _engine
    assert active is not None, "worker not initialised"
    fd = os.open(path, os.O_RDONLY)
    try:
        buf, bad = read_region(fd, page.read_start, page.read_size)
    finally:
        os.close(fd)
    lo = page.start - page.read_start
    hi = min(len(buf), lo + page.size)
    hits = []
    for name, start, text, end in active.find(buf, lo, hi):
        context = buf[max(0, start - CONTEXT) : end + CONTEXT]
        hits.append((name, page.read_start + start, escape(text.encode("latin-1")),
                     escape(context)))
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
    return PageResult(hits, unreadable, max(0, hi - lo))


def _scan_task(args: tuple[str, Page]) -> PageResult:
    return scan_page(*args)


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
) -> ScanSummary:
    """Scan ``input_path`` (file, device or directory tree) into feature files in ``outdir``."""
    types = select(scanners)
    jobs = jobs or default_jobs()
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    root = Path(input_path)
    found, skipped = sources(root)
    local_engine = make_engine(types, engine)
    summary = ScanSummary(str(root), local_engine.name, jobs, [t.name for t in types],
                          skipped=skipped, files=len(found))
    summary.bytes_total = sum(s.size for s in found)
    started = time.perf_counter()
    writer = FeatureWriter(Path(outdir), types, str(root))
    tasks = [(source, page) for source in found
             for page in plan(source.size, page_size, margin)]
    done = 0
    try:
        for (source, page), result in zip(tasks, _results(tasks, types, jobs, engine,
                                                          local_engine), strict=True):
            for name, offset, feature, context in result.hits:
                where = f"{source.label}:{offset}" if source.label else str(offset)
                writer.add(name, where, feature, context)
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
        summary.counts = writer.close(summary.to_dict)
    return summary


def _results(tasks: list[tuple[Source, Page]], types: Sequence[FeatureType], jobs: int,
             engine: str, local: Engine) -> Iterator[PageResult]:
    if jobs == 1 or len(tasks) <= 1:
        for source, page in tasks:
            yield scan_page(str(source.path), page, local)
        return
    names = [t.name for t in types]
    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                             initargs=(names, engine)) as pool:
        # Keep only a few pages in flight per worker: memory stays constant on any input.
        window = jobs * 2
        pending = []
        queue = iter(tasks)
        for source, page in queue:
            pending.append(pool.submit(_scan_task, (str(source.path), page)))
            if len(pending) >= window:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
