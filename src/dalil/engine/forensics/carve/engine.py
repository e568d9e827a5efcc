"""The carving run: stream the space, find headers, carve, validate, write, audit.

Memory stays constant: the space is read in chunks of ``chunk_size`` bytes plus the
longest signature minus one (so that a header across a chunk boundary is found once, in
the chunk where it starts), and each candidate is copied out in 1 MiB pieces. Candidates
are taken in offset order; the inside of a file that validated is not carved again (the
thumbnail inside a JPEG, the members of a ZIP), the inside of a rejected one is.

In OUTDIR: ``<offset>.<ext>`` per valid file (``offset``: bytes from the start of the
image), ``dalil-carve.jsonl`` (one line per candidate, valid or not, written as it goes),
``dalil-carve.json`` (the manifest, at the end) and, while running,
``dalil-carve.checkpoint.json`` from which ``resume=True`` goes on after an interruption.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dalil import __version__
from dalil.engine.evidence.hashing import hash_stream
from dalil.engine.forensics.carve import gif, jpeg, pdf, png, sqlite, zip
from dalil.engine.forensics.carve.base import Format
from dalil.engine.forensics.carve.search import HeaderSearch
from dalil.engine.forensics.carve.space import (
    Space,
    SpaceError,
    logical_space,
    unallocated_space,
    volume_space,
    whole_space,
)
from dalil.engine.forensics.image import Image, ImageError, open_image

FORMATS: dict[str, Format] = {f.name: f for f in (
    jpeg.FORMAT, png.FORMAT, gif.FORMAT, pdf.FORMAT, zip.FORMAT, sqlite.FORMAT)}
ALIASES = {"jpeg": "jpg", "ooxml": "zip", "docx": "zip", "xlsx": "zip", "pptx": "zip",
           "sqlite3": "sqlite", "db": "sqlite"}
AUDIT_FILE = "dalil-carve.jsonl"
MANIFEST_FILE = "dalil-carve.json"
CHECKPOINT_FILE = "dalil-carve.checkpoint.json"
DEFAULT_CHUNK = 16 * 1024 * 1024
COPY_BLOCK = 1024 * 1024

Progress = Callable[[int, int], None]
"""``progress(bytes_scanned, bytes_to_scan)``, after every chunk."""


class CarveError(Exception):
    """Carving cannot start or go on; the message names the image or folder at fault."""


def parse_types(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"jpg,png"`` -> ``("jpg", "png")``; None or empty -> every type. Unknown -> error."""
    if spec is None:
        return tuple(FORMATS)
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in items:
        key = item.strip().lower().lstrip(".")
        if not key:
            continue
        key = ALIASES.get(key, key)
        if key not in FORMATS:
            raise ValueError(f"unknown file type {item.strip()!r} "
                             f"(known: {', '.join(FORMATS)})")
        if key not in names:
            names.append(key)
    return tuple(names) or tuple(FORMATS)


@dataclass(frozen=True)
class CarveOptions:
    types: tuple[str, ...] = tuple(FORMATS)
    unallocated: bool = False  # only the unallocated space of the file system(s)
    volume: int | None = None  # one volume (mmls slot); with unallocated, its free space
    logical: int | str | None = None  # an LVM logical volume (index or name) or VSS snapshot
    chunk_size: int = DEFAULT_CHUNK
    search_engine: str = "auto"
    resume: bool = False
    hash_source: bool = True  # md5 + sha256 of the media, for the manifest

    def fingerprint(self) -> dict[str, Any]:
        found = {"types": list(self.types), "unallocated": self.unallocated,
                 "volume": self.volume}
        if self.logical is not None:  # absent otherwise: older checkpoints still resume
            found["logical"] = self.logical
        return found


@dataclass
class CarvedFile:
    """One candidate: a valid carved file (``name`` set) or a rejected one (``reason``)."""

    type: str
    offset: int  # bytes from the start of the image (first byte of the header)
    length: int | None  # None: no end found within the type's bound
    valid: bool
    name: str | None = None  # file name inside OUTDIR
    sha256: str | None = None
    md5: str | None = None
    reason: str | None = None  # why it was rejected
    extents: list[list[int]] = field(default_factory=list)  # [image offset, length] pieces
    virtual_offset: int = 0  # offset in the carved space (= offset in whole-image mode)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CarveReport:
    image: dict[str, Any]
    outdir: str
    space: dict[str, Any]
    options: dict[str, Any]
    files: list[CarvedFile]
    started: str
    finished: str
    complete: bool  # False if cancelled (resume with resume=True)
    scanned: int  # bytes of the carved space scanned

    @property
    def valid(self) -> list[CarvedFile]:
        return [f for f in self.files if f.valid]

    def counts(self) -> dict[str, dict[str, int]]:
        table = {name: {"candidates": 0, "valid": 0, "rejected": 0}
                 for name in self.options["types"]}
        for item in self.files:
            row = table.setdefault(item.type, {"candidates": 0, "valid": 0, "rejected": 0})
            row["candidates"] += 1
            row["valid" if item.valid else "rejected"] += 1
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": {"name": "dalil.engine.forensics.carve", "version": __version__},
            "image": self.image,
            "outdir": self.outdir,
            "space": self.space,
            "options": self.options,
            "started": self.started,
            "finished": self.finished,
            "complete": self.complete,
            "scanned": self.scanned,
            "counts": self.counts(),
            "files": [f.to_dict() for f in self.files if f.valid],
            "rejected": [f.to_dict() for f in self.files if not f.valid],
        }


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class _ImageStream:
    """``read(size)`` over an :class:`Image`, for the hashing engine."""

    def __init__(self, image: Image) -> None:
        self._image = image
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        size = self._image.size - self._pos if size < 0 else size
        data = self._image.read(self._pos, size)
        self._pos += len(data)
        return data


class _SourceHasher(threading.Thread):
    """md5 + sha256 of the media in a thread of its own, beside the carving."""

    def __init__(self, path: str) -> None:
        super().__init__(name="carve-source-hash", daemon=True)
        self._path = path
        self.hashes: dict[str, str] = {}
        self.error: str | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            with open_image(self._path) as image:
                stream = _ImageStream(image)

                def check(done: int, total: int | None) -> None:
                    if self._stop_event.is_set():
                        raise InterruptedError("cancelled")

                result = hash_stream(stream, ("md5", "sha256"), check, name=self._path)
                self.hashes = dict(result.hashes)
        except InterruptedError:
            self.error = "not computed (cancelled)"
        except (ImageError, OSError) as exc:
            self.error = str(exc)

    def cancel(self) -> None:
        self._stop_event.set()


def _prepare_outdir(outdir: Path, resume: bool, image_path: Path) -> bool:
    """Create or check OUTDIR; True if a previous run is to be resumed."""
    if outdir.exists() and not outdir.is_dir():
        raise CarveError(f"{outdir}: exists and is not a folder")
    try:
        resolved_image = image_path.resolve()
        if resolved_image.is_relative_to(outdir.resolve()):
            raise CarveError(f"{outdir}: the image {image_path} is inside the output folder; "
                             "choose a folder elsewhere")
    except OSError:
        pass
    if outdir.is_dir():
        try:
            entries = [e.name for e in os.scandir(outdir)]
        except PermissionError as exc:
            raise CarveError(f"{outdir}: cannot read the output folder: permission denied"
                             ) from exc
        if entries:
            if resume and CHECKPOINT_FILE in entries:
                return True
            if resume:
                raise CarveError(f"{outdir}: nothing to resume (no {CHECKPOINT_FILE}); "
                                 "choose a new or empty folder")
            raise CarveError(f"{outdir}: the output folder is not empty ({len(entries)} "
                             "entries); choose a new or empty folder"
                             + (" (or resume the run)" if CHECKPOINT_FILE in entries else ""))
    else:
        try:
            outdir.mkdir(parents=True)
        except OSError as exc:
            raise CarveError(f"{outdir}: cannot create the output folder: "
                             f"{exc.strerror or exc}") from exc
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise CarveError(f"{outdir}: the output folder is not writable")
    return False


def _write_json(path: Path, document: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class _Run:
    def __init__(self, space: Space, outdir: Path, formats: Sequence[Format]) -> None:
        self.space = space
        self.outdir = outdir
        self.root = outdir.resolve()
        self.formats = formats

    def _target(self, name: str) -> Path:
        target = (self.root / name)
        if target.parent != self.root:  # names are built from numbers; belt and braces
            raise CarveError(f"{self.outdir}: refusing to write {name!r} outside the folder")
        return target

    def _copy(self, start: int, length: int, target: Path) -> tuple[str, str]:
        sha256, md5 = hashlib.sha256(), hashlib.md5()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(target, flags, 0o644)
        with os.fdopen(fd, "wb") as handle:
            pos, end = start, start + length
            while pos < end:
                data = self.space.read(pos, min(COPY_BLOCK, end - pos))
                if not data:
                    raise CarveError(f"{self.space.image.path}: read past the end at "
                                     f"carved offset {pos}")
                sha256.update(data)
                md5.update(data)
                handle.write(data)
                pos += len(data)
        return sha256.hexdigest(), md5.hexdigest()

    def carve_one(self, fmt: Format, start: int) -> CarvedFile:
        image_offset = self.space.to_image(start, 1)[0].offset
        limit = min(fmt.max_size, self.space.size - start)
        record = CarvedFile(fmt.name, image_offset, None, False, virtual_offset=start)
        try:
            length = fmt.find_end(self.space.read, start, limit)
        except ImageError as exc:
            record.reason = f"read error: {exc}"
            return record
        except Exception as exc:  # a parser bug must not end the run on hostile input
            record.reason = f"structure parser failed: {type(exc).__name__}: {exc}"
            return record
        if length is None or length <= 0:
            record.reason = "no valid structure or end within the type's bound"
            return record
        record.length = length
        record.extents = [[e.offset, e.length] for e in self.space.to_image(start, length)]
        partial = self._target(f".{image_offset}.{fmt.extension}.part")
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()  # a leftover of an interrupted run
        try:
            record.sha256, record.md5 = self._copy(start, length, partial)
            reason = fmt.validate(partial)
            if reason is not None:
                record.reason = reason
                partial.unlink()
                return record
            extension = fmt.refine_extension(partial) if fmt.refine_extension else fmt.extension
            name = f"{image_offset}.{extension}"
            number = 1
            while self._target(name).exists():
                name = f"{image_offset}~{number}.{extension}"
                number += 1
            os.rename(partial, self._target(name))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        record.name = name
        record.valid = True
        return record


def _load_previous(outdir: Path, checkpoint: dict[str, Any]) -> list[CarvedFile]:
    """Records of the interrupted run before its checkpoint; later ones are undone."""
    keep: list[CarvedFile] = []
    audit = outdir / AUDIT_FILE
    lines = audit.read_text(encoding="utf-8").splitlines() if audit.exists() else []
    for line in lines:
        try:
            record = CarvedFile(**json.loads(line))
        except (ValueError, TypeError):
            continue  # a line cut by the interruption
        if record.virtual_offset < checkpoint["next"]:
            keep.append(record)
        elif record.name:
            with contextlib.suppress(FileNotFoundError):
                (outdir / record.name).unlink()
    for leftover in outdir.glob(".*.part"):
        leftover.unlink()
    with open(audit, "w", encoding="utf-8") as handle:
        for record in keep:
            handle.write(json.dumps(record.to_dict()) + "\n")
    return keep


def build_space(image: Image, options: CarveOptions) -> Space:
    if options.logical is not None:
        return logical_space(image, options.volume, options.logical, options.unallocated)
    if options.unallocated:
        return unallocated_space(image, options.volume)
    if options.volume is not None:
        return volume_space(image, options.volume)
    return whole_space(image)


def carve(
    image_path: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    options: CarveOptions | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
) -> CarveReport:
    """Carve the chosen space of ``image_path`` into ``outdir``; see the module doc."""
    options = options or CarveOptions()
    formats = [FORMATS[name] for name in parse_types(options.types)]
    if options.chunk_size < 4096:
        raise ValueError("chunk_size must be at least 4096 bytes")
    source = Path(image_path)
    target = Path(outdir)
    if not source.is_file():
        raise CarveError(f"{source}: no such image file")
    resuming = _prepare_outdir(target, options.resume, source)
    is_cancelled: Callable[[], bool]
    if cancel is None:
        is_cancelled = lambda: False  # noqa: E731
    elif isinstance(cancel, threading.Event):
        is_cancelled = cancel.is_set
    else:
        is_cancelled = cancel
    started = _now()
    try:
        image = open_image(source)
    except ImageError as exc:
        raise CarveError(str(exc)) from exc
    hasher = _SourceHasher(str(source)) if options.hash_source else None
    try:
        try:
            space = build_space(image, options)
        except SpaceError as exc:
            raise CarveError(str(exc)) from exc
        search = HeaderSearch(formats, options.search_engine)
        run = _Run(space, target, formats)
        checkpoint_path = target / CHECKPOINT_FILE
        fingerprint = {"image": str(source), "size": image.size, **options.fingerprint()}
        files: list[CarvedFile] = []
        position = 0
        skip_until = 0
        if resuming:
            checkpoint = json.loads(checkpoint_path.read_text(encoding="utf-8"))
            if checkpoint.get("fingerprint") != fingerprint:
                raise CarveError(f"{target}: the interrupted run was of another image or "
                                 f"with other options ({checkpoint.get('fingerprint')})")
            files = _load_previous(target, checkpoint)
            position, skip_until = int(checkpoint["next"]), int(checkpoint["skip_until"])
        if hasher is not None:
            hasher.start()
        overlap = search.longest - 1
        complete = True
        with open(target / AUDIT_FILE, "a", encoding="utf-8") as audit:
            while position < space.size:
                if is_cancelled():
                    complete = False
                    break
                _write_json(checkpoint_path, {"fingerprint": fingerprint, "next": position,
                                              "skip_until": skip_until})
                data = space.read(position, options.chunk_size + overlap)
                if not data:
                    break
                limit = min(options.chunk_size, len(data))
                for at, fmt in search.find(data, limit):
                    start = position + at
                    if start < skip_until:
                        continue
                    record = run.carve_one(fmt, start)
                    files.append(record)
                    audit.write(json.dumps(record.to_dict()) + "\n")
                    if record.valid and record.length:
                        skip_until = start + record.length
                audit.flush()
                position += limit
                if progress is not None:
                    progress(position, space.size)
        if hasher is not None:
            if not complete:
                hasher.cancel()
            hasher.join()
        image_doc = {**image.info.to_dict()}
        image_doc["hashes"] = hasher.hashes if hasher else {}
        if hasher is not None and hasher.error:
            image_doc["hash_error"] = hasher.error
        report = CarveReport(
            image=image_doc,
            outdir=str(target),
            space=space.to_dict(),
            options={**options.fingerprint(), "types": [f.name for f in formats],
                     "chunk_size": options.chunk_size, "search_engine": search.engine,
                     "resumed": resuming},
            files=files,
            started=started,
            finished=_now(),
            complete=complete,
            scanned=min(position, space.size),
        )
        _write_json(target / MANIFEST_FILE, report.to_dict())
        if complete:
            checkpoint_path.unlink(missing_ok=True)
        return report
    except OSError as exc:
        raise CarveError(f"{target}: {exc.strerror or exc}"
                         + (f" ({exc.filename})" if exc.filename else "")) from exc
    finally:
        if hasher is not None and hasher.is_alive():
            hasher.cancel()
            hasher.join()
        image.close()
