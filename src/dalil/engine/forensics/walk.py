"""Walk every name of a file system, allocated and deleted, like ``fls -r -p``.

The walk is iterative (a stack of directory iterators, never recursion), keeps only the
current chain of directories in memory, refuses to enter a directory already on that
chain (a loop), and reports a damaged directory through ``on_problem`` and goes on.
Order, paths and NTFS streams follow The Sleuth Kit's ``fls`` so that both can be diffed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Container, Iterator
from dataclasses import MISSING, dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import pytsk3

from dalil.engine.forensics.filesystem import FileSystem

# The letters TSK prints for name and metadata types, indexed by the enum value.
NAME_TYPE_LETTERS = ("-", "p", "c", "d", "b", "r", "l", "h", "s", "w", "v", "V")
META_TYPE_LETTERS = ("-", "r", "d", "p", "c", "b", "l", "s", "h", "w", "v", "V")
_META_TYPE_WORDS = ("unknown", "file", "directory", "fifo", "char-device", "block-device",
                    "symlink", "shadow", "socket", "whiteout", "virtual", "virtual-directory")
_NAME_TYPE_WORDS = ("unknown", "fifo", "char-device", "directory", "block-device", "file",
                    "symlink", "socket", "shadow", "whiteout", "virtual", "virtual-directory")

_NAME_ALLOC = int(pytsk3.TSK_FS_NAME_FLAG_ALLOC)
_NAME_UNALLOC = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_META_ALLOC = int(pytsk3.TSK_FS_META_FLAG_ALLOC)
_META_UNALLOC = int(pytsk3.TSK_FS_META_FLAG_UNALLOC)
_META_DIR = int(pytsk3.TSK_FS_META_TYPE_DIR)
_META_VIRT_DIR = int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR)
_NAME_DIR = int(pytsk3.TSK_FS_NAME_TYPE_DIR)
_NAME_UNDEF = int(pytsk3.TSK_FS_NAME_TYPE_UNDEF)
_NAME_VIRT_DIR = int(pytsk3.TSK_FS_NAME_TYPE_VIRT_DIR)
ATTR_NTFS_FNAME = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_FNAME)
ATTR_NTFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA)
ATTR_NTFS_IDXROOT = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_IDXROOT)
MAX_DEPTH = 128  # as TSK's directory walk
OWN_WALKERS = ("xfs", "apfs")  # walked by their libyal library, not TSK
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_CONTROL_TO_CARET = bytes(0x5E if b < 0x20 else b for b in range(256))


def sanitize(raw: bytes) -> str:
    """A name as ``fls`` prints it: control bytes become ``^``; invalid UTF-8 is replaced."""
    return raw.translate(_CONTROL_TO_CARET).decode("utf-8", "replace")


@lru_cache(maxsize=1 << 16)
def _time(seconds: int, nano: int) -> datetime | None:
    # Cached: the files of one directory, one copy or one installer share their times, and
    # building the datetime is a fifth of a listing's time.
    if not seconds and not nano:
        return None
    try:
        return _UNIX_EPOCH + timedelta(seconds=seconds, microseconds=nano // 1000)
    except OverflowError:  # a damaged inode's time beyond year 9999: no time, not a crash
        return None


@lru_cache(maxsize=1 << 16)
def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (microseconds when the file system has them)."""
    return value.isoformat().replace("+00:00", "Z") if value else None


@dataclass(frozen=True)
class Entry:
    """One name in a file system (and, on NTFS, one of its data streams)."""

    inode: int
    path: str  # as ``fls -p`` prints it: no leading slash, ``dir/name[:stream]``
    name: str
    type: str  # file, directory, symlink, ... (from the metadata, else from the name)
    size: int
    deleted: bool  # the name is unallocated (``*`` in fls)
    mtime: datetime | None
    atime: datetime | None
    ctime: datetime | None
    crtime: datetime | None
    name_allocated: bool
    meta_allocated: bool | None  # None: no metadata (the name points nowhere usable)
    fs_offset: int
    name_type: str = "-"  # fls letters
    meta_type: str | None = None
    mode: int = 0
    uid: int = 0
    gid: int = 0
    link: str | None = None
    attr_type: int | None = None  # NTFS attribute type and id (fls ``4-128-4``)
    attr_id: int | None = None
    stream: str | None = None  # NTFS alternate data stream name
    short_name: str | None = None
    raw_name: bytes = b""
    parent: str = ""  # the directory's path, same form as ``path``
    times_from_file_name: bool = False  # NTFS $FILE_NAME times (bodyfile only)
    epoch_times: tuple[int, int, int, int] = field(default=(0, 0, 0, 0))  # a, m, c, cr

    @property
    def address(self) -> str:
        """The address as ``fls`` prints it: ``13`` or, on NTFS, ``4-128-4``."""
        if self.attr_type is None:
            return str(self.inode)
        return f"{self.inode}-{self.attr_type}-{self.attr_id}"

    @property
    def reallocated(self) -> bool:
        return self.deleted and bool(self.meta_allocated)

    @property
    def is_dir(self) -> bool:
        return self.type in ("directory", "virtual-directory") and self.stream is None

    def to_dict(self) -> dict[str, Any]:
        iso = iso_utc
        return {
            "inode": self.inode,
            "address": self.address,
            "path": self.path,
            "type": self.type,
            "size": self.size,
            "deleted": self.deleted,
            "mtime": iso(self.mtime),
            "atime": iso(self.atime),
            "ctime": iso(self.ctime),
            "crtime": iso(self.crtime),
            "name_allocated": self.name_allocated,
            "meta_allocated": self.meta_allocated,
            "fs_offset": self.fs_offset,
        }


# A frozen dataclass sets each field through object.__setattr__: for Entry's 29 fields
# that is 10 us per entry, most of a listing's time. The walk fills the instance's
# __dict__ directly instead (the same object: equal, hashable, still read-only to users).
_ENTRY_DEFAULTS = {f.name: f.default for f in dataclass_fields(Entry)
                   if f.default is not MISSING}
_new_object = object.__new__


def _entry(values: dict[str, Any], **more: Any) -> Entry:
    item: Entry = _new_object(Entry)
    attributes = item.__dict__
    attributes.update(_ENTRY_DEFAULTS)
    attributes.update(values)
    attributes.update(more)
    return item


@dataclass(frozen=True)
class WalkProblem:
    """A directory the walk could not read (it went on without it)."""

    path: str
    inode: int
    message: str


def _letter(table: tuple[str, ...], value: int) -> str:
    return table[value] if 0 <= value < len(table) else "-"


def _filetimes(data: bytes) -> tuple[int, int, int, int] | None:
    """$FILE_NAME times as (atime, mtime, ctime, crtime) in Unix seconds."""
    if len(data) < 40:
        return None
    crtime, mtime, ctime, atime = struct.unpack_from("<4Q", data, 8)

    def unix(value: int) -> int:
        return max(0, (value - 116444736000000000) // 10_000_000) if value else 0

    return unix(atime), unix(mtime), unix(ctime), unix(crtime)


def _entries_of(fs: FileSystem, tsk_file: Any, parent: str, file_name_times: bool,
                raw: bytes | None = None, info: Any = None,
                name: Any = None) -> tuple[Any, list[Entry]]:
    """The entries ``fls`` prints for one name (several on NTFS: one per stream), and the
    TSK file they come from (its metadata loaded, for reading their content).

    Each attribute of a pytsk3 object is a call into the binding that builds a new wrapper:
    each is read once (``info`` and ``name`` come from the walk when it has them).
    """
    if info is None:
        info = tsk_file.info
    if name is None:
        name = info.name
    meta = info.meta
    inode = name.meta_addr
    if meta is None and inode:
        # Orphan files come with their metadata unloaded: load it as fls does.
        try:
            tsk_file = fs.tsk.open_meta(inode=inode)
            meta = tsk_file.info.meta
        except OSError:
            meta = None
    if raw is None:
        raw = bytes(name.name)
    short = name.shrt_name
    name_flags = name.flags
    name_type = name.type
    text = sanitize(raw)
    path = f"{parent}{text}"
    deleted = bool(name_flags & _NAME_UNALLOC)
    name_allocated = bool(name_flags & _NAME_ALLOC)
    name_letter = _letter(NAME_TYPE_LETTERS, name_type)
    short_name = sanitize(bytes(short)) if short else None
    offset = fs.offset
    if meta is None:
        return tsk_file, [_entry({
            "inode": inode, "path": path, "name": text,
            "type": _letter(_NAME_TYPE_WORDS, name_type), "size": 0, "deleted": deleted,
            "mtime": None, "atime": None, "ctime": None, "crtime": None,
            "name_allocated": name_allocated, "meta_allocated": None, "fs_offset": offset,
            "name_type": name_letter, "short_name": short_name, "raw_name": raw,
            "parent": parent})]
    meta_type = meta.type
    atime, mtime, ctime, crtime = meta.atime, meta.mtime, meta.ctime, meta.crtime
    link = meta.link
    base: dict[str, Any] = {
        "inode": inode, "name": text, "deleted": deleted, "name_allocated": name_allocated,
        "fs_offset": offset, "name_type": name_letter, "short_name": short_name,
        "raw_name": raw, "parent": parent,
        "type": _letter(_META_TYPE_WORDS, meta_type),
        "mtime": _time(mtime, meta.mtime_nano),
        "atime": _time(atime, meta.atime_nano),
        "ctime": _time(ctime, meta.ctime_nano),
        "crtime": _time(crtime, meta.crtime_nano),
        "meta_allocated": bool(meta.flags & _META_ALLOC),
        "meta_type": _letter(META_TYPE_LETTERS, meta_type),
        "mode": int(meta.mode), "uid": meta.uid, "gid": meta.gid,
        "link": sanitize(bytes(link)) if link else None,
        "epoch_times": (atime, mtime, ctime, crtime),
    }
    if not fs.is_ntfs:
        return tsk_file, [_entry(base, path=path, size=meta.size)]
    entries: list[Entry] = []
    printed = False
    attributes = [(int(a.info.type), int(a.info.id), a.info.name, int(a.info.size))
                  for a in tsk_file]
    fname_id: int | None = None
    last_fname = [a for a in attributes if a[0] == ATTR_NTFS_FNAME][-1:]
    if last_fname:
        fname_id = last_fname[0][1]
    for attr_type, attr_id, attr_name, attr_size in attributes:
        stream = sanitize(bytes(attr_name)) if attr_name else None
        if attr_type == ATTR_NTFS_DATA:
            printed = True
            suffix = f":{stream}" if stream and stream != "$Data" else ""
            fields = dict(base)
            if meta_type == _META_DIR:
                fields["type"] = "file"
                fields["meta_type"] = "r"
            entries.append(_entry(fields, path=path + suffix, size=attr_size,
                                  attr_type=attr_type, attr_id=attr_id,
                                  stream=stream if suffix else None))
        elif attr_type == ATTR_NTFS_IDXROOT:
            printed = True
            suffix = f":{stream}" if stream and stream != "$I30" else ""
            entries.append(_entry(base, path=path + suffix, size=attr_size,
                                  attr_type=attr_type, attr_id=attr_id,
                                  stream=stream if suffix else None))
        elif attr_type == ATTR_NTFS_FNAME and attr_id == fname_id and file_name_times:
            try:
                content = tsk_file.read_random(0, attr_size, attr_type, attr_id)
            except OSError:
                continue
            times = _filetimes(bytes(content))
            if times is None:
                continue
            fields = dict(base)
            fields["epoch_times"] = times
            entries.append(_entry(fields, path=path, size=attr_size, attr_type=attr_type,
                                  attr_id=attr_id, times_from_file_name=True))
    if not printed:
        entries.append(_entry(base, path=path, size=int(meta.size)))
    return tsk_file, entries


def _recurse_into(tsk_file: Any) -> bool:
    """TSK's rule: a directory whose name is allocated, or both name and inode deleted."""
    name, meta = tsk_file.info.name, tsk_file.info.meta
    if meta is None:
        return False
    meta_type, name_type = int(meta.type), int(name.type)
    if meta_type == _META_VIRT_DIR and name_type == _NAME_VIRT_DIR:
        return True
    if meta_type != _META_DIR or name_type not in (_NAME_DIR, _NAME_UNDEF):
        return False
    name_flags, meta_flags = int(name.flags), int(meta.flags)
    return bool(name_flags & _NAME_ALLOC) or bool(
        name_flags & _NAME_UNALLOC and meta_flags & _META_UNALLOC
    )


def walk(
    fs: FileSystem,
    *,
    recursive: bool = True,
    start_inode: int | None = None,
    file_name_times: bool = False,
    on_problem: Callable[[WalkProblem], None] | None = None,
    top: Container[int] | None = None,
) -> Iterator[Entry]:
    """Yield every entry under the root (or ``start_inode``) in ``fls`` order.

    ``file_name_times`` adds NTFS ``$FILE_NAME`` pseudo-entries (for the bodyfile).
    ``top``: see :func:`walk_files`.
    """
    for entry, _ in walk_files(fs, recursive=recursive, start_inode=start_inode,
                               file_name_times=file_name_times, on_problem=on_problem,
                               top=top):
        yield entry


def count_top_names(fs: FileSystem) -> int:
    """How many names the root directory holds as the walk counts them for ``top`` (its
    own "." and ".." left out; TSK's virtual ``$OrphanFiles`` and the like counted)."""
    if fs.kind in OWN_WALKERS:
        raise ValueError(f"{fs.kind}: a walk of its own, not shared out by top names")
    try:
        directory = fs.tsk.open_dir(inode=fs.root_inode)
    except OSError:
        return 0
    return sum(1 for item in directory if bytes(item.info.name.name) not in (b".", b".."))


def walk_files(
    fs: FileSystem,
    *,
    recursive: bool = True,
    start_inode: int | None = None,
    file_name_times: bool = False,
    on_problem: Callable[[WalkProblem], None] | None = None,
    top: Container[int] | None = None,
) -> Iterator[tuple[Entry, Any]]:
    """:func:`walk`, each entry with the pytsk3 file it comes from (metadata loaded):
    its content can be read from it (``read_content(fs, entry, tsk_file)``) without
    looking the inode up again. The file is valid until the walk moves on.

    ``top``: only the names of the starting directory at these positions (counted as
    :func:`count_top_names` does), each with everything under it, in the same order: the
    walks of several ``top`` ranges, put one after the other, are the whole walk. This
    lets a listing be shared out between processes (not for XFS or APFS: ValueError).
    Each position is asked once, in order, when the walk reaches it: ``top`` may decide
    then (a claim shared with another process).
    """
    if top is not None and fs.kind in OWN_WALKERS:
        raise ValueError(f"{fs.kind}: a walk of its own, not shared out by top names")
    if fs.kind == "xfs":
        # Imported here: the xfs module builds on this one (Entry, WalkProblem).
        from dalil.engine.forensics.xfs import walk_xfs

        yield from walk_xfs(fs, recursive=recursive, start_inode=start_inode,
                            on_problem=on_problem)
        return
    if fs.kind == "apfs":
        # Imported here: the apfs module builds on this one (Entry, WalkProblem).
        from dalil.engine.forensics.apfs import walk_apfs

        yield from walk_apfs(fs, recursive=recursive, start_inode=start_inode,
                             on_problem=on_problem)
        return
    root = fs.root_inode if start_inode is None else start_inode

    def report(path: str, inode: int, exc: Exception | str) -> None:
        if on_problem is not None:
            message = " ".join(str(exc).split()) or repr(exc)
            on_problem(WalkProblem(path or "/", inode,
                                   f"{fs.where()}: directory /{path} (inode {inode}): "
                                   f"{message}"))

    try:
        directory_of_root = fs.tsk.open_dir(inode=root)
    except OSError as exc:
        report("", root, exc)
        return
    # Each frame: the directory's iterator, its path prefix, its inode.
    stack: list[tuple[Iterator[Any], str, int]] = [(iter(directory_of_root), "", root)]
    chain = {root}
    ntfs = fs.is_ntfs
    position = -1  # of the current name among the starting directory's
    while stack:
        iterator, prefix, dir_inode = stack[-1]
        try:
            tsk_file = next(iterator)
        except StopIteration:
            stack.pop()
            chain.discard(dir_inode)
            continue
        except OSError as exc:
            report(prefix.rstrip("/"), dir_inode, exc)
            stack.pop()
            chain.discard(dir_inode)
            continue
        info = tsk_file.info
        name = info.name
        raw = bytes(name.name)
        if raw in (b".", b".."):
            continue
        if len(stack) == 1:
            position += 1
            if top is not None and position not in top:
                continue  # another part's name, and what is under it
        meta_type: str | None = None
        loaded, entries = _entries_of(fs, tsk_file, prefix, file_name_times, raw, info, name)
        for entry in entries:
            meta_type = entry.meta_type
            yield entry, loaded
        if not recursive or len(stack) >= MAX_DEPTH:
            continue
        if not ntfs and meta_type not in ("d", "V"):
            continue  # not a directory (one entry, its metadata type): no need to ask TSK
        if not _recurse_into(tsk_file):
            continue
        inode = int(name.meta_addr)
        if inode in chain:
            # A directory loop: this inode is already being walked above us.
            report(f"{prefix}{sanitize(raw)}", inode,
                   "directory loop: it is one of its own parent directories; not entered")
            continue
        child_path = f"{prefix}{sanitize(raw)}/"
        try:
            directory = tsk_file.as_directory()
        except OSError as exc:
            report(child_path.rstrip("/"), inode, exc)
            continue
        stack.append((iter(directory), child_path, inode))
        chain.add(inode)


class Walk:
    """A walk that keeps the problems it met alongside the entries it yields.

    ``for entry in (w := Walk(fs)): ...`` then ``w.problems`` lists every directory that
    could not be read (its path, inode and a message naming image, volume and offset).
    """

    def __init__(self, fs: FileSystem, *, recursive: bool = True,
                 start_inode: int | None = None, file_name_times: bool = False) -> None:
        self.fs = fs
        self.problems: list[WalkProblem] = []
        self._options: dict[str, Any] = {"recursive": recursive, "start_inode": start_inode,
                                         "file_name_times": file_name_times}

    def __iter__(self) -> Iterator[Entry]:
        return walk(self.fs, on_problem=self.problems.append, **self._options)
