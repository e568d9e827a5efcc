"""Examining an exhibit's image: the one place that writes forensic records.

``ingest_exhibit`` opens the exhibit's stored image read-only (after checking its SHA-256
against the recorded one), walks every file system of every volume with the engine,
allocated and deleted entries alike, hashes every regular file (MD5, SHA-1, SHA-256 in one
read), identifies its content type, matches the installation's hash sets, and stores one
:class:`FileRecord` per entry in batches. The CLI (``dalil ingest``) and the web (a
background job) both call it.

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
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from dalil import __version__
from dalil.app.cases import services as cases
from dalil.app.cases.models import Exhibit
from dalil.app.forensics.models import Bookmark, FileRecord, IngestProblem, IngestRun
from dalil.app.jobs import services as jobs
from dalil.app.jobs.models import Job
from dalil.engine.evidence.blobstore import BlobStoreError
from dalil.engine.forensics.extract import ExtractError, read_content, safe_component
from dalil.engine.forensics.filehash import ConcurrentHasher, TskFileStream, is_regular_file
from dalil.engine.forensics.filesystem import FileSystem, FileSystemError, open_file_system
from dalil.engine.forensics.filetype import HEAD_SIZE, identify
from dalil.engine.forensics.hashsets import (
    DATABASE_NAME,
    KNOWN_BAD,
    HashSetError,
    HashSetStore,
    verdict,
)
from dalil.engine.forensics.image import Image, ImageError, TskImage, open_image
from dalil.engine.forensics.volume import Volume, file_system_volumes
from dalil.engine.forensics.walk import Entry, WalkProblem, walk

ALGORITHMS = ("md5", "sha1", "sha256")
BATCH_SIZE = 2000
JOB_KIND = "ingest_exhibit"
WHAT = ("file-system walk of every volume (allocated and deleted entries); MD5, SHA-1 and "
        "SHA-256 of every regular file; content type and extension mismatch; hash-set match")


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


def _image_sha256(exhibit: Exhibit, ctx: Context, label: str) -> tuple[str, bool]:
    """SHA-256 of the first image file (``label`` is before/after) and whether all files
    still hash to the recorded values. Reports progress in bytes."""
    store = cases.blob_store()
    files = list(exhibit.files.order_by("order", "id"))
    total = sum(f.size for f in files)
    done = 0
    intact = True
    first = ""
    for item in files:
        digest = hashlib.sha256()
        try:
            path = store.path_for(item.sha256) if item.in_store else Path(item.external_path)
            handle = open(path, "rb")  # noqa: SIM115
        except (OSError, BlobStoreError) as exc:
            raise IngestError(f"exhibit {exhibit} ({item.name}): cannot read the image: "
                              f"{exc}") from exc
        with handle:
            # Hashed straight from the page cache, 64 MiB mapped at a time: no copy into
            # Python buffers (hashlib releases the GIL), and each window unmapped after use
            # so that the resident memory stays small whatever the image size.
            size = os.fstat(handle.fileno()).st_size
            for start in range(0, size, _WINDOW):
                length = min(_WINDOW, size - start)
                with mmap.mmap(handle.fileno(), length, access=mmap.ACCESS_READ,
                               offset=start) as mapped:
                    digest.update(mapped)
                done += length
                ctx.progress(done, total, f"checking the image hash ({label})")
        actual = digest.hexdigest()
        first = first or actual
        intact = intact and actual == item.sha256
    return first, intact


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


_FILE_DEFAULTS: dict[str, Any] = {
    "md5": None, "sha1": None, "sha256": None, "bytes_read": 0, "file_type": "", "mime": "",
    "extension_mismatch": False, "verdict": "", "hash_sets": [], "error": "",
}


class _Rows:
    """The prepared INSERT of :class:`FileRecord` rows (plain dicts, no model instances).

    Building a model instance per entry and going through ``bulk_create`` cost more than
    the walk itself; the rows are the same: every value goes through its field's
    ``get_db_prep_save`` where that changes anything (times, JSON).
    """

    def __init__(self) -> None:
        fields = [f for f in FileRecord._meta.concrete_fields if not f.primary_key]
        qn = connection.ops.quote_name
        self.names = [f.attname for f in fields]
        # Names from the model's own metadata, values as parameters: nothing from input.
        self.sql = (f"INSERT INTO {qn(FileRecord._meta.db_table)} "  # noqa: S608
                    f"({', '.join(qn(f.column or f.attname) for f in fields)}) "
                    f"VALUES ({', '.join(['%s'] * len(fields))})")
        self.times = [i for i, f in enumerate(fields) if f.get_internal_type() == "DateTimeField"]
        self.json = [(i, f) for i, f in enumerate(fields) if f.get_internal_type() == "JSONField"]
        self.empty_json = [f.get_db_prep_save([], connection) for _, f in self.json]
        # What DateTimeField.get_db_prep_save ends in (ops.adapt_datetimefield_value), without
        # the field's layers around it: ten times the cost of the rest of the row. On SQLite
        # that is the naive UTC time as ``str`` gives it; the walk's times are aware UTC.
        self.sqlite = connection.vendor == "sqlite" and settings.USE_TZ and str(
            connection.timezone) == "UTC"
        self.adapt_time = connection.ops.adapt_datetimefield_value

    def _time(self, value: dt.datetime) -> Any:
        if self.sqlite and value.tzinfo is dt.UTC:
            return str(value.replace(tzinfo=None))
        return self.adapt_time(value)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        names, times, json_fields, empty = self.names, self.times, self.json, self.empty_json
        adapt = self._time
        values = []
        for row in rows:
            value = [row[name] for name in names]
            for index in times:
                if value[index] is not None:
                    value[index] = adapt(value[index])
            for (index, field), blank in zip(json_fields, empty, strict=True):
                value[index] = (field.get_db_prep_save(value[index], connection)
                                if value[index] else blank)
            values.append(value)
        with connection.cursor() as cursor:
            cursor.executemany(self.sql, values)


class _Ingest:
    """One run: counters, the current batch, and the writes.

    The content of each regular file is read here (walk order) and handed to a
    :class:`ConcurrentHasher`, whose threads compute MD5, SHA-1 and SHA-256 on the other
    core while this thread walks, reads and types the next files; a batch is written once
    all its digests are in.
    """

    def __init__(self, exhibit: Exhibit, run: IngestRun, ctx: Context, batch_size: int,
                 hash_sets: HashSetStore | None, folder: Path | None,
                 hasher: ConcurrentHasher) -> None:
        self.exhibit = exhibit
        self.folder = folder
        self.run = run
        self.ctx = ctx
        self.batch_size = max(1, batch_size)
        self.hash_sets = hash_sets
        self.hasher = hasher
        self.rows = _Rows()
        self.batch: list[dict[str, Any]] = []
        self.hashing: dict[int, dict[str, Any]] = {}  # slot -> row waiting for digests
        self.slot = 0
        self.problems: list[IngestProblem] = []
        self.volume_text = ""
        self._reported = 0.0

    # progress and writes

    def report(self) -> None:
        now = time.monotonic()
        if now - self._reported < 0.1:
            return
        self._reported = now
        run = self.run
        self.ctx.progress(run.bytes_hashed, None,
                          f"{self.volume_text}{run.entries + len(self.batch)} entries, "
                          f"{run.files_hashed} files hashed ({_size(run.bytes_hashed)})")

    def problem(self, volume: Volume | None, kind: str, path: str, inode: int | None,
                message: str) -> None:
        self.problems.append(IngestProblem(
            exhibit=self.exhibit, run=self.run, kind=kind, path=path, inode=inode,
            volume_index=volume.index if volume else None,
            volume_offset=volume.offset if volume else None,
            message=_where(message, self.folder, self.exhibit)))

    def flush(self) -> None:
        self._collect_digests()
        self._match_hash_sets()
        run = self.run
        with transaction.atomic():
            self.rows.insert(self.batch)
            new_problems = [p for p in self.problems if not IngestProblem.objects.filter(
                exhibit=p.exhibit, volume_index=p.volume_index, kind=p.kind, path=p.path,
                inode=p.inode).exists()]
            IngestProblem.objects.bulk_create(new_problems, ignore_conflicts=True)
            run.entries += len(self.batch)
            run.errors += len(new_problems) + sum(1 for r in self.batch if r["error"])
            run.known_bad += sum(1 for r in self.batch if r["verdict"] == KNOWN_BAD)
            run.save(update_fields=["entries", "errors", "known_bad", "files_hashed",
                                    "bytes_hashed", "skipped", "completed_volumes"])
        self.batch = []
        self.problems = []

    def _collect_digests(self) -> None:
        if not self.hashing:
            return
        digests = self.hasher.collect()
        for slot, row in self.hashing.items():
            found = digests.pop(slot)
            if row["error"]:
                continue  # the content could not be read in full: no digest stored
            self.run.files_hashed += 1
            row["md5"], row["sha1"], row["sha256"] = (found[name] for name in ALGORITHMS)
        self.hashing = {}

    def _match_hash_sets(self) -> None:
        if self.hash_sets is None:
            return
        digests = {r[a] for r in self.batch for a in ALGORITHMS if r[a]}
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

    def volume(self, image: Image, tsk: TskImage, volume: Volume) -> bool:
        """Walk one volume, storing what is not stored yet; False if it has no file system."""
        try:
            fs = open_file_system(image, volume, tsk)
        except FileSystemError as exc:
            self.problem(volume, "volume", "", None, f"exhibit {self.exhibit}: {exc}")
            self.flush()
            return False
        self.volume_text = f"volume {volume.index} ({fs.kind}): "
        stored = FileRecord.objects.filter(exhibit=self.exhibit, volume_index=volume.index)
        last = stored.order_by("-seq").first()
        resume_after = last.seq if last else -1

        def on_problem(problem: WalkProblem) -> None:
            self.problem(volume, "directory", problem.path, problem.inode,
                         f"exhibit {self.exhibit}: {problem.message}")

        common = {"exhibit_id": self.exhibit.pk, "run_id": self.run.pk,
                  "volume_index": volume.index, "volume_offset": volume.offset,
                  "fs_type": fs.kind}
        for seq, entry in enumerate(walk(fs, on_problem=on_problem)):
            if seq <= resume_after:
                if seq == resume_after and last is not None and (
                        entry.inode, entry.path) != (last.inode, last.path):
                    raise IngestError(
                        f"exhibit {self.exhibit}, volume {volume.index}: the image does not "
                        f"match what an earlier run stored (entry {seq} was {last.path!r}, "
                        f"inode {last.inode}; it is now {entry.path!r}, inode {entry.inode})")
                self.run.skipped += 1
                continue
            self.batch.append(self.record(fs, common, seq, entry))
            if len(self.batch) >= self.batch_size:
                self.flush()
                if self.ctx.cancelled():
                    raise jobs.JobCancelled()
            self.report()
        self.run.completed_volumes = [*self.run.completed_volumes, volume.index]
        self.flush()
        return True

    def record(self, fs: FileSystem, common: dict[str, Any], seq: int,
               entry: Entry) -> dict[str, Any]:
        row = {
            **common, **_FILE_DEFAULTS, "hash_sets": [], "seq": seq, "inode": entry.inode,
            "address": entry.address, "attr_type": entry.attr_type, "attr_id": entry.attr_id,
            "path": entry.path, "parent": entry.parent, "name": entry.name, "type": entry.type,
            "size": entry.size, "deleted": entry.deleted,
            "meta_allocated": entry.meta_allocated, "mtime": entry.mtime,
            "atime": entry.atime, "ctime": entry.ctime, "crtime": entry.crtime,
        }
        if not is_regular_file(entry):
            return row
        run = self.run
        hasher = self.hasher
        slot = self.slot
        self.slot += 1
        head = b""
        done = 0
        try:
            for chunk in read_content(fs, entry):
                if len(head) < HEAD_SIZE:
                    head += chunk[:HEAD_SIZE - len(head)]
                hasher.feed(slot, chunk)
                done += len(chunk)
                run.bytes_hashed += len(chunk)
                self.report()
        except (ExtractError, OSError) as exc:
            row["error"] = str(exc) or repr(exc)
        hasher.feed(slot, b"", last=True)
        self.hashing[slot] = row
        row["bytes_read"] = done
        kind = identify(head, open_stream=lambda: TskFileStream(fs, entry))
        row["file_type"] = kind.label
        row["mime"] = kind.mime
        row["extension_mismatch"] = kind.mismatch(entry.name)
        return row


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


def _where(text: str, folder: Path | None, exhibit: Exhibit) -> str:
    """Engine messages name the temporary link: name the exhibit's image instead."""
    if folder is not None and folder.name.startswith("ingest-"):
        text = text.replace(f"{folder}/", f"exhibit {exhibit}: ").replace(
            str(folder), f"exhibit {exhibit}")
    return text


def completed_volumes(exhibit: Exhibit) -> set[int]:
    done: set[int] = set()
    for volumes in IngestRun.objects.filter(exhibit=exhibit).values_list("completed_volumes",
                                                                          flat=True):
        done.update(int(v) for v in volumes or [])
    return done


def ingest_exhibit(exhibit: Exhibit, ctx: Context | None = None, *, actor: str = "system",
                   job: Job | None = None, batch_size: int = BATCH_SIZE) -> IngestRun:
    """Run (or resume) the examination of ``exhibit``'s image; returns the finished run.

    Raises :class:`IngestError` (the run is then recorded as failed, with the message),
    ``JobCancelled`` when the user cancels, ``KeyboardInterrupt`` as it comes; whatever
    stops it, the batches already stored stay, and an ``examined`` custody entry records
    what was done.
    """
    ctx = ctx or QuietContext()
    exhibit = Exhibit.objects.select_related("case").get(pk=exhibit.pk)
    IngestRun.objects.filter(exhibit=exhibit, status=IngestRun.Status.RUNNING).update(
        status=IngestRun.Status.INTERRUPTED, ended_at=timezone.now(),
        error="the run stopped without finishing (worker or command killed)")
    run = IngestRun.objects.create(exhibit=exhibit, job=job, actor=actor,
                                   tool_version=__version__, started_at=timezone.now())
    before = after = ""
    intact = True
    hash_sets = hash_set_store()
    folder: Path | None = None
    try:
        before, intact = _image_sha256(exhibit, ctx, "before")
        if not intact:
            raise IngestError(f"exhibit {exhibit}: the image no longer matches its recorded "
                              "SHA-256; not examined (run `dalil verify` on the case)")
        run.image_sha256 = before
        run.save(update_fields=["image_sha256"])
        ctx.progress(0, 0, "walking the file systems")  # no total from here on: bytes, files
        with image_path(exhibit) as path:
            folder = path.parent
            _run_pipeline(exhibit, run, path, folder, ctx, batch_size, hash_sets)
        folder = None
        after, intact = _image_sha256(exhibit, ctx, "after")
        if not intact:
            raise IngestError(f"exhibit {exhibit}: the image changed during the examination "
                              f"(SHA-256 before {before}, after {after})")
    except jobs.JobCancelled:
        _finish(run, IngestRun.Status.CANCELLED, "cancelled by the user; run again to resume",
                before, after)
        raise
    except KeyboardInterrupt:
        _finish(run, IngestRun.Status.INTERRUPTED, "interrupted; run again to resume",
                before, after)
        raise
    except (IngestError, ImageError, FileSystemError, OSError) as exc:
        message = _where(str(exc), folder, exhibit)
        if not message.startswith(f"exhibit {exhibit}"):
            message = f"exhibit {exhibit}: {message}"
        _finish(run, IngestRun.Status.FAILED, message, before, after)
        raise IngestError(message) from exc
    except Exception as exc:
        _finish(run, IngestRun.Status.FAILED, f"internal error: {exc!r}", before, after)
        raise
    finally:
        if hash_sets is not None:
            hash_sets.close()
    _finish(run, IngestRun.Status.SUCCEEDED, "", before, after)
    return run


def _run_pipeline(exhibit: Exhibit, run: IngestRun, path: Path, folder: Path, ctx: Context,
                  batch_size: int, hash_sets: HashSetStore | None) -> None:
    image = open_image(path)
    try:
        tsk = TskImage(image)
        volumes = file_system_volumes(image, tsk)
        done = completed_volumes(exhibit)
        readable = 0
        with ConcurrentHasher(ALGORITHMS) as hasher:
            state = _Ingest(exhibit, run, ctx, batch_size, hash_sets, folder, hasher)
            for volume in volumes:
                if volume.index in done:
                    run.skipped += FileRecord.objects.filter(
                        exhibit=exhibit, volume_index=volume.index).count()
                    readable += 1
                    continue
                readable += state.volume(image, tsk, volume)
        run.save(update_fields=["skipped"])
        if not readable:
            reasons = "; ".join(p.message for p in IngestProblem.objects.filter(run=run))
            raise IngestError(reasons or f"exhibit {exhibit}: no volume with a file system")
    finally:
        image.close()


def _finish(run: IngestRun, status: str, error: str, before: str, after: str) -> None:
    run.status = status
    run.error = error
    run.ended_at = timezone.now()
    IngestRun.objects.filter(pk=run.pk).update(status=status, error=error,
                                               ended_at=run.ended_at)
    run.refresh_from_db()
    result = "completed" if status == IngestRun.Status.SUCCEEDED else f"{status}: {error}"
    exhibit = run.exhibit
    cases.record_custody(exhibit.case, exhibit, "examined", run.actor, {
        "tool": run.tool, "tool_version": run.tool_version, "what": WHAT,
        "started_at": _iso(run.started_at), "ended_at": _iso(run.ended_at),
        "result": f"{result}; {_result_text(run)}", "ingest_run": run.pk,
        "image_sha256": {"before": before or None, "after": after or None},
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
        "problems": [{"volume": p.volume_index, "kind": p.kind, "path": p.path,
                      "inode": p.inode, "message": p.message} for p in run.problems.all()],
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
        meta_allocated=record.meta_allocated, fs_offset=record.volume_offset,
        attr_type=record.attr_type, attr_id=record.attr_id, stream=stream,
        meta_type="r", parent=record.parent,
    )


@contextmanager
def open_record(record: FileRecord) -> Iterator[tuple[FileSystem, Entry]]:
    """The record's file system (opened read-only) and its entry, for reading content."""
    exhibit = record.exhibit
    with image_path(exhibit) as path:
        try:
            image = open_image(path)
        except ImageError as exc:
            raise IngestError(_where(str(exc), path.parent, exhibit)) from exc
        try:
            tsk = TskImage(image)
            volume = next((v for v in file_system_volumes(image, tsk)
                           if v.index == record.volume_index
                           and v.offset == record.volume_offset), None)
            if volume is None:
                raise IngestError(f"exhibit {exhibit}: no volume {record.volume_index} at "
                                  f"offset {record.volume_offset}")
            try:
                fs = open_file_system(image, volume, tsk)
            except FileSystemError as exc:
                raise IngestError(_where(str(exc), path.parent, exhibit)) from exc
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
