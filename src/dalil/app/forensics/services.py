"""Examining an exhibit's image: the one place that writes forensic records.

``ingest_exhibit`` opens the exhibit's stored image read-only (its SHA-256 checked against
the recorded one alongside the walk: nothing of a run is kept unless it matches), walks
every file system of every volume with the engine, allocated and deleted entries alike,
hashes every regular file (MD5, SHA-1, SHA-256 in one
read), identifies its content type, matches the installation's hash sets, and stores one
:class:`FileRecord` per entry in batches. The walk, reads, digests and types of each volume
run in a child process (:mod:`dalil.engine.forensics.examine`) while this one stores what it
sends. The CLI (``dalil ingest``) and the web (a background job) both call it.

Resuming: each volume's walk is deterministic, so a record's position in it (``seq``) is
its key. A run that stops (cancelled, worker killed, Ctrl+C) leaves whole batches stored;
the next run skips the entries already stored, checking at the boundary that the entry is
the same one (inode and path), and goes on. Walked-to-the-end volumes are not walked again.

Bad input never loses data: a volume without a readable file system, a damaged directory
or an unreadable file is recorded (an :class:`IngestProblem` row, or the record's
``error``) and the walk goes on; what earlier batches stored stays stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mmap
import os
import shlex
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from dalil import __version__
from dalil.app.cases import services as cases
from dalil.app.cases.models import Exhibit
from dalil.app.forensics.models import (
    ArtifactRecord,
    Bookmark,
    FileRecord,
    IngestProblem,
    IngestRun,
    ParsedFile,
)
from dalil.app.jobs import services as jobs
from dalil.app.jobs.models import Job
from dalil.engine.evidence.blobstore import BlobStoreError
from dalil.engine.forensics.apfs import container_info, is_apfs, unit_names
from dalil.engine.forensics.encryption import Encryption, detect_encryption
from dalil.engine.forensics.examine import (
    ExamineError,
    Opened,
    Problem,
    Progress,
    Rows,
    Skipped,
    Unit,
    Unreadable,
    examine_in_process,
)
from dalil.engine.forensics.extract import ExtractError, read_content, safe_component
from dalil.engine.forensics.filesystem import (
    FileSystem,
    FileSystemError,
    open_volume_file_system,
)
from dalil.engine.forensics.hashsets import (
    DATABASE_NAME,
    KNOWN_BAD,
    HashSetError,
    HashSetStore,
    verdict,
)
from dalil.engine.forensics.image import Image, ImageError, TskImage, open_image
from dalil.engine.forensics.logical import (
    LogicalVolumeError,
    is_lvm,
    list_logical_volumes,
)
from dalil.engine.forensics.volume import Volume, file_system_volumes
from dalil.engine.forensics.walk import Entry

ALGORITHMS = ("md5", "sha1", "sha256")
BATCH_SIZE = 5000
JOB_KIND = "ingest_exhibit"


def ingest_algorithms() -> tuple[str, ...]:
    """The digests of every file: MD5 and SHA-256, and SHA-1 unless ``DALIL_INGEST_SHA1=0``
    (on by default: the file view and the ``exported`` custody entry show it, and hash
    sets of SHA-1 digests only, as older NSRL and hashdeep sets are, match by it)."""
    return ALGORITHMS if settings.DALIL_INGEST_SHA1 else ("md5", "sha256")


def _what() -> str:
    if "sha1" in ingest_algorithms():
        return WHAT
    return WHAT.replace("MD5, SHA-1 and SHA-256", "MD5 and SHA-256")


WHAT = ("file-system walk of every volume (allocated and deleted entries); MD5, SHA-1 and "
        "SHA-256 of every regular file; content type and extension mismatch; hash-set match; "
        "artifact parsers (browser history, EXIF, Telegram export, Android SMS and contacts)")


class IngestError(Exception):
    """The examination cannot start or go on; the message names the exhibit and the place."""


class Context(Protocol):
    """What the pipeline needs from its runner: a job's JobContext, or the CLI's."""

    def progress(self, done: int, total: int | None = None, message: str | None = None,
                 *, stop_if_cancelled: bool = True) -> None: ...

    def cancelled(self) -> bool: ...


class QuietContext:
    """No progress shown, never cancelled (tests, scripts)."""

    def progress(self, done: int, total: int | None = None, message: str | None = None,
                 *, stop_if_cancelled: bool = True) -> None:
        return None

    def cancelled(self) -> bool:
        return False


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- the exhibit's image ---------------------------------------------------------------------


@contextmanager
def image_path(exhibit: Exhibit) -> Iterator[Path]:
    """A path to the exhibit's image that the engine can open, for the time of the block.

    Images acquired outside the store are opened where they are. Stored blobs have no
    file names, which split raw and EWF sets need to find their segments: they are linked
    under their original (made safe) names in a temporary folder.
    """
    files = list(exhibit.files.order_by("order", "id"))
    if not files:
        raise IngestError(f"exhibit {exhibit}: no image file is recorded for it")
    if all(not f.in_store for f in files):
        first = Path(files[0].external_path)
        if not first.is_file():
            raise IngestError(f"exhibit {exhibit} ({files[0].name}): the image is no longer "
                              f"at {first}")
        yield first
        return
    store = cases.blob_store()
    temp_root = Path(settings.DALIL_HOME) / "tmp"
    temp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ingest-", dir=temp_root) as folder:
        links: list[Path] = []
        for item in files:
            source = store.path_for(item.sha256) if item.in_store else Path(item.external_path)
            if not source.is_file():
                raise IngestError(f"exhibit {exhibit} ({item.name}): the bytes are missing "
                                  f"from the store ({source})")
            name = safe_component(Path(item.name).name or f"segment-{item.order}")
            link = Path(folder) / name
            if link.exists():
                link = Path(folder) / f"{len(links)}-{name}"
            link.symlink_to(source.resolve())
            links.append(link)
        yield links[0]


_WINDOW = 64 << 20  # a multiple of mmap.ALLOCATIONGRANULARITY
# Each window's pages mapped in one go (Linux): a page fault per 4 KiB page cost a sixth
# of the image's hashing time (3 GB: 1.85 s of CPU, 1.58 s populated).
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)


def _settled_after(ctime_ns: int) -> int:
    """When a change to a file whose ctime is ``ctime_ns`` is sure to give a new ctime.

    A file system keeps times at a granularity (a clock tick of a few milliseconds on
    ext4, XFS, btrfs; one or two seconds on ext3 and FAT, whose times end in ``.0``): a
    write within the same tick as the last change keeps the ctime.
    """
    return ctime_ns + (2_000_000_000 if ctime_ns % 1_000_000_000 == 0 else 50_000_000)


class _ImageChanged(IngestError):
    """The image does not (or no longer) hash to its recorded SHA-256: nothing is kept."""


def _identity(status: os.stat_result) -> tuple[int, ...]:
    """What any write to, replacement of, or change of mode of a file changes."""
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns,
            status.st_ctime_ns)


def _sha256_of(handle: Any, stop: threading.Event | None = None,
               progress: Any = None) -> str:
    # Hashed straight from the page cache, 64 MiB mapped at a time: no copy into Python
    # buffers (hashlib releases the GIL), and each window unmapped after use so that the
    # resident memory stays small whatever the image size.
    digest = hashlib.sha256()
    size = os.fstat(handle.fileno()).st_size
    for start in range(0, size, _WINDOW):
        if stop is not None and stop.is_set():
            return ""
        length = min(_WINDOW, size - start)
        with mmap.mmap(handle.fileno(), length, flags=_MAP_FLAGS, prot=mmap.PROT_READ,
                       offset=start) as mapped:
            digest.update(mapped)
        if progress is not None:
            progress(length)
    return digest.hexdigest()


class ImageCheck:
    """The SHA-256 of every file of the exhibit's image against the recorded values.

    "Before": computed in a background thread while the walk runs (hashlib releases the
    GIL, and the image is read through the page cache), each file opened and its identity
    (device, inode, size, mtime, ctime) taken before the first byte is read. The run's
    rows are kept only once it matched (:func:`ingest_exhibit` deletes them otherwise).

    "After": the identity taken again. A write through the file system, a replacement or
    a change of mode changes the ctime (which no system call can set back) and mtime or
    inode, so an unchanged identity means that the bytes hashed "before" are the bytes the
    walk read and still are; a changed one gets the file hashed again in full. A change in
    the same clock tick as the file's last one could keep its ctime (git's "racily clean"
    case): the hashing of a file starts only once its ctime's tick is past, so that any
    change after the first byte hashed shows. See docs/decisions.md.
    """

    def __init__(self, exhibit: Exhibit) -> None:
        self.exhibit = exhibit
        store = cases.blob_store()
        self.items = list(exhibit.files.order_by("order", "id"))
        self.total = sum(f.size for f in self.items)
        self.paths: list[Path] = []
        self.handles: list[Any] = []
        self.identities: list[tuple[int, ...]] = []
        try:
            for item in self.items:
                try:
                    path = (store.path_for(item.sha256) if item.in_store
                            else Path(item.external_path))
                    handle = open(path, "rb")  # noqa: SIM115 - closed in close()
                except (OSError, BlobStoreError) as exc:
                    raise IngestError(f"exhibit {exhibit} ({item.name}): cannot read the "
                                      f"image: {exc}") from exc
                self.paths.append(path)
                self.handles.append(handle)
                self.identities.append(_identity(os.fstat(handle.fileno())))
        except BaseException:
            self.close()
            raise
        self.digests: list[str] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="image-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for handle, identity in zip(self.handles, self.identities, strict=True):
                wait = _settled_after(identity[4]) - time.time_ns()
                if wait > 0 and self._stop.wait(wait / 1e9):
                    return
                digest = _sha256_of(handle, self._stop)
                if not digest:
                    return
                self.digests.append(digest)
        except BaseException as exc:  # handed to the walking thread
            self.error = exc

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    @property
    def before(self) -> str:
        """The first file's SHA-256 once computed ("" until then)."""
        return self.digests[0] if self.digests and self.finished else ""

    def mismatch(self) -> str | None:
        """The failure message once the before check is done and found a difference."""
        if not self.finished or self.error is not None:
            return None
        for item, digest in zip(self.items, self.digests, strict=False):
            if digest != item.sha256:
                return (f"exhibit {self.exhibit} ({item.name}): the image no longer matches "
                        f"its recorded SHA-256 (recorded {item.sha256}, now {digest}); "
                        "not examined, nothing of this run kept (run `dalil verify` on the "
                        "case)")
        return None

    def wait(self) -> str:
        """Wait for the before check; its first digest, or raise naming the difference."""
        self._thread.join()
        if self.error is not None:
            raise IngestError(f"exhibit {self.exhibit}: cannot read the image: "
                              f"{self.error}") from self.error
        problem = self.mismatch()
        if problem is not None:
            raise _ImageChanged(problem)
        return self.digests[0]

    def after(self, ctx: Context) -> tuple[str, str]:
        """The first file's SHA-256 now and how it was established; raises if any changed."""
        done = 0
        how = []
        found = ""
        for item, path, identity, digest in zip(self.items, self.paths, self.identities,
                                                self.digests, strict=True):
            try:
                now = _identity(os.stat(path))
            except OSError as exc:
                raise _ImageChanged(f"exhibit {self.exhibit} ({item.name}): the image is "
                                    f"gone after the examination: {exc}") from exc
            if now == identity:
                how.append("unchanged")
                current = digest
            else:
                how.append("hashed")

                def advance(length: int) -> None:
                    nonlocal done
                    done += length
                    ctx.progress(done, self.total, "checking the image hash (after)")

                with open(path, "rb") as handle:
                    current = _sha256_of(handle, progress=advance)
            if current != item.sha256:
                raise _ImageChanged(f"exhibit {self.exhibit} ({item.name}): the image "
                                    f"changed during the examination (SHA-256 before "
                                    f"{digest}, after {current}); nothing of this run kept")
            found = found or current
        text = ("file identity (device, inode, size, mtime, ctime) unchanged since the "
                "before hash" if all(h == "unchanged" for h in how) else "hashed again")
        return found, text

    def close(self) -> None:
        self._stop.set()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive():
            thread.join()
        for handle in self.handles:
            handle.close()
        self.handles = []


def hash_set_store() -> HashSetStore | None:
    """The installation's hash sets ($DALIL_HOME/hashsets), or None when none were imported."""
    directory = Path(settings.DALIL_HOME) / "hashsets"
    if not (directory / DATABASE_NAME).is_file():
        return None
    try:
        return HashSetStore(directory)
    except HashSetError:
        return None


# --- the pipeline ----------------------------------------------------------------------------


class _Rows:
    """The prepared INSERT of :class:`FileRecord` rows (plain dicts, no model instances).

    Building a model instance per entry and going through ``bulk_create`` cost more than
    the walk itself; the rows are the same: every value goes through its field's
    ``get_db_prep_save`` where that changes anything (times, JSON).

    Rows go in as multi-row INSERTs (as many as the driver's parameter limit allows), not
    ``executemany``: Python's sqlite3 releases the GIL around every row's step, and with the
    hashing and typing threads busy each row then waits for the GIL to come back (measured
    on 100,000 rows: 4.5 s alone, minutes beside a busy thread; one statement per ~900
    rows: 4 s alone, 6 s beside it).
    """

    def __init__(self) -> None:
        fields = [f for f in FileRecord._meta.concrete_fields if not f.primary_key]
        qn = connection.ops.quote_name
        self.names = [f.attname for f in fields]
        # Names from the model's own metadata, values as parameters: nothing from input.
        self.head = (f"INSERT INTO {qn(FileRecord._meta.db_table)} "  # noqa: S608
                     f"({', '.join(qn(f.column or f.attname) for f in fields)}) VALUES ")
        self.raw_sqlite = connection.vendor == "sqlite"  # see insert()
        mark = "?" if self.raw_sqlite else "%s"
        self.placeholders = f"({', '.join([mark] * len(fields))})"
        self.per_statement = max(1, min(1000, _parameter_limit() // len(fields)))
        self._statements: dict[int, str] = {}
        self.times = [i for i, f in enumerate(fields) if f.get_internal_type() == "DateTimeField"]
        self.json = [(i, f) for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"]
        self.empty_json = [f.get_db_prep_save([], connection) for _, f in self.json]
        # What DateTimeField.get_db_prep_save ends in (ops.adapt_datetimefield_value), without
        # the field's layers around it: ten times the cost of the rest of the row. On SQLite
        # that is the naive UTC time as ``str`` gives it; the walk's times are aware UTC.
        self.sqlite = connection.vendor == "sqlite" and settings.USE_TZ and str(
            connection.timezone) == "UTC"
        self.adapt_time = connection.ops.adapt_datetimefield_value
        self._adapted: dict[dt.datetime, Any] = {}

    def _time(self, value: dt.datetime) -> Any:
        if self.sqlite and value.tzinfo is dt.UTC:
            return str(value.replace(tzinfo=None))
        return self.adapt_time(value)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        names, times, json_fields, empty = self.names, self.times, self.json, self.empty_json
        adapt = self._time
        # The files of one folder, one copy, one installer share their times: each
        # distinct time is adapted once (equal instants adapt to the same value).
        cache = self._adapted
        if len(cache) > 1 << 16:
            cache.clear()
        values = []
        for row in rows:
            value = [row[name] for name in names]
            for index in times:
                moment = value[index]
                if moment is not None:
                    adapted = cache.get(moment)
                    if adapted is None:
                        adapted = cache[moment] = adapt(moment)
                    value[index] = adapted
            for (index, field), blank in zip(json_fields, empty, strict=True):
                value[index] = (field.get_db_prep_save(value[index], connection)
                                if value[index] else blank)
            values.append(value)
        per = self.per_statement
        with self._executing() as execute:
            for start in range(0, len(values), per):
                part = values[start:start + per]
                execute(self._statement(len(part)), [item for value in part for item in value])

    @contextmanager
    def _executing(self) -> Iterator[Callable[[str, list[Any]], object]]:
        """What runs a statement: on SQLite, sqlite3 itself with its own "?" placeholders
        (Django's cursor rewrites every "%s" of a 25,000-parameter statement with a regex
        on each call: 0.6 s of an ingest of 100,000 files), on the same connection and in
        the same transaction, its errors still made Django's; elsewhere Django's cursor."""
        if self.raw_sqlite:
            with connection.wrap_database_errors:
                yield connection.connection.execute
            return
        with connection.cursor() as cursor:
            yield cursor.execute

    def _statement(self, rows: int) -> str:
        statement = self._statements.get(rows)
        if statement is None:
            statement = self._statements[rows] = self.head + ", ".join(
                [self.placeholders] * rows)
        return statement


def _parameter_limit() -> int:
    """Parameters one statement may carry: SQLite's own compiled limit (Django assumes
    the 999 of old builds), 65,535 for PostgreSQL's protocol."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return int(connection.features.max_query_params or 65535)


class _Ingest:
    """One run: counters, the current batch, and the writes.

    Each volume's walk, reading, hashing and typing run in a process of their own
    (:func:`dalil.engine.forensics.examine.examine_in_process`); this one stores the
    batches of rows it sends, with their hash-set verdicts, while it walks on.
    """

    def __init__(self, exhibit: Exhibit, run: IngestRun, ctx: Context, batch_size: int,
                 hash_sets: HashSetStore | None, folder: Path,
                 check: ImageCheck | None = None) -> None:
        self.exhibit = exhibit
        self.check = check
        self.folder = folder
        self.run = run
        self.ctx = ctx
        self.batch_size = max(1, batch_size)
        self.hash_sets = hash_sets
        self.rows = _Rows()
        self.batch: list[dict[str, Any]] = []
        self.problems: list[IngestProblem] = []
        self.volume_text = ""
        self._reported = 0.0

    # progress and writes

    def report(self, entries: int) -> None:
        now = time.monotonic()
        if now - self._reported < 0.1:
            return
        self._reported = now
        run = self.run
        self.ctx.progress(run.bytes_hashed, None,
                          f"{self.volume_text}{run.entries + entries} entries, "
                          f"{run.files_hashed} files hashed ({_size(run.bytes_hashed)})")

    def problem(self, volume: Volume | None, kind: str, path: str, inode: int | None,
                message: str, logical: str = "") -> None:
        """Record a place the walk could not read; ``logical``: the name of the walk unit
        (LVM logical volume or APFS volume; "" for the volume itself)."""
        self.problems.append(IngestProblem(
            exhibit=self.exhibit, run=self.run, kind=kind, path=path, inode=inode,
            volume_index=volume.index if volume else None,
            volume_offset=volume.offset if volume else None, logical_volume=logical,
            message=exhibit_text(message, self.folder, self.exhibit)))

    def volume_problem(self, volume: Volume, message: str, logical: str = "") -> None:
        """A volume (or walk unit) that cannot be walked at all, stored at once."""
        self.problem(volume, "volume", "", None, message, logical)
        self.flush()

    def flush(self) -> None:
        if self.check is not None and (problem := self.check.mismatch()):
            raise _ImageChanged(problem)  # stop now: nothing of this run will be kept
        self._match_hash_sets()
        run = self.run
        batch = self.batch
        with transaction.atomic():
            self.rows.insert(batch)
            new_problems = [p for p in self.problems if not IngestProblem.objects.filter(
                exhibit=p.exhibit, volume_index=p.volume_index,
                logical_volume=p.logical_volume, kind=p.kind, path=p.path,
                inode=p.inode).exists()]
            IngestProblem.objects.bulk_create(new_problems, ignore_conflicts=True)
            run.entries += len(batch)
            run.files_hashed += sum(1 for r in batch if r["md5"] is not None)
            run.errors += len(new_problems) + sum(1 for r in batch if r["error"])
            run.known_bad += sum(1 for r in batch if r["verdict"] == KNOWN_BAD)
            run.save(update_fields=["entries", "errors", "known_bad", "files_hashed",
                                    "bytes_hashed", "skipped", "completed_volumes"])
        self.batch = []
        self.problems = []

    def _match_hash_sets(self) -> None:
        if self.hash_sets is None:
            return
        digests = {r[a] for r in self.batch for a in ALGORITHMS if r[a]}  # None: not asked
        if not digests:
            return
        found = self.hash_sets.lookup(digests)
        for record in self.batch:
            matches = [m for d in (record["md5"], record["sha1"], record["sha256"]) if d
                       for m in found.get(d, [])]
            if matches:
                record["verdict"] = verdict(matches) or ""
                record["hash_sets"] = sorted({m.set_name for m in matches})

    # the walk

    def volume(self, path: Path, volume: Volume, part: _WalkUnit | None = None) -> bool:
        """Walk one volume (or ``part`` of it, an LVM logical volume or an APFS volume: a
        unit of its own, with its own walk positions), storing what is not stored yet;
        False if it has no file system."""
        part = part or _WalkUnit()
        name = part.name
        where = f"volume {volume.index}, {part.label()}" if name else f"volume {volume.index}"
        stored = FileRecord.objects.filter(exhibit=self.exhibit, volume_index=volume.index,
                                           logical_volume=name)
        last = stored.order_by("-seq").first()
        unit = Unit(str(path), volume, name, ingest_algorithms(), self.batch_size,
                    last.seq if last else -1, (last.inode, last.path) if last else None)
        common = {"exhibit_id": self.exhibit.pk, "run_id": self.run.pk,
                  "volume_index": volume.index, "volume_offset": volume.offset,
                  "logical_volume": name, "fs_type": ""}
        run = self.run
        base = run.bytes_hashed
        try:
            with closing(examine_in_process(unit)) as messages:  # closing stops the child
                for message in messages:
                    if isinstance(message, Rows):
                        self.batch = [{**common, **row, "verdict": "", "hash_sets": []}
                                      for row in message.rows]
                        if not message.full:  # the walk's last batch: the unit is done with it
                            run.completed_volumes = [*run.completed_volumes,
                                                     _completed_entry(volume.index, name)]
                        self.flush()
                        if message.full and self.ctx.cancelled():
                            raise jobs.JobCancelled()
                    elif isinstance(message, Progress):
                        run.bytes_hashed = base + message.bytes_read
                        self.report(message.entries)
                    elif isinstance(message, Problem):
                        problem = message.problem
                        self.problem(volume, "directory", problem.path, problem.inode,
                                     f"exhibit {self.exhibit}: {problem.message}", logical=name)
                    elif isinstance(message, Skipped):
                        run.skipped += message.entries
                    elif isinstance(message, Opened):
                        common["fs_type"] = message.fs_kind
                        self.volume_text = f"{where} ({message.fs_kind}): "
                    elif isinstance(message, Unreadable):
                        text = (_unit_message(self.exhibit, self.folder, volume, name,
                                              message.message, part.kind)
                                if name else f"exhibit {self.exhibit}: {message.message}")
                        self.volume_problem(volume, text, logical=name)
                        return False
        except ExamineError as exc:
            raise IngestError(f"exhibit {self.exhibit}, {where}: "
                              f"{exhibit_text(str(exc), self.folder, self.exhibit)}") from exc
        return True


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def _result_text(run: IngestRun) -> str:
    return (f"{run.entries} entries stored ({run.files_hashed} files hashed, "
            f"{run.bytes_hashed} bytes), {run.skipped} already stored, {run.errors} errors, "
            f"{run.known_bad} known-bad")


def exhibit_text(text: str, folder: Path | None, exhibit: Exhibit) -> str:
    """Engine messages name the temporary link: name the exhibit's image instead."""
    if folder is not None and folder.name.startswith("ingest-"):
        text = text.replace(f"{folder}/", f"exhibit {exhibit}: ").replace(
            str(folder), f"exhibit {exhibit}")
        named = f"exhibit {exhibit}: "
        text = text.replace(named * 2, named)  # a message that named the exhibit already
    return text


def completed_volumes(exhibit: Exhibit) -> set[tuple[int, str]]:
    """The walk units that some run of ``exhibit`` walked to the end: (volume index, name
    of the LVM logical volume or APFS volume, "" for a volume walked directly). Runs
    store a volume as its index (as runs before logical volumes did) and an LV or APFS
    volume as {"volume", "logical_volume"}."""
    done: set[tuple[int, str]] = set()
    for volumes in IngestRun.objects.filter(exhibit=exhibit).values_list("completed_volumes",
                                                                          flat=True):
        for item in volumes or []:
            if isinstance(item, dict):
                done.add((int(item["volume"]), str(item.get("logical_volume") or "")))
            else:
                done.add((int(item), ""))
    return done


def _completed_entry(volume_index: int, logical: str) -> int | dict[str, Any]:
    """How ``completed_volumes`` stores a unit walked to the end (see there)."""
    return {"volume": volume_index, "logical_volume": logical} if logical else volume_index


@dataclass(frozen=True)
class _WalkUnit:
    """What the ingest walks as one, inside a volume: the volume itself (``name`` ""), or
    one LVM logical volume or APFS volume in it (``name`` is what the records' and
    problems' ``logical_volume`` and ``completed_volumes`` hold)."""

    name: str = ""
    kind: str = ""  # "lvm", "apfs"; "" for the volume itself

    def label(self) -> str:
        """``LV root``, ``APFS volume Data`` for progress messages."""
        return f"APFS volume {self.name}" if self.kind == "apfs" else f"LV {self.name}"


def _unit_message(exhibit: Exhibit, folder: Path | None, volume: Volume, logical: str,
                  detail: str, kind: str = "lvm") -> str:
    """A walk unit's problem message: the exhibit, the volume with its offset and the LV
    or APFS volume (``kind``) first, then the engine's ``detail`` (its temporary image path
    made the exhibit's name)."""
    detail = exhibit_text(detail, folder, exhibit).removeprefix(f"exhibit {exhibit}: ")
    where = f"volume {volume.index} at offset {volume.offset}"
    if logical:
        where += f", {'APFS volume' if kind == 'apfs' else 'LVM logical volume'} {logical}"
    return f"exhibit {exhibit}, {where}: {detail}"


def _walk_units(state: _Ingest, image: Image, volume: Volume) -> list[_WalkUnit]:
    """What to walk in ``volume``: itself, each logical volume of an LVM physical volume,
    or each APFS volume of an APFS container. Unreadable LVM metadata, or a PV without
    LVs, is an IngestProblem naming the volume and its offset (``[]``: nothing to walk
    there); so is an encrypted volume, with the command that decrypts it."""
    try:
        if volume.offset >= image.size:
            return [_WalkUnit()]
        encryption = detect_encryption(image, volume.offset)
        if encryption is not None:
            # The ingest takes no keys (they would end up in a job's parameters): the
            # examiner decrypts the volume into a derived exhibit and ingests that.
            state.volume_problem(volume, _locked_message(state.exhibit, volume, encryption))
            return []
        if is_apfs(image, volume.offset):
            return _apfs_units(state, image, volume)
        if not is_lvm(image, volume.offset):
            return [_WalkUnit()]
        found = list_logical_volumes(image, volume.offset,
                                     volume.size or image.size - volume.offset)
    except ImageError:
        return [_WalkUnit()]  # opening its file system says what cannot be read
    except LogicalVolumeError as exc:
        state.volume_problem(volume, _unit_message(state.exhibit, state.folder, volume, "",
                                                   str(exc)))
        return []
    if not found:
        state.volume_problem(volume, _unit_message(
            state.exhibit, state.folder, volume, "", "LVM physical volume without logical "
            "volumes: no file system to walk"))
    return [_WalkUnit(logical.name, "lvm") for logical in found]


def _locked_message(exhibit: Exhibit, volume: Volume, encryption: Encryption) -> str:
    """What the ingest records for an encrypted volume: the command that decrypts it."""
    command = (f"dalil evidence decrypt {shlex.quote(exhibit.case.number)} --exhibit "
               f"{shlex.quote(exhibit.number)} --volume {volume.index} "
               f"{encryption.first_key_option} ...")
    return (f"exhibit {exhibit}, volume {volume.index}: {encryption.label} volume at "
            f"offset {encryption.offset} is encrypted: decrypt "
            f"it into a derived exhibit with `{command}`, then ingest that exhibit")


def _apfs_units(state: _Ingest, image: Image, volume: Volume) -> list[_WalkUnit]:
    """Each APFS volume of the container in ``volume``, named as
    :func:`~dalil.engine.forensics.apfs.unit_names` says (a Mac's files are on its
    ``Data`` volume, not on the first). An encrypted one is an IngestProblem naming the
    exhibit, the volume's offset and the APFS volume, and is not walked: the ingest has no
    key to give it."""
    try:
        volumes = container_info(image, volume).volumes
    except FileSystemError:
        return [_WalkUnit()]  # opening it says what cannot be read, as for any volume
    if not volumes:
        return [_WalkUnit()]  # likewise: "holds no volumes"
    names = unit_names(volumes)
    if FileRecord.objects.filter(exhibit=state.exhibit, volume_index=volume.index,
                                 logical_volume="").exists():
        # Runs before APFS volumes were walk units walked the first volume as the volume
        # itself: its records stay where they are, neither stored twice nor orphaned.
        names[0] = ""
    units = []
    for info, name in zip(volumes, names, strict=True):
        if not info.encrypted:
            units.append(_WalkUnit(name, "apfs" if name else ""))
            continue
        state.volume_problem(volume, _unit_message(
            state.exhibit, state.folder, volume, name,
            f"encrypted APFS volume {info.index} {info.name!r}: supply --password or "
            f"--recovery-password to read it (dalil fs ... --logical {shlex.quote(name)}); "
            "not walked", "apfs"), logical=name)
    return units


def ingest_exhibit(exhibit: Exhibit, ctx: Context | None = None, *, actor: str = "system",
                   job: Job | None = None, batch_size: int = BATCH_SIZE) -> IngestRun:
    """Run (or resume) the examination of ``exhibit``'s image; returns the finished run.

    Raises :class:`IngestError` (the run is then recorded as failed, with the message),
    ``JobCancelled`` when the user cancels, ``KeyboardInterrupt`` as it comes; whatever
    stops it, the batches already stored stay (once the image's SHA-256 matched its
    recorded value: otherwise nothing of the run is kept), and an ``examined`` custody
    entry records what was done.
    """
    ctx = ctx or QuietContext()
    exhibit = Exhibit.objects.select_related("case").get(pk=exhibit.pk)
    IngestRun.objects.filter(exhibit=exhibit, status=IngestRun.Status.RUNNING).update(
        status=IngestRun.Status.INTERRUPTED, ended_at=timezone.now(),
        error="the run stopped without finishing (worker or command killed)")
    run = IngestRun.objects.create(exhibit=exhibit, job=job, actor=actor,
                                   tool_version=__version__, started_at=timezone.now())
    after = ""
    how = ""
    hash_sets = hash_set_store()
    folder: Path | None = None
    check: ImageCheck | None = None
    try:
        # The image's SHA-256 "before" is computed alongside the walk; the rows stored
        # meanwhile are deleted if it does not match (see ImageCheck).
        check = ImageCheck(exhibit)
        ctx.progress(0, 0, "walking the file systems")  # no total from here on: bytes, files
        with image_path(exhibit) as path:
            folder = path.parent
            _run_pipeline(exhibit, run, path, folder, ctx, batch_size, hash_sets, check)
        folder = None
        ctx.progress(0, 0, "checking the image hash (before)")
        run.image_sha256 = check.wait()
        run.save(update_fields=["image_sha256"])
        after, how = check.after(ctx)
    except jobs.JobCancelled:
        problem = _settle(check, run)
        _finish(run, IngestRun.Status.FAILED if problem else IngestRun.Status.CANCELLED,
                problem or "cancelled by the user; run again to resume", check, after, how)
        raise
    except KeyboardInterrupt:
        problem = _settle(check, run)
        _finish(run, IngestRun.Status.FAILED if problem else IngestRun.Status.INTERRUPTED,
                problem or "interrupted; run again to resume", check, after, how)
        raise
    except (IngestError, ImageError, FileSystemError, OSError) as exc:
        message = exhibit_text(str(exc), folder, exhibit)
        if not message.startswith(f"exhibit {exhibit}"):
            message = f"exhibit {exhibit}: {message}"
        problem = _settle(check, run, changed=message if isinstance(exc, _ImageChanged) else "")
        _finish(run, IngestRun.Status.FAILED, problem or message, check, after, how)
        raise IngestError(problem or message) from exc
    except Exception as exc:
        problem = _settle(check, run)
        _finish(run, IngestRun.Status.FAILED, problem or f"internal error: {exc!r}", check,
                after, how)
        raise
    finally:
        if check is not None:
            check.close()
        if hash_sets is not None:
            hash_sets.close()
    _finish(run, IngestRun.Status.SUCCEEDED, "", check, after, how)
    return run


def _settle(check: ImageCheck | None, run: IngestRun, *, changed: str = "") -> str:
    """After a run stopped: wait for the image's before hash; when it did not match (or
    the image changed: ``changed`` says how), or could not be finished, delete the run's
    rows and say why. "" when the rows stored may stay."""
    if check is None:
        return ""
    problem = ""
    try:
        check.wait()
    except _ImageChanged as exc:
        problem = str(exc)
    except IngestError as exc:
        problem = f"{exc}; nothing of this run kept"
    except KeyboardInterrupt:
        problem = (f"exhibit {run.exhibit}: interrupted before the image's SHA-256 was "
                   "checked; nothing of this run kept")
    problem = problem or changed
    if problem:
        _discard(run)
    return problem


def _discard(run: IngestRun) -> None:
    """Delete what ``run`` stored: it comes from an image that is not the recorded one."""
    with transaction.atomic():
        ArtifactRecord.objects.filter(run=run).delete()  # they point at the run's files
        ParsedFile.objects.filter(run=run).delete()
        FileRecord.objects.filter(run=run).delete()
        IngestProblem.objects.filter(run=run).delete()
        run.entries = run.errors = run.known_bad = run.files_hashed = run.bytes_hashed = 0
        run.completed_volumes = []
        run.save(update_fields=["entries", "errors", "known_bad", "files_hashed",
                                "bytes_hashed", "completed_volumes"])


def _run_pipeline(exhibit: Exhibit, run: IngestRun, path: Path, folder: Path, ctx: Context,
                  batch_size: int, hash_sets: HashSetStore | None,
                  check: ImageCheck | None = None) -> None:
    image = open_image(path)
    try:
        tsk = TskImage(image)
        volumes = file_system_volumes(image, tsk)
        done = completed_volumes(exhibit)
        readable = 0
        state = _Ingest(exhibit, run, ctx, batch_size, hash_sets, folder, check)
        for volume in volumes:
            # An LVM physical volume is walked as one unit per logical volume, an APFS
            # container as one per APFS volume.
            for unit in _walk_units(state, image, volume):
                if (volume.index, unit.name) in done:
                    run.skipped += FileRecord.objects.filter(
                        exhibit=exhibit, volume_index=volume.index,
                        logical_volume=unit.name).count()
                    readable += 1
                    continue
                readable += state.volume(path, volume, unit)
        run.save(update_fields=["skipped"])
        if not readable:
            reasons = "; ".join(p.message for p in IngestProblem.objects.filter(run=run))
            raise IngestError(reasons or f"exhibit {exhibit}: no volume with a file system")
        from dalil.app.forensics.artifacts import ingest_artifacts  # it builds on this module

        ingest_artifacts(exhibit, run, image, tsk, volumes, ctx)
    finally:
        image.close()


def _finish(run: IngestRun, status: str, error: str, check: ImageCheck | None, after: str,
            how: str) -> None:
    before = check.digests[0] if check is not None and check.digests else ""
    run.status = status
    run.error = error
    run.ended_at = timezone.now()
    IngestRun.objects.filter(pk=run.pk).update(status=status, error=error,
                                               ended_at=run.ended_at)
    run.refresh_from_db()
    result = "completed" if status == IngestRun.Status.SUCCEEDED else f"{status}: {error}"
    exhibit = run.exhibit
    cases.record_custody(exhibit.case, exhibit, "examined", run.actor, {
        "tool": run.tool, "tool_version": run.tool_version, "what": _what(),
        "started_at": _iso(run.started_at), "ended_at": _iso(run.ended_at),
        "result": f"{result}; {_result_text(run)}", "ingest_run": run.pk,
        "image_sha256": {"before": before or None, "after": after or None},
        **({"image_sha256_after": how} if how else {}),
    })


def start_ingest(exhibit: Exhibit, *, user: Any, actor: str) -> Job:
    """Start the ingest job of ``exhibit`` (or return the one already queued or running)."""
    running = Job.objects.filter(kind=JOB_KIND, params__exhibit_id=exhibit.pk,
                                 status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).first()
    if running is not None:
        return running
    return jobs.start(JOB_KIND, {"case_id": exhibit.case_id, "exhibit_id": exhibit.pk,
                                 "exhibit": exhibit.number, "actor": actor},
                      user=user, case=exhibit.case)


def summary(run: IngestRun) -> dict[str, Any]:
    return {
        "run": run.pk, "exhibit": run.exhibit.number, "case": run.exhibit.case.number,
        "status": run.status, "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at) if run.ended_at else None,
        "tool": run.tool, "tool_version": run.tool_version,
        "image_sha256": run.image_sha256, "entries": run.entries,
        "files_hashed": run.files_hashed, "bytes_hashed": run.bytes_hashed,
        "skipped": run.skipped, "errors": run.errors, "known_bad": run.known_bad,
        "completed_volumes": run.completed_volumes, "error": run.error,
        "problems": [{"volume": p.volume_index, "logical_volume": p.logical_volume,
                      "kind": p.kind, "path": p.path, "inode": p.inode,
                      "message": p.message} for p in run.problems.all()],
        "total_records": FileRecord.objects.filter(exhibit=run.exhibit).count(),
        "summary": _result_text(run),
    }


# --- reading one file back (the web's file view, preview and extraction) --------------------


def _entry(record: FileRecord) -> Entry:
    stream = None
    if record.attr_type is not None and ":" in record.name:
        stream = record.name.rsplit(":", 1)[1]
    return Entry(
        inode=record.inode, path=record.path, name=record.name, type=record.type,
        size=record.size, deleted=record.deleted, mtime=record.mtime, atime=record.atime,
        ctime=record.ctime, crtime=record.crtime, name_allocated=not record.deleted,
        meta_allocated=record.meta_allocated,
        # Inside an LV the file system starts at 0 of its layer; volume_offset is the PV's.
        # An APFS volume is read in the container's place in the image.
        fs_offset=0 if record.logical_volume and record.fs_type != "apfs"
        else record.volume_offset,
        attr_type=record.attr_type, attr_id=record.attr_id, stream=stream,
        meta_type="r", parent=record.parent,
    )


@contextmanager
def open_record(record: FileRecord) -> Iterator[tuple[FileSystem, Entry]]:
    """The record's file system (opened read-only; inside its LVM logical volume or
    APFS volume if it has one) and its entry, for reading content."""
    exhibit = record.exhibit
    with image_path(exhibit) as path:
        try:
            image = open_image(path)
        except ImageError as exc:
            raise IngestError(exhibit_text(str(exc), path.parent, exhibit)) from exc
        try:
            tsk = TskImage(image)
            volume = next((v for v in file_system_volumes(image, tsk)
                           if v.index == record.volume_index
                           and v.offset == record.volume_offset), None)
            if volume is None:
                raise IngestError(f"exhibit {exhibit}: no volume {record.volume_index} at "
                                  f"offset {record.volume_offset}")
            try:
                fs = open_volume_file_system(image, volume, record.logical_volume, tsk)
            except FileSystemError as exc:
                raise IngestError(exhibit_text(str(exc), path.parent, exhibit)) from exc
            yield fs, _entry(record)
        finally:
            image.close()


def read_head(record: FileRecord, size: int = 4096) -> bytes:
    """Up to ``size`` first bytes of the file's content (b"" for what has none)."""
    if not record.readable:
        return b""
    head = b""
    with open_record(record) as (fs, entry):
        try:
            for chunk in read_content(fs, entry):
                head += chunk[:size - len(head)]
                if len(head) >= size:
                    break
        except ExtractError as exc:
            raise IngestError(f"exhibit {record.exhibit}: {exc}") from exc
    return head


def iter_content(record: FileRecord) -> Iterator[bytes]:
    """The whole content, in chunks; the image stays open until the iterator is done."""
    with open_record(record) as (fs, entry):
        try:
            yield from read_content(fs, entry)
        except ExtractError as exc:
            raise IngestError(f"exhibit {record.exhibit}: {exc}") from exc


def record_export(record: FileRecord, actor: str, destination: str) -> None:
    """The ``exported`` custody entry of a file taken out of the image (before it is sent)."""
    exhibit = record.exhibit
    cases.record_custody(exhibit.case, exhibit, "exported", actor, {
        "format": "original file content", "destination": destination,
        "path": record.path, "inode": record.inode, "address": record.address,
        "volume": record.volume_index, "volume_offset": record.volume_offset,
        **({"logical_volume": record.logical_volume} if record.logical_volume else {}),
        "deleted": record.deleted, "size": record.size,
        "hashes": {"md5": record.md5, "sha1": record.sha1, "sha256": record.sha256},
        "tool": "dalil", "tool_version": __version__,
    })


# --- bookmarks -------------------------------------------------------------------------------


def add_bookmark(record: FileRecord, note: str, *, user: Any, actor: str) -> Bookmark:
    return Bookmark.objects.create(case=record.exhibit.case, record=record, note=note.strip(),
                                   user=user, actor=actor)


def latest_record_stats(exhibit: Exhibit) -> dict[str, int]:
    records = FileRecord.objects.filter(exhibit=exhibit)
    return {
        "entries": records.count(),
        "deleted": records.filter(deleted=True).count(),
        "known_bad": records.filter(verdict=KNOWN_BAD).count(),
        "mismatch": records.filter(extension_mismatch=True).count(),
    }
