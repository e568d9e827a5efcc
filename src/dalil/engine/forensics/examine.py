"""The engine half of an ingest: every entry of one file system's walk with the digests, the
content type and the artifact head rule of its content, in batches of plain rows, computed
in a process of its own while the caller stores the batches before.

Why a process: walking, reading and typing 100,000 files is Python work that holds the GIL
for most of a run, and so is storing their rows (binding parameters); in one process the
two take turns on one core while the other core idles (measured on the 100,000-file
benchmark image: 26 s in one process, where the walk alone takes 20 s). The child is forked
(no re-import, a few milliseconds): it only reads the image, never the caller's database,
and ends with ``os._exit`` (no finaliser of the caller's runs in it).

The rows are dicts keyed by :data:`ROW_FIELDS`; times are aware UTC datetimes, sizes and
offsets bytes. Messages from the child are the dataclasses below; :func:`examine_in_process`
yields them and turns a failure in the child into :class:`ExamineError`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from dalil.engine.evidence.hashing import new_hash
from dalil.engine.forensics.artifacts import select_parsers
from dalil.engine.forensics.extract import ExtractError, read_content
from dalil.engine.forensics.filehash import (
    Checkpoint,
    ConcurrentHasher,
    TskFileStream,
    is_regular_file,
)
from dalil.engine.forensics.filesystem import (
    FileSystem,
    FileSystemError,
    open_volume_file_system,
)
from dalil.engine.forensics.filetype import (
    HEAD_SIZE,
    NEEDS_LIBMAGIC,
    FileType,
    identify,
    libmagic_type,
)
from dalil.engine.forensics.image import ImageError, TskImage, open_image
from dalil.engine.forensics.volume import Volume
from dalil.engine.forensics.walk import Entry, WalkProblem, walk_files

ROW_FIELDS = ("seq", "inode", "address", "attr_type", "attr_id", "path", "parent", "name",
              "type", "size", "deleted", "meta_allocated", "mtime", "atime", "ctime",
              "crtime", "md5", "sha1", "sha256", "bytes_read", "file_type", "mime",
              "extension_mismatch", "error", "artifacts_ruled_out")
_PROGRESS_EVERY = 0.1  # seconds between two Progress messages
# Contents up to this size (bytes) are hashed in the walking thread; larger ones in the
# hashing threads. Handing a small file to another thread costs more than hashing it:
# each hashlib update of 2 KiB or more hands the GIL over, and a walk of 100,000 small
# files made 445,000 context switches (2 s of system time); hashed here, 80,000 (child
# 6.3 s -> 4.8 s of wall time, 10.4 s -> 7.7 s of CPU on the benchmark image, where
# 94% of the files, 35% of the bytes, are under 64 KiB).
HASHED_HERE = 64 * 1024


class ExamineError(Exception):
    """The examination of a file system stopped; the message names image, volume, offset."""


@dataclass(frozen=True)
class Unit:
    """What to examine: volume ``volume`` of the image at ``image_path`` or, with
    ``logical``, the LVM logical volume of that name in it; entries up to ``resume_after``
    (a walk position) are skipped, the last of them checked to be ``expected`` (inode,
    path) so that a resumed run never mixes two different images."""

    image_path: str
    volume: Volume
    logical: str = ""
    algorithms: tuple[str, ...] = ("md5", "sha256")
    batch_size: int = 5000
    resume_after: int = -1
    expected: tuple[int, str] | None = None


@dataclass(frozen=True)
class Opened:
    fs_kind: str  # ntfs, ext4, fat32, xfs...


@dataclass(frozen=True)
class Unreadable:
    """No file system could be opened: the volume is recorded as a problem."""

    message: str


@dataclass(frozen=True)
class Problem:
    problem: WalkProblem


@dataclass(frozen=True)
class Rows:
    rows: list[dict[str, Any]]
    full: bool  # a whole batch (not the last one of the walk)


@dataclass(frozen=True)
class Progress:
    entries: int  # walked past the resume point
    bytes_read: int  # content read (and hashed) so far in this examination


@dataclass(frozen=True)
class Skipped:
    entries: int  # already stored by an earlier run


@dataclass(frozen=True)
class _Finished:
    pass


@dataclass(frozen=True)
class _Failed:
    message: str


Message = Opened | Unreadable | Problem | Rows | Progress | Skipped


def open_unit_file_system(unit: Unit) -> tuple[Any, FileSystem]:
    """The image (to close) and the file system that ``unit`` addresses."""
    image = open_image(unit.image_path)
    try:
        return image, open_volume_file_system(image, unit.volume, unit.logical,
                                              TskImage(image))
    except BaseException:
        image.close()
        raise


@dataclass
class _Pending:
    rows: list[dict[str, Any]]
    hashing: dict[int, dict[str, Any]] = field(default_factory=dict)
    typing: list[tuple[dict[str, Any], str, Future[FileType]]] = field(default_factory=list)
    digests: Checkpoint | None = None


class _Examiner:
    """The walk of one file system, row by row; a batch's digests and libmagic types are
    waited for only once the next batch is walked (they are long done by then)."""

    def __init__(self, fs: FileSystem, unit: Unit, hasher: ConcurrentHasher,
                 magic: ThreadPoolExecutor) -> None:
        self.fs = fs
        self.unit = unit
        self.hasher = hasher
        self.magic = magic
        self.parsers = select_parsers()
        # Fresh digests are copies of these: a copy is a fifth of hashlib.new's cost.
        self.blank_digests = [new_hash(name) for name in unit.algorithms]
        self.head_labels = {label for p in self.parsers if p.head for label in p.types}
        self.slot = 0
        self.bytes_read = 0

    def messages(self) -> Iterator[Message]:
        unit = self.unit
        problems: list[WalkProblem] = []
        batch = _Pending([])
        waiting: _Pending | None = None
        skipped = walked = 0
        reported = time.monotonic()
        for seq, (entry, tsk_file) in enumerate(walk_files(self.fs,
                                                           on_problem=problems.append)):
            if seq <= unit.resume_after:
                if seq == unit.resume_after and unit.expected is not None and (
                        entry.inode, entry.path) != unit.expected:
                    raise _not_stored_image(unit, f"it is now {entry.path!r}, inode "
                                                  f"{entry.inode}")
                skipped += 1
                continue
            if skipped:
                yield Skipped(skipped)
                skipped = 0
            while problems:
                yield Problem(problems.pop(0))
            batch.rows.append(self.row(batch, seq, entry, tsk_file))
            walked += 1
            if len(batch.rows) >= unit.batch_size:
                self.seal(batch)
                if waiting is not None:
                    yield Rows(self.finish(waiting), True)
                waiting, batch = batch, _Pending([])
            now = time.monotonic()
            if now - reported >= _PROGRESS_EVERY:
                reported = now
                yield Progress(walked, self.bytes_read)
        if walked == 0 and unit.expected is not None and skipped <= unit.resume_after:
            # The entry to check never came: the walk is shorter than what was stored.
            raise _not_stored_image(unit, f"the walk now ends after {skipped} entries")
        if skipped:
            yield Skipped(skipped)
        for problem in problems:
            yield Problem(problem)
        self.seal(batch)
        if waiting is not None:
            yield Rows(self.finish(waiting), True)
        yield Progress(walked, self.bytes_read)
        yield Rows(self.finish(batch), False)

    def seal(self, batch: _Pending) -> None:
        """The batch is walked: mark where its digests end (they are waited for later)."""
        batch.digests = self.hasher.checkpoint() if batch.hashing else None

    def finish(self, batch: _Pending) -> list[dict[str, Any]]:
        if batch.digests is not None:
            found = batch.digests.wait()
            for slot, row in batch.hashing.items():
                digests = found.pop(slot)
                if not row["error"]:  # content not read in full: no digest stored
                    row.update(digests)
        for row, name, future in batch.typing:
            _set_type(row, future.result(), name)
        return batch.rows

    def row(self, batch: _Pending, seq: int, entry: Entry, tsk_file: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "seq": seq, "inode": entry.inode, "address": entry.address,
            "attr_type": entry.attr_type, "attr_id": entry.attr_id, "path": entry.path,
            "parent": entry.parent, "name": entry.name, "type": entry.type,
            "size": entry.size, "deleted": entry.deleted,
            "meta_allocated": entry.meta_allocated, "mtime": entry.mtime,
            "atime": entry.atime, "ctime": entry.ctime, "crtime": entry.crtime,
            "md5": None, "sha1": None, "sha256": None, "bytes_read": 0, "file_type": "",
            "mime": "", "extension_mismatch": False, "error": "",
            "artifacts_ruled_out": False,
        }
        if not is_regular_file(entry):
            return row
        fs = self.fs
        head = b""
        done = 0
        hashed_here = entry.size <= HASHED_HERE
        if hashed_here:
            digests = [blank.copy() for blank in self.blank_digests]
            feeds: list[Callable[[bytes], object]] = [d.update for d in digests]
        else:
            slot = self.slot
            self.slot += 1
            feeds = [partial(self.hasher.feed, slot)]
        try:
            for chunk in read_content(fs, entry, tsk_file):
                if len(head) < HEAD_SIZE:
                    head += chunk[:HEAD_SIZE - len(head)]
                for feed in feeds:
                    feed(chunk)
                done += len(chunk)
        except (ExtractError, OSError) as exc:
            row["error"] = str(exc) or repr(exc)
        if not hashed_here:
            self.hasher.feed(slot, b"", last=True)
            batch.hashing[slot] = row  # its digests are set when the batch is finished
        elif not row["error"]:  # content not read in full: no digest stored
            row.update(zip(self.unit.algorithms, (d.hexdigest() for d in digests),
                           strict=True))
        row["bytes_read"] = done
        self.bytes_read += done
        # Only label, MIME type and mismatch are stored: libmagic's description is not asked.
        kind = identify(head, open_stream=lambda: TskFileStream(fs, entry), describe=False,
                        libmagic=False)
        if kind is NEEDS_LIBMAGIC:
            batch.typing.append((row, entry.name,
                                 self.magic.submit(libmagic_type, head, describe=False)))
            return row
        _set_type(row, kind, entry.name)
        if kind.label in self.head_labels:  # only types a parser can rule out by head
            applicable = [p for p in self.parsers if p.applies_to(entry.name, kind.label)]
            row["artifacts_ruled_out"] = bool(applicable) and not any(
                p.may_hold(head, done <= len(head) and not row["error"])
                for p in applicable)
        return row


def _not_stored_image(unit: Unit, now: str) -> ExamineError:
    """A resumed walk that does not reach the entry an earlier run stored last."""
    assert unit.expected is not None
    inode, path = unit.expected
    return ExamineError(f"the image does not match what an earlier run stored (entry "
                        f"{unit.resume_after} was {path!r}, inode {inode}; {now})")


def _set_type(row: dict[str, Any], kind: FileType, name: str) -> None:
    row["file_type"] = kind.label
    row["mime"] = kind.mime
    row["extension_mismatch"] = kind.mismatch(name)


def examine(unit: Unit) -> Iterator[Message]:
    """The messages of ``unit``'s examination, in this process (see :func:`examine_in_process`)."""
    try:
        image, fs = open_unit_file_system(unit)
    except FileSystemError as exc:
        yield Unreadable(str(exc))
        return
    try:
        yield Opened(fs.kind)
        # Files over HASHED_HERE go to two hashing threads, shared out between them, each
        # computing all of a file's digests: MD5 (a third of SHA-256's speed with SHA
        # extensions) was the slowest part of the run in one thread (9.0 s of the
        # 100,000-file benchmark, 4.8 s with SHA-256 alone); one thread per algorithm
        # would leave it there.
        with ConcurrentHasher(unit.algorithms, threads=2, by_file=True) as hasher, \
                ThreadPoolExecutor(1, thread_name_prefix="libmagic") as magic:
            yield from _Examiner(fs, unit, hasher, magic).messages()
    finally:
        image.close()


def _child(connection: Any, unit: Unit) -> None:
    # Ctrl+C reaches the whole process group: the caller handles it and stops this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for message in examine(unit):
            connection.send(message)
        connection.send(_Finished())
    except BaseException as exc:  # reported to the caller, which raises it there
        text = " ".join(str(exc).split()) or repr(exc)
        if not isinstance(exc, ExamineError | FileSystemError | ImageError | OSError):
            text = f"internal error: {exc!r}"
        with contextlib.suppress(OSError):  # the caller is gone
            connection.send(_Failed(text))
    finally:
        connection.close()


def examine_in_process(unit: Unit) -> Generator[Message, None, None]:
    """:func:`examine` run in a forked process, its messages yielded here as they come.

    Raises :class:`ExamineError` for what stopped the child (the message says what, the
    image and the place); leaving the iteration early (an exception, a cancelled job)
    stops the child. The pipe holds little: the child waits while the caller stores.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, unit), daemon=True,
                              name=f"dalil-examine-{unit.volume.index}")
    process.start()
    sender.close()
    try:
        while True:
            try:
                message = receiver.recv()
            except EOFError:
                process.join()
                raise ExamineError(f"{unit.image_path}: the examining process stopped "
                                   f"(exit code {process.exitcode})") from None
            if isinstance(message, _Finished):
                return
            if isinstance(message, _Failed):
                raise ExamineError(message.message)
            yield message
    finally:
        receiver.close()
        if process.is_alive():
            process.terminate()
        process.join()
        process.close()
