"""Timeline output: TSK bodyfile lines, as ``fls -r -m /`` writes them.

``MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime``; the MD5 column is
``0`` as in fls (hashing is a separate step); times are Unix seconds, 0 when absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from dalil.engine.forensics.filesystem import FileSystem
from dalil.engine.forensics.walk import Entry, WalkProblem, walk

_S_ISUID, _S_ISGID, _S_ISVTX = 0o4000, 0o2000, 0o1000


def mode_string(entry: Entry) -> str:
    """``tsk_fs_meta_make_ls``: the metadata type letter then ``rwxrwxrwx`` with s/S/t/T."""
    if entry.meta_type is None:
        return "----------"
    mode = entry.mode
    chars = [entry.meta_type, "-", "-", "-", "-", "-", "-", "-", "-", "-"]
    for base, shift, special, letter in ((1, 6, _S_ISUID, "s"), (4, 3, _S_ISGID, "s"),
                                        (7, 0, _S_ISVTX, "t")):
        if mode & (0o4 << shift):
            chars[base] = "r"
        if mode & (0o2 << shift):
            chars[base + 1] = "w"
        executable = bool(mode & (0o1 << shift))
        if mode & special:
            chars[base + 2] = letter if executable else letter.upper()
        elif executable:
            chars[base + 2] = "x"
    return "".join(chars)


def bodyfile_line(entry: Entry, prefix: str = "/") -> str:
    """One bodyfile line for ``entry`` (``prefix`` as fls ``-m``: a mount point)."""
    name = f"{prefix}{entry.path}"
    if entry.times_from_file_name:
        name += " ($FILE_NAME)"
    if entry.link is not None and entry.meta_type == "l":
        name += f" -> {entry.link}"
    if entry.deleted:
        name += " (realloc)" if entry.meta_allocated else " (deleted)"
    if entry.meta_type is None:
        rest = "0|0|0|0|0|0|0"
    else:
        atime, mtime, ctime, crtime = entry.epoch_times
        rest = f"{entry.uid}|{entry.gid}|{entry.size}|{atime}|{mtime}|{ctime}|{crtime}"
    return f"0|{name}|{entry.address}|{entry.name_type}/{mode_string(entry)}|{rest}"


def bodyfile(fs: FileSystem, prefix: str = "/",
             on_problem: Callable[[WalkProblem], None] | None = None) -> Iterator[str]:
    """Every bodyfile line of the file system, in ``fls -r -m`` order (no newlines)."""
    for entry in walk(fs, file_name_times=fs.is_ntfs, on_problem=on_problem):
        yield bodyfile_line(entry, prefix)
