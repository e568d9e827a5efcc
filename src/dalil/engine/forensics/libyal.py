"""File systems read through a libyal library: what the XFS and APFS readers share.

libfsxfs (:mod:`~dalil.engine.forensics.xfs`) and libfsapfs
(:mod:`~dalil.engine.forensics.apfs`) are both libyal libraries and give the same
file-entry API (``get_sub_file_entry``, ``get_file_mode``, ``get_*_time_as_integer``,
``read_buffer_at_offset``, ``get_extent`` ...). So the parts that only speak that API are
written once, here: the file object through which the library reads an image region
(:class:`Source`, remembering why a read came back short), the translation of the
library's errors into messages that name that cause (:class:`SourceReader`), the file
the content readers call (:class:`LibyalFile`), the :class:`Entry` of a file entry, the
iterative walk, ``bare_entry`` and the block map's extents.

What differs stays in the two modules, as hooks of :class:`LibyalVolume`: how a file
entry's number is asked, libfsapfs's swapped creation and modification times, XFS's
directory sizes read from the inode, and messages that name the APFS volume. Times are
kept to the microsecond (``datetime``) from the libraries' nanosecond timestamps, as on
the TSK path; ``epoch_times`` are whole seconds.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from dalil.engine.forensics.blockmap import Extent
from dalil.engine.forensics.filesystem import FileSystem, FileSystemError
from dalil.engine.forensics.image import Image, ImageError, ImageRegion
from dalil.engine.forensics.walk import MAX_DEPTH, Entry, WalkProblem

SPARSE = 0x1  # LIBFSXFS_ and LIBFSAPFS_EXTENT_FLAG_IS_SPARSE: no place on the media
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DETAIL = 400  # characters of a libyal error chain kept in a message
# File type bits of an inode's mode -> (Entry.type, the letter fls prints).
_TYPES = {0o010000: ("fifo", "p"), 0o020000: ("char-device", "c"),
          0o040000: ("directory", "d"), 0o060000: ("block-device", "b"),
          0o100000: ("file", "r"), 0o120000: ("symlink", "l"), 0o140000: ("socket", "s")}


class Source(ImageRegion):
    """The region (file system, container) as the library reads it, remembering why a
    read came back short: a read error of the image, or a read past the end of a
    truncated image."""

    def __init__(self, image: Image, offset: int, size: int) -> None:
        super().__init__(image, offset, size)
        self.image = image
        self.offset = offset
        self.claimed = size
        self.error: ImageError | None = None
        self.past_end: int | None = None  # media offset of the first read beyond the image

    def read(self, size: int = -1) -> bytes:
        start = self.offset + self.tell()
        try:
            data = super().read(size)
        except ImageError as exc:
            self.error = exc
            raise
        if size is not None and 0 <= len(data) < size and start + size > self.image.size \
                and self.past_end is None:
            self.past_end = max(start + len(data), self.image.size)
        return data

    def reset(self) -> None:
        self.error = None
        self.past_end = None


class SourceReader:
    """What a library opened over a :class:`Source` (an XFS volume, an APFS container):
    its calls' errors come back as ``OSError`` naming the cause we know of (the image's
    read error, truncation) before the library's own."""

    library: ClassVar[str]  # "libfsxfs": names the library in messages
    spans: ClassVar[str]  # "the file system": what the source's bytes are, in messages

    def __init__(self, source: Source, handle: Any) -> None:
        """Open ``handle`` (a new ``pyfsxfs.volume``, ``pyfsapfs.container``) over
        ``source``; ``OSError`` if the library cannot."""
        self.source = source
        self.handle = handle
        self.call(handle.open_file_object, source)

    @classmethod
    def binding(cls, what: str) -> Any:
        """The library's Python module (``pyfsxfs`` for libfsxfs), imported only when a
        file system needs it; :class:`FileSystemError` if it is not installed (``what``:
        the image, the volume and what is there, for the message)."""
        package = f"{cls.library}-python"
        try:
            return importlib.import_module(f"py{cls.library.removeprefix('lib')}")
        except ImportError as exc:
            raise FileSystemError(f"{what}; reading it needs {package} (pip install "
                                  f"{package})") from exc

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` into the library; its errors as ``OSError`` (see
        :meth:`explain`)."""
        self.source.reset()
        try:
            return function(*args)
        except (OSError, ValueError) as exc:
            raise OSError(self.explain(exc)) from exc

    def explain(self, exc: BaseException) -> str:
        detail = " ".join(str(exc).split()) or repr(exc)
        if len(detail) > _DETAIL:  # libyal's whole error chain: its head says enough
            detail = detail[:_DETAIL - 1] + "…"
        source = self.source
        if source.error is not None:
            return f"{source.error} ({self.library}: {detail})"
        if source.past_end is not None:
            return (f"read past the end of the image at offset {source.past_end} (the image "
                    f"is {source.image.size} bytes; {self.spans} spans {source.claimed} "
                    f"bytes from offset {source.offset}): truncated image? "
                    f"({self.library}: {detail})")
        return f"{self.library}: {detail}"


class LibyalFile:
    """One file entry, opened through the library: what the content readers call the
    TSK file."""

    def __init__(self, volume: LibyalVolume, handle: Any) -> None:
        self.volume = volume
        self.handle = handle  # pyfsxfs.file_entry, pyfsapfs.file_entry

    def read_random(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes of the content at ``offset`` (empty past the end);
        ``OSError`` with a message that says why (read error, truncated image)."""
        data: bytes = self.volume.call(self.handle.read_buffer_at_offset, size, offset)
        return data


class LibyalVolume(ABC):
    """An opened file system (``FileSystem.tsk`` for XFS and APFS): the calls the walk,
    the content readers and the block map make, and the hooks where the libraries
    differ."""

    handle: Any  # pyfsxfs.volume, pyfsapfs.volume

    @abstractmethod
    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` into the library; its errors as ``OSError`` saying why."""

    @abstractmethod
    def open_meta(self, inode: int) -> LibyalFile:
        """The file entry with number ``inode`` (``OSError`` if there is none)."""

    @abstractmethod
    def number(self, handle: Any) -> int:
        """The inode number (APFS: file-system object identifier) of a file entry."""

    def root(self) -> LibyalFile:
        return LibyalFile(self, self.call(self.handle.get_root_directory))

    def times(self, handle: Any) -> tuple[int, int, int, int]:
        """Access, modification, inode change and creation time of a file entry, in
        nanoseconds since 1970 (UTC)."""
        return (int(self.call(handle.get_access_time_as_integer)),
                int(self.call(handle.get_modification_time_as_integer)),
                int(self.call(handle.get_inode_change_time_as_integer)),
                int(self.call(handle.get_creation_time_as_integer)))

    def size(self, handle: Any, inode: int, kind: str) -> int:
        """The size (bytes) listed for a file entry of type ``kind``."""
        return int(self.call(handle.get_size))

    def where(self, fs: FileSystem) -> str:
        """The place messages name: the image, the volume and the offset."""
        return fs.where()


def _time(nanoseconds: int) -> tuple[datetime | None, int]:
    """Nanoseconds since 1970 as a UTC datetime (None for 0, as TSK; None too for a
    damaged time beyond what a datetime holds) and whole seconds."""
    if not nanoseconds:
        return None, 0
    seconds, nano = divmod(nanoseconds, 1_000_000_000)
    try:
        return _EPOCH + timedelta(seconds=seconds, microseconds=nano // 1000), seconds
    except OverflowError:
        return None, seconds


def _entry(fs: FileSystem, file: LibyalFile, name: str, raw: bytes, parent: str) -> Entry:
    """The :class:`Entry` of one name; ``OSError`` if its inode cannot be read."""
    volume, handle, call = file.volume, file.handle, file.volume.call
    inode = volume.number(handle)
    mode = int(call(handle.get_file_mode))
    kind, letter = _TYPES.get(mode & 0o170000, ("unknown", "-"))
    (atime, a), (mtime, m), (ctime, c), (crtime, cr) = map(_time, volume.times(handle))
    size = volume.size(handle, inode, kind)
    link = None
    if kind == "symlink":
        target = call(handle.get_symbolic_link_target)
        link = str(target) if target is not None else ""
    return Entry(
        inode=inode, path=f"{parent}{name}", name=name, type=kind,
        size=size, deleted=False, mtime=mtime, atime=atime,
        ctime=ctime, crtime=crtime, name_allocated=True, meta_allocated=True,
        fs_offset=fs.offset, name_type=letter, meta_type=letter, mode=mode & 0o7777,
        uid=int(call(handle.get_owner_identifier)), gid=int(call(handle.get_group_identifier)),
        link=link, raw_name=raw, parent=parent, epoch_times=(a, m, c, cr))


def _name(file: LibyalFile) -> tuple[str, bytes]:
    """The name and its bytes. The libraries give no bytes, and refuse a name they cannot
    decode (libfsxfs: one that is not UTF-8): such a name is listed as
    ``$unreadable-name-INODE`` rather than dropped."""
    try:
        name = file.volume.call(file.handle.get_name)
    except OSError:
        name = None
    if name is None:
        name = f"$unreadable-name-{file.volume.number(file.handle)}"
    text = str(name)
    return text, text.encode("utf-8", "surrogateescape")


def walk(
    fs: FileSystem,
    *,
    recursive: bool = True,
    start_inode: int | None = None,
    on_problem: Callable[[WalkProblem], None] | None = None,
) -> Iterator[tuple[Entry, LibyalFile]]:
    """Every name under the root (or ``start_inode``), depth first in directory order,
    each with its :class:`LibyalFile`; as :func:`~dalil.engine.forensics.walk.walk_files`:
    iterative, loop-safe, a damaged directory or entry is reported and skipped. Live
    entries only (``deleted=False``): neither library recovers deleted ones."""
    backend: LibyalVolume = fs.tsk
    root = fs.root_inode if start_inode is None else start_inode

    def report(path: str, inode: int, message: str) -> None:
        if on_problem is not None:
            on_problem(WalkProblem(path or "/", inode, f"{backend.where(fs)}: directory "
                                                       f"/{path} (inode {inode}): {message}"))

    def children(directory: LibyalFile, path: str, inode: int) -> int | None:
        try:
            return int(backend.call(directory.handle.get_number_of_sub_file_entries))
        except OSError as exc:
            report(path, inode, str(exc))
            return None

    try:
        top = backend.root() if start_inode is None else backend.open_meta(root)
    except OSError as exc:
        report("", root, str(exc))
        return
    count = children(top, "", root)
    if count is None:
        return
    # Each frame: the directory, its number of entries, the next index, its path prefix,
    # its inode.
    stack: list[list[Any]] = [[top, count, 0, "", root]]
    chain = {root}
    while stack:
        frame = stack[-1]
        directory, count, index, prefix, dir_inode = frame
        if index >= count:
            stack.pop()
            chain.discard(dir_inode)
            continue
        frame[2] = index + 1
        try:
            child = LibyalFile(backend, backend.call(directory.handle.get_sub_file_entry,
                                                     index))
            name, raw = _name(child)
            entry = _entry(fs, child, name, raw, prefix)
        except OSError as exc:
            report(prefix.rstrip("/"), dir_inode, f"entry {index}: {exc}")
            continue
        yield entry, child
        if not recursive or entry.type != "directory" or len(stack) >= MAX_DEPTH:
            continue
        if entry.inode in chain:
            report(entry.path, entry.inode,
                   "directory loop: it is one of its own parent directories; not entered")
            continue
        sub_count = children(child, entry.path, entry.inode)
        if sub_count is not None:
            stack.append([child, sub_count, 0, f"{entry.path}/", entry.inode])
            chain.add(entry.inode)


def bare_entry(fs: FileSystem, inode: int) -> Entry:
    """An entry for ``inode`` that no name in the walk reaches (``$inode-N``);
    ``OSError`` if there is no such inode."""
    name = f"$inode-{inode}"
    entry = _entry(fs, fs.tsk.open_meta(inode=inode), name, name.encode(), "")
    return replace(entry, name_allocated=False)


def file_runs(fs: FileSystem, problems: list[str] | None = None
              ) -> Iterator[tuple[Entry, list[tuple[int, int, int]]]]:
    """Each regular file with content that the walk reaches, with its extents in file
    order as the library gives them: (start in the source in bytes, size in bytes,
    flags). A file whose extents cannot be read, and a damaged directory, is named in
    ``problems`` and skipped."""
    backend: LibyalVolume = fs.tsk
    on_problem = (lambda p: problems.append(p.message)) if problems is not None else None
    for entry, file in walk(fs, on_problem=on_problem):
        if entry.type != "file" or not entry.size:
            continue
        try:
            count = int(backend.call(file.handle.get_number_of_extents))
            runs = [_run(backend.call(file.handle.get_extent, i)) for i in range(count)]
        except OSError as exc:
            if problems is not None:
                problems.append(f"{backend.where(fs)}: {entry.path} (inode {entry.inode}): "
                                f"extents not readable: {exc}")
            continue
        yield entry, runs


def _run(extent: tuple[Any, Any, Any]) -> tuple[int, int, int]:
    start, size, flags = extent
    return int(start), int(size), int(flags)


def mapped_runs(fs: FileSystem, entry: Entry,
                runs: list[tuple[int, int, int]]) -> Iterator[Extent]:
    """The file's extents as media offsets, at their running offsets in the file (the
    sum of the sizes before them); a sparse run (a hole) has no place and is skipped."""
    file_offset = 0
    for start, size, flags in runs:
        if not flags & SPARSE:
            yield from _extent_runs(fs, entry, fs.offset + start, size, file_offset)
        file_offset += size


def _extent_runs(fs: FileSystem, entry: Entry, begin: int, length: int,
                 file_offset: int) -> Iterator[Extent]:
    """One extent as the file's bytes and, past the file's size, its slack."""
    inside = min(length, max(0, entry.size - file_offset))
    if inside:
        yield Extent(begin, begin + inside, fs.volume.index, fs.kind, entry.inode,
                     entry.address, entry.path, file_offset)
    if inside < length:
        yield Extent(begin + inside, begin + length, fs.volume.index, fs.kind, entry.inode,
                     entry.address, entry.path, file_offset + inside, slack=True)
