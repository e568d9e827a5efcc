"""Per-file hashing of a file system: hashes, content type, extension mismatch, hash-set
verdict for every regular file, in one read of each file and constant memory.

Small files (most of a disk) are hashed inline, one :mod:`hashlib` object per algorithm:
starting the :class:`~dalil.engine.evidence.hashing.MultiHasher` threads for a 3 KiB file
would cost more than the hashing. Files larger than ``THREADED_ABOVE`` go through the
MultiHasher, whose digests run in parallel threads while the next chunk is read.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dalil.engine.evidence.hashing import MultiHasher, new_hash, parse_algorithms
from dalil.engine.forensics.extract import ExtractError, read_content
from dalil.engine.forensics.filesystem import FileSystem
from dalil.engine.forensics.filetype import HEAD_SIZE, FileType, identify
from dalil.engine.forensics.hashsets import (
    HashEntry,
    HashMatch,
    HashSetInfo,
    HashSetStore,
    verdict,
)
from dalil.engine.forensics.walk import Entry, WalkProblem, walk

DEFAULT_ALGORITHMS = ("md5", "sha1", "sha256")
THREADED_ABOVE = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileRecord:
    """One regular file of a file system, hashed and typed."""

    entry: Entry
    hashes: dict[str, str]
    bytes_read: int
    file_type: FileType
    mismatch: bool
    verdict: str | None = None  # known-bad, known-good or None
    matches: tuple[HashMatch, ...] = ()
    error: str | None = None  # the content could not be read in full (hashes partial)
    sets_checked: bool = field(default=False)

    @property
    def complete(self) -> bool:
        return self.error is None and self.bytes_read == self.entry.size

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.entry.to_dict(),
            "hashes": dict(self.hashes),
            "bytes_read": self.bytes_read,
            "complete": self.complete,
            "file_type": self.file_type.label,
            "mime": self.file_type.mime,
            "extension_mismatch": self.mismatch,
            "verdict": self.verdict,
            "matches": [m.to_dict() for m in self.matches],
            "error": self.error,
        }


class TskFileStream(io.RawIOBase):
    """A seekable, read-only stream over one file (or NTFS stream) inside a file system.

    Reads go straight to The Sleuth Kit (``read_random``): nothing is copied out first.
    """

    def __init__(self, fs: FileSystem, entry: Entry) -> None:
        super().__init__()
        try:
            self._file = fs.tsk.open_meta(inode=entry.inode)
        except OSError as exc:
            raise OSError(f"{fs.where()}: {entry.path} (inode {entry.inode}): {exc}") from exc
        self._entry = entry
        self._where = fs.where()
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._entry.size}
        self._position = max(0, base[whence] + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        size = min(len(view), self._entry.size - self._position)
        if size <= 0:
            return 0
        entry = self._entry
        try:
            if entry.attr_type is not None:
                data = self._file.read_random(self._position, size, entry.attr_type,
                                              entry.attr_id)
            else:
                data = self._file.read_random(self._position, size)
        except OSError as exc:
            raise OSError(f"{self._where}: {entry.path} (inode {entry.inode}): read error at "
                          f"file offset {self._position}: {exc}") from exc
        view[:len(data)] = data
        self._position += len(data)
        return len(data)


def is_regular_file(entry: Entry) -> bool:
    """A file whose content can be read: regular (or an NTFS data stream), with metadata."""
    if entry.size == 0 and entry.name.endswith(" (Volume Label Entry)"):
        return False  # TSK lists a FAT volume label as an empty regular file
    return (entry.type == "file" and not entry.times_from_file_name
            and entry.meta_type is not None and not (entry.inode == 0 and entry.deleted))


def _hash_content(fs: FileSystem, entry: Entry,
                  algorithms: tuple[str, ...]) -> tuple[dict[str, str], int, bytes, str | None]:
    """``(hashes, bytes read, head, error)`` in one pass over the content."""
    head = b""
    done = 0
    error: str | None = None
    threaded = entry.size > THREADED_ABOVE and len(algorithms) > 1
    if threaded:
        hasher = MultiHasher(algorithms)
        try:
            try:
                for chunk in read_content(fs, entry):
                    if not head:
                        head = chunk[:HEAD_SIZE]
                    hasher.update(chunk)  # bytes: hashed while the next chunk is read
                    done += len(chunk)
            except ExtractError as exc:
                error = str(exc)
            return hasher.hexdigests(), done, head, error
        finally:
            hasher.close()
    digests = [new_hash(name) for name in algorithms]
    try:
        for chunk in read_content(fs, entry):
            if not head:
                head = chunk[:HEAD_SIZE]
            for digest in digests:
                digest.update(chunk)
            done += len(chunk)
    except ExtractError as exc:
        error = str(exc)
    return ({name: d.hexdigest() for name, d in zip(algorithms, digests, strict=True)},
            done, head, error)


_Work = list[tuple[int, bytes, bool]]


class Checkpoint:
    """The digests of every content ended before :meth:`ConcurrentHasher.checkpoint` was
    called, once the hashing threads have reached that point (:meth:`wait`)."""

    def __init__(self, owner: ConcurrentHasher) -> None:
        self._owner = owner
        self._events = [threading.Event() for _ in owner._threads]
        self._found: list[tuple[tuple[str, ...], dict[int, tuple[str, ...]]]] = []
        self._lock = threading.Lock()

    def _reached(self, index: int, algorithms: tuple[str, ...],
                 done: dict[int, tuple[str, ...]]) -> None:
        with self._lock:
            self._found.append((algorithms, done))
        self._events[index].set()

    def wait(self) -> dict[int, dict[str, str]]:
        """``{slot: {algorithm: hexdigest}}``; may be called from any thread, once."""
        for event in self._events:
            event.wait()
        self._owner.raise_errors()
        found: dict[int, dict[str, str]] = {}
        for algorithms, done in self._found:
            for slot, digests in done.items():
                found.setdefault(slot, {}).update(zip(algorithms, digests, strict=True))
        return found


class _AlgorithmThread(threading.Thread):
    """Hashes every content with its algorithms, in the order the contents were fed."""

    def __init__(self, algorithms: tuple[str, ...], owner: ConcurrentHasher,
                 index: int) -> None:
        super().__init__(name=f"hash-{'-'.join(algorithms)}", daemon=True)
        self.algorithms = algorithms
        self.algorithm = ", ".join(algorithms)
        self.owner = owner
        self.index = index  # position among the owner's threads (its checkpoint event)
        self.inbox: queue.SimpleQueue[_Work | Checkpoint | None] = queue.SimpleQueue()
        self.done: dict[int, tuple[str, ...]] = {}
        self.consumed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        active: dict[int, list[Any]] = {}
        algorithms = self.algorithms
        while True:
            item = self.inbox.get()
            if item is None:
                return
            if isinstance(item, Checkpoint):
                # What was ended so far goes with the checkpoint: the thread that waits
                # for it owns those digests, and this thread starts a fresh table.
                done, self.done = self.done, {}
                item._reached(self.index, self.algorithms, done)
                continue
            size = 0
            try:
                for slot, data, last in item:
                    digests = active.get(slot)
                    if digests is None:
                        digests = active[slot] = [new_hash(name) for name in algorithms]
                    for digest in digests:
                        digest.update(data)
                    size += len(data)
                    if last:
                        self.done[slot] = tuple(d.hexdigest() for d in active.pop(slot))
            except BaseException as exc:  # handed to the feeding thread
                self.error = exc
            with self.owner.condition:
                self.consumed += size
                self.owner.condition.notify_all()


class ConcurrentHasher:
    """Digests of many contents (the files of a walk), in ``threads`` threads.

    ``by_file=False`` (the default): the algorithms are shared out between the threads (by
    default one per algorithm) and every thread sees every content. ``by_file=True``: the
    contents are shared out instead, each content whole to one thread (the one with the
    least waiting), which computes all its digests: when one algorithm is the slowest part
    of a run (MD5 runs at a third of SHA-256's speed on CPUs with SHA extensions), no
    thread waits for it.

    The feeding thread reads content and calls :meth:`feed` with each part of each file
    (``slot`` names the file; ``last`` ends it); the parts are handed over in bundles, so
    that ten thousand small files cost ten-odd hand-overs, not ten thousand. hashlib
    releases the GIL on large buffers: the digests of one file run on other cores while the
    feeding thread walks, reads and types the next ones. At most ``max_pending`` bytes
    wait for hashing (memory stays bounded); :meth:`collect` waits for everything fed and
    returns ``{slot: {algorithm: hexdigest}}`` of the finished contents.
    """

    BUNDLE_BYTES = 1 << 20
    BUNDLE_ITEMS = 1024

    def __init__(self, algorithms: Iterable[str], *, max_pending: int = 64 << 20,
                 threads: int | None = None, by_file: bool = False) -> None:
        self.algorithms = parse_algorithms(algorithms)
        self.max_pending = max_pending
        self.condition = threading.Condition()
        if by_file:
            groups = [self.algorithms] * max(1, threads or 1)
        else:
            count = max(1, min(threads or len(self.algorithms), len(self.algorithms)))
            groups = [self.algorithms[i::count] for i in range(count)]
        self.by_file = by_file and len(groups) > 1
        self._threads = [_AlgorithmThread(group, self, index)
                         for index, group in enumerate(groups)]
        # by_file: one bundle per thread, and the thread each unended content goes to.
        self._bundles: list[_Work] = [[] for _ in self._threads]
        self._bundle_bytes = [0] * len(self._threads)
        self._fed = [0] * len(self._threads)
        self._owner_of: dict[int, int] = {}
        for thread in self._threads:
            thread.start()

    def feed(self, slot: int, data: bytes, last: bool = False) -> None:
        index = 0
        if self.by_file:
            owner = self._owner_of.get(slot)
            if owner is None:
                owner = self._least_waiting()
                if not last:
                    self._owner_of[slot] = owner
            elif last:
                del self._owner_of[slot]
            index = owner
        bundle = self._bundles[index]
        bundle.append((slot, data, last))
        self._bundle_bytes[index] += len(data)
        if self._bundle_bytes[index] >= self.BUNDLE_BYTES or len(bundle) >= self.BUNDLE_ITEMS:
            self._hand_over(index)

    def _least_waiting(self) -> int:
        waiting = [fed + size - thread.consumed for fed, size, thread
                   in zip(self._fed, self._bundle_bytes, self._threads, strict=True)]
        return waiting.index(min(waiting))

    def _hand_over(self, index: int) -> None:
        bundle = self._bundles[index]
        if not bundle:
            return
        self._bundles[index] = []
        self._fed[index] += self._bundle_bytes[index]
        self._bundle_bytes[index] = 0
        if self.by_file:
            self._threads[index].inbox.put(bundle)
        else:
            for thread in self._threads:
                thread.inbox.put(bundle)  # read only: every thread sees the same parts
        self._wait_for_room()

    def _behind(self) -> int:
        """Bytes fed and not yet hashed (by the slowest thread when all see everything)."""
        if self.by_file:
            return sum(self._fed) - sum(t.consumed for t in self._threads)
        return self._fed[0] - min(t.consumed for t in self._threads)

    def _wait_for_room(self) -> None:
        with self.condition:
            while (self._behind() > self.max_pending
                   and not any(t.error for t in self._threads)):
                self.condition.wait()
        self.raise_errors()

    def raise_errors(self) -> None:
        for thread in self._threads:
            if thread.error is not None:
                raise RuntimeError(f"{thread.algorithm} hashing failed: "
                                   f"{thread.error!r}") from thread.error

    def checkpoint(self) -> Checkpoint:
        """A mark after everything fed so far: its :meth:`Checkpoint.wait` gives the
        digests of the contents ended before it. The feeding thread goes on at once (the
        ingest's examiner waits for a batch's digests only once the next batch is walked)."""
        for index in range(len(self._bundles)):
            self._hand_over(index)
        mark = Checkpoint(self)
        for thread in self._threads:
            thread.inbox.put(mark)
        return mark

    def collect(self) -> dict[int, dict[str, str]]:
        """Wait for every content fed so far; the digests of those that were ended."""
        return self.checkpoint().wait()

    def close(self) -> None:
        for thread in self._threads:
            thread.inbox.put(None)
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> ConcurrentHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _opener(fs: FileSystem, entry: Entry) -> Callable[[], io.RawIOBase]:
    return lambda: TskFileStream(fs, entry)


def hash_files(
    fs: FileSystem,
    *,
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
    hash_sets: HashSetStore | None = None,
    include_deleted: bool = False,
    on_problem: Callable[[WalkProblem], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[FileRecord]:
    """Yield a :class:`FileRecord` for every regular file (and NTFS data stream) of ``fs``.

    Deleted files are included with ``include_deleted`` (their content may have been
    overwritten: the hashes are of what is there now). ``progress(bytes_so_far)`` is called
    after each file. A file whose content cannot be read in full gets ``error`` set and no
    hash-set verdict; the walk goes on.
    """
    names = parse_algorithms(algorithms)
    total = 0
    for entry in walk(fs, on_problem=on_problem):
        if not is_regular_file(entry) or (entry.deleted and not include_deleted):
            continue
        hashes, done, head, error = _hash_content(fs, entry, names)
        total += done
        file_type = identify(head, open_stream=_opener(fs, entry))
        matches: tuple[HashMatch, ...] = ()
        if hash_sets is not None and error is None:
            matches = tuple(hash_sets.match_hashes(hashes))
        yield FileRecord(
            entry=entry, hashes=hashes, bytes_read=done, file_type=file_type,
            mismatch=file_type.mismatch(entry.name), verdict=verdict(matches),
            matches=matches, error=error, sets_checked=hash_sets is not None,
        )
        if progress is not None:
            progress(total)


def build_hash_set(
    store: HashSetStore,
    fs: FileSystem,
    name: str,
    known: str = "good",
    *,
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
    replace: bool = False,
    on_problem: Callable[[WalkProblem], None] | None = None,
    on_file: Callable[[FileRecord], None] | None = None,
) -> HashSetInfo:
    """The "master image" workflow: hash every allocated regular file of ``fs`` and store
    the digests as the set ``name`` (file names are the paths inside the image).

    Files that cannot be read in full are left out (reported through ``on_file`` with
    their error) rather than stored with a digest of partial content; so are empty files,
    whose digest would mark every empty file of every exhibit as known.
    """
    usable = tuple(a for a in parse_algorithms(algorithms) if a in ("md5", "sha1", "sha256",
                                                                     "sha512"))
    if not usable:
        raise ValueError("a hash set needs md5, sha1, sha256 or sha512")

    def entries() -> Iterator[HashEntry]:
        for record in hash_files(fs, algorithms=usable, on_problem=on_problem):
            if on_file is not None:
                on_file(record)
            if not record.complete or record.bytes_read == 0:
                continue
            for algorithm, digest in record.hashes.items():
                yield HashEntry(digest, algorithm, record.entry.path, record.entry.size)

    source = f"{fs.image.path}#offset={fs.offset}"
    return store.add(name, known, entries(), kind="image", source=source, replace=replace)
