"""Forensic acquisition: copy a source (block device or file) to a raw, split raw or E01
image, hashing in the same pass, tolerating unreadable sectors, checkpointing for resume,
and verifying the written image afterwards.

The source is opened read-only and never written. Every ``checkpoint_interval`` bytes the
image is fsync'ed and ``<out_dir>/<basename>.acquire.json`` records how far it is good;
an interrupted acquisition (crash, kill, cancel, full disk) continues from there with
``resume=True``. Hash states cannot be saved, so a resume re-reads the *source* prefix to
rebuild them: the final hashes are those of the source, exactly as a fresh acquisition's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from dalil import __version__
from dalil.engine.evidence.acquisition_checkpoint import (
    CHECKPOINT_VERSION,
    Checkpointer,
    checkpoint_path,
    load_checkpoint,
)
from dalil.engine.evidence.acquisition_io import (
    EWF_MISSING,
    EwfSink,
    ImageSink,
    ImageWriteError,
    RawSink,
    ReadAt,
    SourceReader,
    SourceTruncated,
    SplitSink,
    zero_ranges,
)
from dalil.engine.evidence.acquisition_verify import ImageVerifier, verify_image
from dalil.engine.evidence.hashing import (
    DEFAULT_ALGORITHMS,
    DEFAULT_CHUNK_SIZE,
    MultiHasher,
    Progress,
    parse_algorithms,
    strongest,
)

__all__ = [
    "AcquisitionCancelled",
    "AcquisitionError",
    "AcquisitionRequest",
    "AcquisitionResult",
    "ReadAt",
    "SourceChanged",
    "SourceIdentity",
    "acquire",
    "verify_image",
]

Format = Literal["raw", "split", "e01"]
FORMATS: tuple[str, ...] = ("raw", "split", "e01")

MiB = 1024 * 1024
DEFAULT_SEGMENT_SIZE = 2048 * MiB
DEFAULT_CHECKPOINT_INTERVAL = 64 * MiB
METADATA_KEYS: tuple[str, ...] = (
    "case_number",
    "exhibit",
    "evidence_number",  # EWF's name for the exhibit number; wins over "exhibit" in an E01
    "examiner",
    "description",
    "notes",
)


class AcquisitionError(Exception):
    """The acquisition failed; the message says what, where, and what to do."""


class SourceChanged(AcquisitionError):
    """The source changed (or shrank) while it was read: the image is not a faithful copy."""


class AcquisitionCancelled(AcquisitionError):
    """``cancel()`` asked to stop; a checkpoint was written and ``resume=True`` continues."""

    def __init__(self, message: str, offset: int, checkpoint: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.checkpoint = checkpoint


@dataclass
class AcquisitionRequest:
    """What to acquire and how. Sizes and offsets are in bytes.

    ``read_at(fd, buffer, offset) -> bytes_read`` replaces the source reader (tests use it
    to simulate unreadable sectors); ``verify=False`` skips the read-back verification.
    """

    source: str | os.PathLike[str]
    out_dir: str | os.PathLike[str]
    basename: str
    format: Format = "raw"
    segment_size: int = DEFAULT_SEGMENT_SIZE
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    resume: bool = False
    checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL
    sector_size: int = 512
    retries: int = 3
    metadata: dict[str, str] = field(default_factory=dict)
    verify: bool = True
    chunk_size: int = DEFAULT_CHUNK_SIZE
    read_at: ReadAt | None = None


@dataclass(frozen=True)
class SourceIdentity:
    """Who the source is: enough to recognise it again and to notice it changed.

    ``size`` in bytes; times in nanoseconds since the epoch (UTC).
    """

    path: str
    size: int
    st_dev: int
    st_ino: int
    st_rdev: int
    mtime_ns: int
    ctime_ns: int
    is_block_device: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict.

        Device and inode numbers and nanosecond times are decimal strings: they exceed
        2**53, beyond which JSON numbers lose precision in most parsers (and which RFC 8785
        canonical JSON refuses). ``mtime`` and ``ctime`` repeat the times in ISO 8601 UTC.
        """
        return {
            "path": self.path,
            "size": self.size,
            "st_dev": str(self.st_dev),
            "st_ino": str(self.st_ino),
            "st_rdev": str(self.st_rdev),
            "mtime_ns": str(self.mtime_ns),
            "ctime_ns": str(self.ctime_ns),
            "mtime": _iso_ns(self.mtime_ns),
            "ctime": _iso_ns(self.ctime_ns),
            "is_block_device": self.is_block_device,
        }

    def same_source(self, other: Mapping[str, Any]) -> str | None:
        """Why ``other`` (a checkpoint's source, from :meth:`to_dict`) is not this source,
        or None if it is."""
        if other.get("size") != self.size:
            return f"size was {other.get('size')} bytes, now {self.size}"
        if bool(other.get("is_block_device")) != self.is_block_device:
            return "it was a block device and is now a file, or the reverse"
        if self.is_block_device:
            return None  # a re-plugged device may get another node; size and a re-read decide
        then = (str(other.get("st_dev")), str(other.get("st_ino")))
        if then != (str(self.st_dev), str(self.st_ino)):
            return "it is another file (device/inode differ)"
        if str(other.get("mtime_ns")) != str(self.mtime_ns):
            return "it was modified since the checkpoint (mtime differs)"
        return None


def _iso_ns(ns: int) -> str:
    """Nanoseconds since the epoch as ISO 8601 UTC with 9 fractional digits."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{fraction:09d}Z"


@dataclass
class AcquisitionResult:
    """Outcome of :func:`acquire`; :meth:`to_dict` is JSON-serialisable."""

    source: SourceIdentity
    size: int
    format: str
    image_paths: list[str]
    algorithms: tuple[str, ...]
    hashes: dict[str, str]
    segment_hashes: list[dict[str, Any]]
    errors: list[dict[str, int]]
    verified: bool | None
    verification: dict[str, Any] | None
    started_at: str
    ended_at: str
    resumed_from: int | None
    notes: list[str]
    metadata: dict[str, str]
    sector_size: int
    tool: dict[str, str] = field(default_factory=lambda: {"name": "dalil", "version": __version__})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON, reports and the custody record."""
        return {
            "source": self.source.to_dict(),
            "size": self.size,
            "format": self.format,
            "image_paths": list(self.image_paths),
            "algorithms": list(self.algorithms),
            "hashes": dict(self.hashes),
            "segment_hashes": [dict(s) for s in self.segment_hashes],
            "errors": [dict(e) for e in self.errors],
            "verified": self.verified,
            "verification": dict(self.verification) if self.verification else None,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "resumed_from": self.resumed_from,
            "notes": list(self.notes),
            "metadata": dict(self.metadata),
            "sector_size": self.sector_size,
            "tool": dict(self.tool),
        }


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _validate(request: AcquisitionRequest) -> tuple[str, ...]:
    if request.format not in FORMATS:
        raise ValueError(f"unknown image format {request.format!r}; choose one of {FORMATS}")
    name = request.basename
    if not name or name in {".", ".."} or "/" in name or os.sep in name or "\0" in name:
        raise ValueError(f"basename must be a plain file name, not {name!r}")
    if request.sector_size <= 0 or request.chunk_size % request.sector_size:
        raise ValueError("chunk_size must be a positive multiple of sector_size")
    if request.checkpoint_interval <= 0 or request.segment_size <= 0 or request.retries < 0:
        raise ValueError("checkpoint_interval and segment_size must be positive, retries >= 0")
    if request.format == "split" and request.segment_size % request.sector_size:
        raise ValueError("segment_size must be a multiple of sector_size")
    if request.format == "e01" and request.segment_size < MiB:
        raise ValueError("E01 segments must be at least 1 MiB (libewf's minimum)")
    unknown = set(request.metadata) - set(METADATA_KEYS)
    if unknown:
        raise ValueError(
            f"unknown metadata {sorted(unknown)}; expected some of {list(METADATA_KEYS)}"
        )
    return parse_algorithms(request.algorithms)


def _open_source(path: str) -> tuple[int, SourceIdentity]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise AcquisitionError(f"cannot open source {path}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        is_block = stat.S_ISBLK(st.st_mode)
        if is_block:
            size = os.lseek(fd, 0, os.SEEK_END)
        elif stat.S_ISREG(st.st_mode):
            size = st.st_size
        else:
            raise AcquisitionError(
                f"cannot acquire {path}: not a regular file or a block device"
            )
        with contextlib.suppress(OSError, AttributeError):  # advisory only
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        identity = SourceIdentity(
            path=path,
            size=size,
            st_dev=st.st_dev,
            st_ino=st.st_ino,
            st_rdev=st.st_rdev,
            mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
            is_block_device=is_block,
        )
        return fd, identity
    except BaseException:
        os.close(fd)
        raise


def _source_change(fd: int, identity: SourceIdentity) -> str | None:
    """Why the source no longer matches ``identity`` (regular files), or None."""
    st = os.fstat(fd)
    if identity.is_block_device:
        size = os.lseek(fd, 0, os.SEEK_END)
        return None if size == identity.size else f"size {identity.size} -> {size} bytes"
    now = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    before = (identity.size, identity.mtime_ns, identity.ctime_ns)
    if now != before:
        return f"(size, mtime_ns, ctime_ns) {before} -> {now}"
    return None


def _make_sink(request: AcquisitionRequest, out_dir: Path, size: int) -> ImageSink:
    if request.format == "raw":
        return RawSink(out_dir, request.basename)
    if request.format == "split":
        return SplitSink(out_dir, request.basename, request.segment_size)
    try:
        return EwfSink(
            out_dir,
            request.basename,
            size=size,
            segment_size=request.segment_size,
            sector_size=request.sector_size,
            metadata=request.metadata,
        )
    except FileNotFoundError:
        raise AcquisitionError(EWF_MISSING) from None


class _Acquisition:
    """One run of :func:`acquire` (state shared by its steps)."""

    def __init__(
        self,
        request: AcquisitionRequest,
        progress: Progress | None,
        cancel: Callable[[], bool] | None,
    ) -> None:
        self.request = request
        self.algorithms = _validate(request)
        self.progress = progress
        self.cancel = cancel
        self.out_dir = Path(request.out_dir)
        self.source_path = os.fspath(request.source)
        self.started_at = _utc_now()
        self.notes: list[str] = []
        self.errors: list[list[int]] = []
        self.ckpt_path = checkpoint_path(self.out_dir, request.basename)

    def run(self) -> AcquisitionResult:
        fd, identity = _open_source(self.source_path)
        try:
            return self._run(fd, identity)
        finally:
            os.close(fd)

    def _checkpoint_document(self, identity: SourceIdentity, offset: int) -> dict[str, Any]:
        req = self.request
        return {
            "version": CHECKPOINT_VERSION,
            "tool": {"name": "dalil", "version": __version__},
            "offset": offset,
            "format": req.format,
            "basename": req.basename,
            "segment_size": req.segment_size if req.format != "raw" else None,
            "sector_size": req.sector_size,
            "algorithms": list(self.algorithms),
            "source": identity.to_dict(),
            "errors": [list(e) for e in self.errors],
            "started_at": self.started_at,
            "updated_at": _utc_now(),
        }

    def _resume_offset(self, identity: SourceIdentity, sink: ImageSink) -> int | None:
        """Validate the checkpoint and return where to continue (None: nothing to resume)."""
        req = self.request
        try:
            ckpt = load_checkpoint(self.ckpt_path)
        except FileNotFoundError:
            raise AcquisitionError(
                f"cannot resume: no checkpoint {self.ckpt_path}; start without --resume"
            ) from None
        except (OSError, ValueError) as exc:
            raise AcquisitionError(f"cannot resume from {self.ckpt_path}: {exc}") from exc
        why = identity.same_source(ckpt["source"])
        if why is not None:
            raise AcquisitionError(
                f"refusing to resume: source {self.source_path} differs from the one in "
                f"{self.ckpt_path}: {why}"
            )
        for key, want in (
            ("format", req.format),
            ("sector_size", req.sector_size),
            ("segment_size", req.segment_size if req.format != "raw" else None),
        ):
            if ckpt.get(key) != want:
                raise AcquisitionError(
                    f"refusing to resume: checkpoint {self.ckpt_path} has {key}="
                    f"{ckpt.get(key)!r}, this request {want!r}"
                )
        offset = int(ckpt["offset"])
        if not 0 <= offset <= identity.size or offset % req.sector_size:
            raise AcquisitionError(f"checkpoint {self.ckpt_path} has a bad offset {offset}")
        if not sink.resumable:
            # libewf cannot append to an E01: the only honest resume is a restart from 0.
            self.notes.append(
                f"E01 cannot be appended to: restarted from offset 0 "
                f"(the checkpoint was at offset {offset})"
            )
            return None
        # Ranges clipped at the offset: what lies beyond is read (and recorded) again.
        self.errors = [
            [int(a), min(int(b), offset - int(a))] for a, b in ckpt["errors"] if int(a) < offset
        ]
        held = sink.bytes_on_disk()
        if held < offset:
            raise AcquisitionError(
                f"cannot resume: the image files of {req.basename} in {self.out_dir} hold "
                f"{held} bytes, fewer than the checkpoint's {offset}; start a new acquisition"
            )
        return offset

    def _run(self, fd: int, identity: SourceIdentity) -> AcquisitionResult:
        req = self.request
        size = identity.size
        os.makedirs(self.out_dir, exist_ok=True)
        sink = _make_sink(req, self.out_dir, size)
        offset = 0
        resumed_from: int | None = None
        if req.resume:
            start = self._resume_offset(identity, sink)
            if start is not None:
                offset = resumed_from = start
        else:
            clash = sink.existing() + ([str(self.ckpt_path)] if self.ckpt_path.exists() else [])
            if clash:
                raise AcquisitionError(
                    f"refusing to overwrite {', '.join(clash)}: choose another basename, "
                    "or continue an interrupted acquisition with --resume"
                )

        chunk = req.chunk_size
        part_size = req.segment_size if req.format == "split" else None
        self.identity, self.fd, self.sink = identity, fd, sink
        self.next_checkpoint = offset + req.checkpoint_interval
        # The image is written by a tap of the hasher: in its own thread, so that reading
        # the next chunk, hashing and writing this one all proceed at the same time.
        hasher = MultiHasher(
            self.algorithms, part_size=part_size, buffer_size=chunk, taps=(self._write_tap,)
        )
        reader = SourceReader(
            fd, sector_size=req.sector_size, retries=req.retries, read_at=req.read_at,
            errors=self.errors,
        )
        verifier: ImageVerifier | None = None
        if req.verify and isinstance(sink, RawSink | SplitSink):
            verifier = ImageVerifier(strongest(self.algorithms), sink.locate, chunk)
        self.checkpointer = checkpointer = Checkpointer(
            self.ckpt_path, after_commit=verifier.advance if verifier else None
        )
        try:
            if offset:
                self._rehash_prefix(hasher, reader, offset, size)
            try:
                sink.open(offset)
                if not offset:
                    # A checkpoint from the start: a crash in the first interval is resumable
                    # and the source identity is on record.
                    checkpointer.request(self._checkpoint_document(identity, 0), set())
                self._copy(hasher, reader, offset)
            except ImageWriteError as exc:
                self._write_failed(exc)
            hashes = hasher.hexdigests()
            parts = hasher.part_hexdigests()
            try:
                sink.finish()
            except ImageWriteError as exc:
                raise AcquisitionError(f"writing the image failed: {exc}") from exc
            # Everything in the image is durable before we call it done.
            try:
                checkpointer.sync_only(sink.take_dirty())
            except OSError as exc:
                raise AcquisitionError(
                    f"cannot sync the image in {self.out_dir} to disk: {exc.strerror or exc}"
                ) from exc
        except BaseException:
            hasher.close()
            sink.abort()
            checkpointer.stop()
            if verifier is not None:
                verifier.close()
            raise

        if isinstance(sink, EwfSink):
            self.notes.extend(sink.notes)
        paths = sink.paths()
        segment_hashes: list[dict[str, Any]] = []
        if part_size and not parts:  # an empty source still makes one (empty) segment
            segment_hashes.append({"path": paths[0], "size": 0, "hashes": dict(hashes)})
        elif part_size:
            for index, (path, digests) in enumerate(zip(paths, parts, strict=True)):
                seg_size = min(part_size, size - index * part_size)
                segment_hashes.append({"path": path, "size": seg_size, "hashes": digests})

        verified: bool | None = None
        verification: dict[str, Any] | None = None
        if verifier is not None:
            verification = verifier.result(hashes, size)
        elif req.verify:
            verification = verify_image(req.format, paths, hashes)
        if verification is not None:
            verified = bool(verification["match"])
            if not verified:
                self.notes.append(
                    "VERIFICATION FAILED: the image read back does not match the source hash"
                )
        if self.errors:
            total_bad = sum(length for _, length in self.errors)
            self.notes.append(
                f"{total_bad} bytes in {len(self.errors)} unreadable range(s) were zero-filled"
            )
        checkpointer.remove()
        return AcquisitionResult(
            source=identity,
            size=size,
            format=req.format,
            image_paths=paths,
            algorithms=self.algorithms,
            hashes=hashes,
            segment_hashes=segment_hashes,
            errors=[{"offset": a, "length": b} for a, b in self.errors],
            verified=verified,
            verification=verification,
            started_at=self.started_at,
            ended_at=_utc_now(),
            resumed_from=resumed_from,
            notes=self.notes,
            metadata=dict(req.metadata),
            sector_size=req.sector_size,
        )

    def _rehash_prefix(
        self, hasher: MultiHasher, reader: SourceReader, offset: int, size: int
    ) -> None:
        """Rebuild the hash state by re-reading the source's ``[0, offset)``.

        Ranges recorded as unreadable were zero-filled in the image, so they are zeroed
        here too, even if they read fine now.
        """
        known = [list(e) for e in self.errors]
        reader.errors = []
        pos = 0
        while pos < offset:
            view = hasher.buffer()[: min(self.request.chunk_size, offset - pos)]
            try:
                reader.read_into(view, pos)
            except SourceTruncated as exc:
                raise SourceChanged(
                    f"source {self.source_path} ended at offset {exc.offset} while re-reading "
                    f"the part already acquired ({offset} bytes)"
                ) from None
            zero_ranges(view, pos, known)
            hasher.update(view)
            pos += view.nbytes
            if self.progress is not None:
                self.progress(pos, size)
        fresh = [e for e in reader.errors if not _covered(e, known)]
        if fresh:
            raise AcquisitionError(
                f"source {self.source_path} has new unreadable sectors at "
                f"{[tuple(e) for e in fresh]} in the part already acquired: the image "
                "there holds data the source no longer gives; start a new acquisition"
            )
        reader.errors = self.errors

    def _copy(self, hasher: MultiHasher, reader: SourceReader, offset: int) -> None:
        """Read the source from ``offset`` to its end into the hasher (which writes it)."""
        size = self.identity.size
        chunk = self.request.chunk_size
        pos = offset
        while pos < size:
            if self.cancel is not None and self.cancel():
                hasher.drain()  # every chunk read so far is written before the checkpoint
                self._stop_with_checkpoint(pos)
                raise AcquisitionCancelled(
                    f"acquisition of {self.source_path} cancelled at offset {pos}; "
                    f"re-run with --resume to continue ({self.ckpt_path})",
                    pos,
                    str(self.ckpt_path),
                )
            view = hasher.buffer()[: min(chunk, size - pos)]
            try:
                reader.read_into(view, pos)
            except SourceTruncated as exc:
                raise SourceChanged(
                    f"source {self.source_path} shrank while it was read: data ended at "
                    f"offset {exc.offset}, expected {size} bytes"
                ) from None
            except OSError as exc:
                raise AcquisitionError(
                    f"cannot read source {self.source_path} at offset {pos}: "
                    f"{exc.strerror or exc}"
                ) from exc
            pos += view.nbytes
            hasher.update(view, tag=pos)
            if self.progress is not None:
                self.progress(pos, size)
        hasher.drain()
        self._check_source()

    def _write_tap(self, view: memoryview, end: int | None) -> None:
        """Runs in the writer thread: write a chunk ending at image offset ``end``."""
        if end is None:
            return  # a resume re-hashing the prefix: those bytes are already in the image
        self.sink.write(view)
        if self.next_checkpoint <= end < self.identity.size:
            self.next_checkpoint = end + self.request.checkpoint_interval
            self._check_source()
            if self.checkpointer.error is not None:
                exc = self.checkpointer.error
                raise AcquisitionError(
                    f"cannot write checkpoint {self.ckpt_path} or sync the image: "
                    f"{exc.strerror or exc}"
                ) from exc
            self.checkpointer.request(
                self._checkpoint_document(self.identity, end), self.sink.take_dirty()
            )

    def _check_source(self) -> None:
        why = _source_change(self.fd, self.identity)
        if why is not None:
            raise SourceChanged(
                f"source {self.source_path} changed while it was acquired ({why}); "
                "the image is not a faithful copy"
            )

    def _stop_with_checkpoint(self, pos: int) -> int | None:
        """Stop writing, checkpoint at ``pos``; return the offset a resume will start from."""
        self.sink.abort()
        try:
            self.checkpointer.write_now(
                self._checkpoint_document(self.identity, pos), self.sink.take_dirty()
            )
        except OSError:
            # On a full disk even the small checkpoint may not fit: the previous one stands.
            return self.checkpointer.written_offset
        return pos

    def _write_failed(self, exc: ImageWriteError) -> None:
        """Checkpoint what was safely written (everything before ``exc.offset``) and raise."""
        resume_at = self._stop_with_checkpoint(exc.offset)
        if resume_at is None:
            hint = "no checkpoint could be written; start again once fixed"
        else:
            hint = f"re-run with --resume (continues from offset {resume_at})"
        if exc.cause.errno in (errno.ENOSPC, errno.EDQUOT):
            raise AcquisitionError(
                f"disk full while writing {exc.path} at offset {exc.offset}: "
                f"free space and {hint}"
            ) from exc
        raise AcquisitionError(f"cannot write {exc}; {hint}") from exc


def _covered(rng: list[int], ranges: list[list[int]]) -> bool:
    start, end = rng[0], rng[0] + rng[1]
    return any(a <= start and end <= a + b for a, b in ranges)


def acquire(
    request: AcquisitionRequest,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> AcquisitionResult:
    """Acquire ``request.source`` into an image under ``request.out_dir``.

    ``progress(bytes_done, total_bytes)`` is called after every chunk (also while a resume
    re-reads the prefix); ``cancel()`` is polled between chunks and, when true, stops with a
    checkpoint and :class:`AcquisitionCancelled`. Raises :class:`AcquisitionError` (full
    disk, unreadable output, missing tools, bad checkpoint) and :class:`SourceChanged`; raises
    ValueError for an invalid request.
    """
    return _Acquisition(request, progress, cancel).run()

