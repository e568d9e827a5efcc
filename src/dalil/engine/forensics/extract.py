"""Read file content out of a file system and extract it to a folder, safely.

Whatever the names inside the image (``../``, ``/``, NUL, control characters, invalid
UTF-8, names equal after Unicode normalisation or case folding), nothing is written
outside the output folder: every name goes through :func:`safe_component`, collisions get
deterministic ``~N`` suffixes, files are created with ``O_EXCL | O_NOFOLLOW`` and every
target is checked to resolve inside the folder. Each written file gets a provenance record.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytsk3

from dalil.engine.forensics.filesystem import FileSystem
from dalil.engine.forensics.walk import Entry, WalkProblem, walk

CHUNK = 1024 * 1024
MAX_NAME_BYTES = 200
PROVENANCE_FILE = "dalil-provenance.jsonl"
_UNSAFE = set('/\\:*?"<>|%')


class ExtractError(Exception):
    """The content cannot be read or written; the message names the file and the place."""


def safe_component(raw: bytes | str) -> str:
    """One path component that is safe to create on any common file system.

    Invalid UTF-8 bytes, control characters, separators and characters Windows refuses are
    written ``%XX`` (``%`` itself too, so the escaping is reversible); ``.``/``..`` and the
    empty name are escaped; the result is NFC and at most ``MAX_NAME_BYTES`` bytes.
    """
    text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # an invalid byte kept by surrogateescape
            out.append(f"%{code - 0xDC00:02X}")
        elif (code < 0x20 or code == 0x7F or char in _UNSAFE
              or unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp")):
            out.extend(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
        else:
            out.append(char)
    name = "".join(out)
    if name in ("", ".", ".."):
        name = "%2E" * len(name) if name else "%00"
    if name.endswith((" ", ".")):  # Windows drops these silently: keep the name distinct
        name = name[:-1] + f"%{ord(name[-1]):02X}"
    encoded = name.encode("utf-8")
    if len(encoded) > MAX_NAME_BYTES:
        digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        head = encoded[: MAX_NAME_BYTES - 17].decode("utf-8", "ignore")
        name = f"{head}~{digest}"
    return name


def _with_suffix(name: str, number: int) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        return f"{name}~{number}"
    return f"{stem}~{number}.{ext}"


class NameSpace:
    """Assigns unique safe names within each output directory, in the order asked."""

    def __init__(self) -> None:
        self._used: dict[str, set[str]] = {}

    def reserve(self, directory: str, name: str) -> None:
        self._used.setdefault(directory, set()).add(_key(name))

    def assign(self, directory: str, raw: bytes | str) -> str:
        used = self._used.setdefault(directory, set())
        name = safe_component(raw)
        candidate, number = name, 1
        while _key(candidate) in used:
            number += 1
            candidate = _with_suffix(name, number)
        used.add(_key(candidate))
        return candidate


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFKC", name).casefold())


@dataclass(frozen=True)
class ExtractedFile:
    """Provenance of one extracted file.

    ``layer`` says where inside the image file the file system lies when it is not
    directly in it (an LVM logical volume, a decrypted LUKS or BitLocker volume, a shadow
    copy: ``LVM logical volume root in volume at offset 1048576``; "" otherwise); then
    ``volume_index`` and ``volume_offset`` (bytes) are within that layer.
    """

    image: str
    volume_index: int
    volume_offset: int
    inode: int
    address: str
    path: str  # inside the file system, as fls prints it
    output: str  # relative to the output folder, POSIX separators
    size: int
    deleted: bool
    sha256: str
    md5: str
    complete: bool  # all ``size`` bytes were read
    error: str | None = None
    layer: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_content(fs: FileSystem, entry: Entry, tsk_file: Any = None) -> Iterator[bytes]:
    """The bytes of ``entry`` (its NTFS stream when it names one), in chunks.

    ``tsk_file``: the pytsk3 file :func:`~dalil.engine.forensics.walk.walk_files` gave
    with the entry (its metadata loaded), which spares looking the inode up again.
    """
    if entry.inode == 0 and entry.deleted:
        raise ExtractError(f"{fs.where()}: {entry.path}: deleted name with no metadata left, "
                           "content not recoverable")
    if fs.size and entry.size > max(fs.size, fs.image.size):
        # A size no file on this volume can have (a corrupt inode or MFT entry): reading
        # it would stream zeros for ever.
        raise ExtractError(f"{fs.where()}: {entry.path} (inode {entry.inode}): size "
                           f"{entry.size} bytes in its metadata is larger than the whole "
                           f"file system ({fs.size} bytes): absurd size, content not read")
    if tsk_file is None:
        try:
            tsk_file = fs.tsk.open_meta(inode=entry.inode)
        except OSError as exc:
            raise ExtractError(f"{fs.where()}: {entry.path} (inode {entry.inode}): "
                               f"{exc}") from exc
    offset = 0
    while offset < entry.size:
        length = min(CHUNK, entry.size - offset)
        try:
            if entry.attr_type is not None:
                data = tsk_file.read_random(offset, length, entry.attr_type, entry.attr_id)
            else:
                data = tsk_file.read_random(offset, length)
        except OSError as exc:
            raise ExtractError(f"{fs.where()}: {entry.path} (inode {entry.inode}): read "
                               f"error at file offset {offset}: {exc}") from exc
        if not data:
            raise ExtractError(f"{fs.where()}: {entry.path} (inode {entry.inode}): content "
                               f"ends at {offset} of {entry.size} bytes")
        yield bytes(data)
        offset += len(data)


def find_by_path(fs: FileSystem, path: str) -> Entry:
    """The entry at ``path`` (fls form, a leading ``/`` allowed); allocated names first."""
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts:
        raise ExtractError(f"{fs.where()}: empty path")
    directory: int | None = None
    found: Entry | None = None
    for depth, part in enumerate(parts):
        candidates = [e for e in walk(fs, recursive=False, start_inode=directory)
                      if e.name == part or e.path.rsplit("/", 1)[-1] == part]
        last = depth == len(parts) - 1
        if not last:
            candidates = [e for e in candidates if e.is_dir]
        if not candidates:
            raise ExtractError(f"{fs.where()}: no such path: {path}")
        candidates.sort(key=lambda e: (e.deleted, e.stream is not None))
        if last and ":" in part:
            exact = [e for e in candidates if e.path.rsplit("/", 1)[-1] == part]
            candidates = exact or candidates
        found = candidates[0]
        directory = found.inode
    assert found is not None
    return found


def find_by_inode(fs: FileSystem, inode: int) -> Entry:
    """An entry for metadata address ``inode``: its first name in the walk, else a bare one."""
    for entry in walk(fs):
        if entry.inode == inode and entry.stream is None:
            return entry
    if fs.kind in ("xfs", "apfs"):
        # Imported here: the xfs and apfs modules build on the walk (Entry).
        from dalil.engine.forensics import apfs, xfs

        bare_entry = xfs.bare_entry if fs.kind == "xfs" else apfs.bare_entry
        try:
            return bare_entry(fs, inode)
        except OSError as exc:
            raise ExtractError(f"{fs.where()}: no inode {inode}: {exc}") from exc
    try:
        tsk_file = fs.tsk.open_meta(inode=inode)
    except OSError as exc:
        raise ExtractError(f"{fs.where()}: no inode {inode}: {exc}") from exc
    meta = tsk_file.info.meta
    if meta is None:
        raise ExtractError(f"{fs.where()}: inode {inode} has no metadata")
    return Entry(inode=inode, path=f"$inode-{inode}", name=f"$inode-{inode}", type="file",
                 size=int(meta.size), deleted=False, mtime=None, atime=None, ctime=None,
                 crtime=None, name_allocated=False,
                 meta_allocated=bool(int(meta.flags) & int(pytsk3.TSK_FS_META_FLAG_ALLOC)),
                 fs_offset=fs.offset)


def _write(fs: FileSystem, entry: Entry, target: Path, relative: str) -> ExtractedFile:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    written, error = 0, None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(target, flags, 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        try:
            for chunk in read_content(fs, entry):
                handle.write(chunk)
                sha256.update(chunk)
                md5.update(chunk)
                written += len(chunk)
        except ExtractError as exc:
            error = str(exc)
    return ExtractedFile(
        image=fs.image.path, volume_index=fs.volume.index, volume_offset=fs.offset,
        inode=entry.inode, address=entry.address, path=entry.path, output=relative,
        size=entry.size, deleted=entry.deleted, sha256=sha256.hexdigest(),
        md5=md5.hexdigest(), complete=error is None and written == entry.size, error=error,
        layer=fs.image.layer,
    )


def _inside(root: Path, target: Path) -> None:
    resolved = target.resolve()
    if resolved != root and root not in resolved.parents:
        raise ExtractError(f"refusing to write outside {root}: {target}")


def _extractable(entry: Entry) -> bool:
    return entry.type == "file" and not entry.times_from_file_name


def extract_file(fs: FileSystem, entry: Entry, outdir: str | os.PathLike[str]) -> ExtractedFile:
    """Write one file's content into ``outdir`` under a safe name."""
    root = Path(outdir)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    names = NameSpace()
    for existing in root.iterdir():
        names.reserve("", existing.name)
    name = names.assign("", entry.raw_name or entry.name.encode("utf-8"))
    if entry.stream:
        name = names.assign("", f"{name}:{entry.stream}".encode())
    target = root / name
    _inside(root, target)
    return _write(fs, entry, target, name)


def extract_all(
    fs: FileSystem,
    outdir: str | os.PathLike[str],
    *,
    include_deleted: bool = False,
    on_problem: Callable[[WalkProblem], None] | None = None,
    on_file: Callable[[ExtractedFile], None] | None = None,
) -> Iterator[ExtractedFile]:
    """Extract every regular file (and, with ``include_deleted``, deleted ones) into
    ``outdir``, mirroring the directory tree; writes ``dalil-provenance.jsonl`` there."""
    root = Path(outdir)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    if any(root.iterdir()):
        raise ExtractError(f"{root}: the output folder is not empty")
    names = NameSpace()
    names.reserve("", PROVENANCE_FILE)
    folders: dict[str, str] = {"": ""}  # image directory path -> output relative path
    with open(root / PROVENANCE_FILE, "x", encoding="utf-8") as manifest:
        for entry in walk(fs, on_problem=on_problem):
            if entry.deleted and not include_deleted:
                continue
            parent = folders.get(entry.parent)
            if parent is None:
                continue  # its directory was not extracted (deleted, or not a directory)
            if entry.is_dir:
                relative = _join(parent, names.assign(parent, entry.raw_name))
                (root / relative).mkdir()
                _inside(root, root / relative)
                folders[entry.path + "/"] = relative
                continue
            if not _extractable(entry):
                continue
            if entry.meta_type is None:
                record = ExtractedFile(
                    image=fs.image.path, volume_index=fs.volume.index,
                    volume_offset=fs.offset, inode=entry.inode, address=entry.address,
                    path=entry.path, output="", size=0, deleted=entry.deleted, sha256="",
                    md5="", complete=False,
                    error="deleted name with no metadata left: content not recoverable",
                    layer=fs.image.layer,
                )
                manifest.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
                yield record
                continue
            raw = entry.raw_name if entry.stream is None else (
                entry.raw_name + b":" + entry.stream.encode("utf-8"))
            relative = _join(parent, names.assign(parent, raw))
            target = root / relative
            _inside(root, target)
            record = _write(fs, entry, target, relative)
            manifest.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            manifest.flush()
            if on_file is not None:
                on_file(record)
            yield record


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name
