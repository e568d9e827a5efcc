"""Refusing hostile ZIP archives before a single byte of their content is used.

A bundle comes from outside: from a partner abroad, by mail, on a USB stick. Its central
directory is checked first, against everything that has hurt unzip tools: paths that climb
out of the target directory (zip slip), absolute and Windows paths, control characters,
symbolic links, names that collide on a case-insensitive or Unicode-normalising file system,
encrypted entries, overlapping entries and compression bombs.
"""

from __future__ import annotations

import itertools
import re
import stat
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

_DRIVE = re.compile(r"^[A-Za-z]:")
# Characters Windows refuses in names, and which some unzip tools turn into separators.
_RESERVED = frozenset('<>:"|?*')
_LOCAL_HEADER = 30  # bytes of a local file header before its name and extra field


class BundleError(Exception):
    """A bundle cannot be written or read; the message names the file or entry."""


class UnsafeArchive(BundleError):
    """The archive is refused as hostile or damaged; nothing of it has been used."""


@dataclass(frozen=True)
class Limits:
    """What a bundle may declare. Sizes in bytes; ``max_ratio`` uncompressed/compressed.

    The ratio only applies above ``ratio_floor`` bytes: small JSON documents compress well
    and are harmless. Dalil stores exhibit bytes uncompressed, so its own bundles never
    come near the ratio, whereas a bomb needs ratios in the hundreds or thousands.
    """

    max_entries: int = 100_000
    max_entry_size: int = 8 * TiB
    max_total_size: int = 32 * TiB
    max_ratio: int = 100
    ratio_floor: int = 1 * MiB
    max_name_length: int = 1024  # characters, whole path
    max_document_size: int = 256 * MiB  # manifest and custody log, read into memory


DEFAULT_LIMITS = Limits()


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")


def name_problem(name: str, max_length: int = Limits.max_name_length) -> str | None:
    """Why ``name`` is not a safe relative archive path, or None when it is.

    Safe means: relative, ``/``-separated, no empty, ``.`` or ``..`` component, no
    backslash, drive letter, control or format character, or Windows-reserved character.
    """
    if not name:
        return "empty name"
    if len(name) > max_length:
        return f"name longer than {max_length} characters"
    if any(_is_control(c) for c in name):
        return "control character in name"
    if "\\" in name:
        return "backslash in name"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name):
        return "drive letter in name"
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return "path climbs out of the bundle" if part == ".." else "empty or '.' path part"
        if any(c in _RESERVED for c in part):
            return "reserved character in name"
        if part != part.rstrip(" ."):
            return "path part ends with a space or dot"
    return None


def collision_key(name: str) -> str:
    """Names equal under this key land on the same file on some file system."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFC", name)).casefold()


def safe_component(text: str, fallback: str = "file", max_length: int = 200) -> str:
    """A single safe path component made from a user-supplied name (shown, not trusted)."""
    cleaned = "".join(
        "_" if (c in _RESERVED or c in "/\\" or _is_control(c)) else c
        for c in unicodedata.normalize("NFC", text)
    )
    cleaned = cleaned[:max_length].strip(" .")
    if _DRIVE.match(cleaned):
        cleaned = "_" + cleaned[1:]
    return cleaned or fallback


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def _entry_problems(info: zipfile.ZipInfo, limits: Limits) -> list[str]:
    # orig_filename is the name as stored: zipfile cuts ``filename`` at a NUL byte (and on
    # Windows turns backslashes into slashes), which would hide exactly what is checked here.
    name = info.orig_filename
    problems = []
    if reason := name_problem(name.rstrip("/") if info.is_dir() else name,
                              limits.max_name_length):
        problems.append(f"{name!r}: unsafe name ({reason})")
    if info.is_dir():
        problems.append(f"{name!r}: directory entries are not part of a bundle")
    if _is_symlink(info):
        problems.append(f"{name!r}: symbolic link")
    if info.flag_bits & 0x41:  # bit 0: encrypted; bit 6: strong encryption
        problems.append(f"{name!r}: encrypted entry")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        problems.append(f"{name!r}: unsupported compression method {info.compress_type}")
    if info.file_size > limits.max_entry_size:
        problems.append(f"{name!r}: declares {info.file_size} bytes, more than the limit of "
                        f"{limits.max_entry_size}")
    elif (info.file_size > limits.ratio_floor
          and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
        problems.append(f"{name!r}: compression ratio above {limits.max_ratio}:1 "
                        "(a compression bomb)")
    return problems


def _overlap_problems(infos: Sequence[zipfile.ZipInfo], directory_start: int | None) -> list[str]:
    """Entries whose data overlaps the next entry (the trick of non-recursive zip bombs)."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    problems = []
    for current, following in itertools.pairwise(ordered):
        end = (current.header_offset + _LOCAL_HEADER + len(current.orig_filename.encode())
               + current.compress_size)
        if end > following.header_offset:
            problems.append(f"{current.filename!r}: overlaps entry {following.filename!r}")
    if ordered and directory_start is not None:
        last = ordered[-1]
        end = (last.header_offset + _LOCAL_HEADER + len(last.orig_filename.encode())
               + last.compress_size)
        if end > directory_start:
            problems.append(f"{last.filename!r}: runs into the central directory")
    return problems


def check_archive(archive: zipfile.ZipFile, limits: Limits) -> list[str]:
    """Every reason to refuse this archive, from its central directory alone."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        return [f"{len(infos)} entries, more than the limit of {limits.max_entries}"]
    problems: list[str] = []
    seen: dict[str, str] = {}
    total = 0
    for info in infos:
        problems.extend(_entry_problems(info, limits))
        key = collision_key(info.filename)
        if key in seen:
            other = seen[key]
            what = "duplicate name" if other == info.filename else f"collides with {other!r}"
            problems.append(f"{info.filename!r}: {what}")
        seen.setdefault(key, info.filename)
        total += info.file_size
    if total > limits.max_total_size:
        problems.append(f"declares {total} bytes in all, more than the limit of "
                        f"{limits.max_total_size}")
    # start_dir is where CPython found the central directory; absent in other zipfiles.
    directory_start = getattr(archive, "start_dir", None)
    problems.extend(_overlap_problems(infos, directory_start
                                      if isinstance(directory_start, int) else None))
    return problems
