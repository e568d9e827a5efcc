"""Low-level I/O of an acquisition: the tolerant source reader and the image writers.

Two seams exist for tests (and for exotic sources): the reader is the ``read_at``
callable handed to :class:`SourceReader` (``AcquisitionRequest.read_at``), and every byte
written to an image file goes through the module-level :func:`write_all`, which tests
replace (``monkeypatch.setattr(acquisition_io, "write_all", ...)``) to simulate a full disk.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

ReadAt = Callable[[int, memoryview, int], int]
"""``read_at(fd, buffer, offset) -> bytes_read``: read into ``buffer`` at ``offset`` (bytes)."""

# Errors that mean "this part of the medium cannot be read" rather than a programming or
# configuration error: those are retried sector by sector and zero-filled.
MEDIA_ERRNOS = frozenset({errno.EIO, errno.ENODATA, errno.ENXIO, errno.EILSEQ})

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def default_read_at(fd: int, buf: memoryview, offset: int) -> int:
    """``pread`` straight into ``buf`` (no intermediate bytes object)."""
    return os.preadv(fd, [buf], offset)


def write_all(fd: int, data: memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (the writer seam; loops over short writes)."""
    view = data
    while view.nbytes:
        written = os.write(fd, view)
        view = view[written:]


class SourceTruncated(Exception):
    """The source ended before the size it had when the acquisition started."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class SourceReader:
    """Reads the source at given offsets; on a media error falls back to sector-by-sector
    reads with retries, zero-fills sectors that stay unreadable and records them as merged
    ``[offset, length]`` ranges (bytes)."""

    def __init__(
        self,
        fd: int,
        *,
        sector_size: int,
        retries: int,
        read_at: ReadAt | None = None,
        errors: list[list[int]] | None = None,
    ) -> None:
        self.fd = fd
        self.sector_size = sector_size
        self.retries = retries
        self.read_at: ReadAt = read_at or default_read_at
        self.errors: list[list[int]] = errors if errors is not None else []
        self._zeros = bytes(sector_size)

    def read_into(self, view: memoryview, offset: int) -> None:
        """Fill ``view`` entirely with the source bytes at ``offset``.

        Raises :class:`SourceTruncated` if the source ends first, and re-raises OSErrors
        that are not media errors.
        """
        try:
            self._fill(view, offset)
        except OSError as exc:
            if exc.errno not in MEDIA_ERRNOS:
                raise
            self._read_by_sector(view, offset)

    def _fill(self, view: memoryview, offset: int) -> None:
        got, size = 0, view.nbytes
        while got < size:
            n = self.read_at(self.fd, view[got:], offset + got)
            if n <= 0:
                raise SourceTruncated(offset + got)
            got += n

    def _read_by_sector(self, view: memoryview, offset: int) -> None:
        sector = self.sector_size
        for start in range(0, view.nbytes, sector):
            sub = view[start : start + sector]
            for attempt in range(self.retries + 1):
                try:
                    self._fill(sub, offset + start)
                    break
                except OSError as exc:
                    if exc.errno not in MEDIA_ERRNOS:
                        raise
                    if attempt == self.retries:
                        sub[:] = self._zeros[: sub.nbytes]
                        self._record(offset + start, sub.nbytes)

    def _record(self, offset: int, length: int) -> None:
        if self.errors and self.errors[-1][0] + self.errors[-1][1] == offset:
            self.errors[-1][1] += length
        else:
            self.errors.append([offset, length])


def zero_ranges(view: memoryview, offset: int, ranges: list[list[int]]) -> None:
    """Zero the parts of ``view`` (holding bytes at ``offset``) covered by ``ranges``."""
    end = offset + view.nbytes
    for start, length in ranges:
        lo, hi = max(start, offset), min(start + length, end)
        if lo < hi:
            view[lo - offset : hi - offset] = bytes(hi - lo)


class ImageWriteError(Exception):
    """Writing the image failed; ``path`` is the file and ``offset`` the image offset."""

    def __init__(self, path: str, offset: int, cause: OSError) -> None:
        super().__init__(f"{path} at offset {offset}: {cause.strerror or cause}")
        self.path = path
        self.offset = offset
        self.cause = cause


class ImageSink:
    """Where the acquired bytes go. Offsets are image offsets in bytes."""

    #: ``True`` if the files can be truncated and appended to (resume in place).
    resumable = True

    def paths(self) -> list[str]:
        """The image files written so far, in order."""
        raise NotImplementedError

    def existing(self) -> list[str]:
        """Image files of this name already in the output directory."""
        raise NotImplementedError

    def bytes_on_disk(self) -> int:
        """Bytes of image data present in the files (how far a resume could continue)."""
        raise NotImplementedError

    def open(self, offset: int) -> None:
        """Prepare to write from ``offset`` (0 for a fresh image; truncating any excess)."""
        raise NotImplementedError

    def write(self, view: memoryview) -> None:
        """Append ``view``; raise :class:`ImageWriteError` on failure."""
        raise NotImplementedError

    def take_dirty(self) -> set[str]:
        """Files written since the last call (they need an fsync before a checkpoint)."""
        return set()

    def finish(self) -> None:
        """Close everything; the image is complete."""
        raise NotImplementedError

    def abort(self) -> None:
        """Close everything after a failure, leaving what was written."""
        raise NotImplementedError


class RawSink(ImageSink):
    """A single raw (dd) image file ``<basename>.raw``."""

    def __init__(self, out_dir: Path, basename: str) -> None:
        self.path = str(out_dir / f"{basename}.raw")
        self.fd: int | None = None
        self.offset = 0
        self._dirty = False

    def paths(self) -> list[str]:
        return [self.path]

    def existing(self) -> list[str]:
        return [self.path] if os.path.lexists(self.path) else []

    def bytes_on_disk(self) -> int:
        return os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def open(self, offset: int) -> None:
        flags = os.O_WRONLY | os.O_CREAT | _O_CLOEXEC
        self.fd = os.open(self.path, flags, 0o644)
        os.ftruncate(self.fd, offset)
        os.lseek(self.fd, offset, os.SEEK_SET)
        self.offset = offset
        self._dirty = True

    def write(self, view: memoryview) -> None:
        assert self.fd is not None
        try:
            write_all(self.fd, view)
        except OSError as exc:
            raise ImageWriteError(self.path, self.offset, exc) from exc
        self.offset += view.nbytes
        self._dirty = True

    def locate(self, offset: int) -> tuple[str, int, int]:
        """``(path, offset_in_file, bytes_left_in_file)`` of an image offset."""
        return self.path, offset, 1 << 62

    def take_dirty(self) -> set[str]:
        dirty, self._dirty = self._dirty, False
        return {self.path} if dirty else set()

    def finish(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class SplitSink(ImageSink):
    """Split raw image: ``<basename>.001``, ``.002``, ... of ``segment_size`` bytes each."""

    def __init__(self, out_dir: Path, basename: str, segment_size: int) -> None:
        self.out_dir = out_dir
        self.basename = basename
        self.segment_size = segment_size
        self.fd: int | None = None
        self.index = 0  # 0-based segment being written
        self.fill = 0  # bytes in the current segment
        self.offset = 0
        self._written: list[str] = []
        self._dirty: set[str] = set()

    def segment_path(self, index: int) -> str:
        # At least three digits, like split(1)/FTK; more when a source needs > 999 segments.
        return str(self.out_dir / f"{self.basename}.{index + 1:03d}")

    def paths(self) -> list[str]:
        return list(self._written)

    def existing(self) -> list[str]:
        pattern = re.compile(re.escape(self.basename) + r"\.\d{3,}$")
        if not self.out_dir.is_dir():
            return []
        return sorted(str(p) for p in self.out_dir.iterdir() if pattern.match(p.name))

    def bytes_on_disk(self) -> int:
        total, index = 0, 0
        while os.path.exists(path := self.segment_path(index)):
            size = os.path.getsize(path)
            total += min(size, self.segment_size)
            if size < self.segment_size:
                break  # a short segment ends the image; later ones would not follow on
            index += 1
        return total

    def open(self, offset: int) -> None:
        self.index, self.fill = divmod(offset, self.segment_size)
        if self.fill == 0 and self.index > 0:
            # Resume exactly at a segment boundary: keep the previous segment complete.
            self.index -= 1
            self.fill = self.segment_size
        keep = {self.segment_path(i) for i in range(self.index + 1)}
        for stale in self.existing():
            if stale not in keep:
                os.unlink(stale)
        self._written = [self.segment_path(i) for i in range(self.index + 1)]
        self.offset = offset
        self._open_current(self.fill)

    def _open_current(self, fill: int) -> None:
        path = self.segment_path(self.index)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | _O_CLOEXEC, 0o644)
        os.ftruncate(self.fd, fill)
        os.lseek(self.fd, fill, os.SEEK_SET)
        self._dirty.add(path)

    def write(self, view: memoryview) -> None:
        pos = 0
        while pos < view.nbytes:
            if self.fill == self.segment_size:
                self._next_segment()
            take = min(view.nbytes - pos, self.segment_size - self.fill)
            assert self.fd is not None
            try:
                write_all(self.fd, view[pos : pos + take])
            except OSError as exc:
                raise ImageWriteError(self.segment_path(self.index), self.offset, exc) from exc
            pos += take
            self.fill += take
            self.offset += take
        self._dirty.add(self.segment_path(self.index))

    def _next_segment(self) -> None:
        assert self.fd is not None
        os.close(self.fd)
        self._dirty.add(self.segment_path(self.index))
        self.index += 1
        self.fill = 0
        self._written.append(self.segment_path(self.index))
        self._open_current(0)

    def locate(self, offset: int) -> tuple[str, int, int]:
        """``(path, offset_in_file, bytes_left_in_file)`` of an image offset."""
        index, within = divmod(offset, self.segment_size)
        return self.segment_path(index), within, self.segment_size - within

    def take_dirty(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def finish(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


EWF_MISSING = "E01 needs ewfacquirestream from Debian's ewf-tools: apt-get install ewf-tools"

# Segment names libewf gives an EnCase image: .E01-.E99, then .EAA-.EZZ, .FAA, ...
_EWF_SEGMENT = r"\.(?:E\d\d|[E-Z][A-Z][A-Z])$"

_EWF_METADATA_FLAGS = {
    "case_number": "-C",
    "evidence_number": "-E",
    "examiner": "-e",
    "description": "-D",
    "notes": "-N",
}


class EwfSink(ImageSink):
    """An EWF (E01) image written by ``ewfacquirestream``, fed through its stdin.

    libewf cannot append to an image, so this sink is not resumable in place: a resumed
    E01 acquisition restarts from offset 0.
    """

    resumable = False

    def __init__(
        self,
        out_dir: Path,
        basename: str,
        *,
        size: int,
        segment_size: int,
        sector_size: int,
        metadata: Mapping[str, str],
    ) -> None:
        self.out_dir = out_dir
        self.basename = basename
        self.size = size
        self.segment_size = segment_size
        self.sector_size = sector_size
        self.metadata = dict(metadata)
        if not self.metadata.get("evidence_number") and self.metadata.get("exhibit"):
            self.metadata["evidence_number"] = self.metadata["exhibit"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None
        self.offset = 0
        self.notes: list[str] = []
        executable = shutil.which("ewfacquirestream")
        if executable is None:
            raise FileNotFoundError(EWF_MISSING)
        self.executable = executable

    def paths(self) -> list[str]:
        return self.existing()

    def bytes_on_disk(self) -> int:
        return 0  # never resumed in place

    def existing(self) -> list[str]:
        if not self.out_dir.is_dir():
            return []
        pattern = re.compile(re.escape(self.basename) + _EWF_SEGMENT)
        names = [p.name for p in self.out_dir.iterdir() if pattern.match(p.name)]
        # E01..E99 sort before EAA..EZZ, which sort before FAA..: by (letter, digits-first).
        names.sort(key=lambda n: (n[-3], not n[-2:].isdigit(), n[-2:]))
        return [str(self.out_dir / n) for n in names]

    def command(self) -> list[str]:
        """The ewfacquirestream command line (unattended: every answer given as a flag)."""
        bytes_per_sector = self.sector_size
        sectors_per_chunk = 64
        if self.size % self.sector_size:
            # ewf stores whole sectors and would silently drop a partial last sector; with
            # 1-byte "sectors" every byte is kept (chunk kept at 32 KiB, ewf's default).
            bytes_per_sector = 1
            sectors_per_chunk = 32768
            self.notes.append(
                f"source size {self.size} is not a multiple of {self.sector_size}: "
                "E01 written with 1-byte sectors so that no byte is dropped"
            )
        # No -B (bytes to acquire): we close stdin after exactly `size` bytes, and libewf
        # 20140813 writes an image that fails ewfverify when -B is combined with -P 1 -b 32768.
        cmd = [
            self.executable,
            "-q",
            "-c",
            "deflate:fast",
            "-f",
            "encase6",
            "-P",
            str(bytes_per_sector),
            "-b",
            str(sectors_per_chunk),
            "-S",
            str(self.segment_size),
            "-t",
            str(self.out_dir / self.basename),
        ]
        for key, flag in _EWF_METADATA_FLAGS.items():
            value = self.metadata.get(key)
            if value:
                cmd += [flag, str(value)]
        return cmd

    def open(self, offset: int) -> None:
        if offset:
            raise ValueError("an E01 image cannot be resumed in place; restart from 0")
        for stale in self.existing():
            os.unlink(stale)
        self.log = tempfile.TemporaryFile(prefix="dalil-ewf-")  # noqa: SIM115 - closed in finish/abort
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            close_fds=True,
        )

    def _log_tail(self) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(line.strip() for line in lines[-4:] if line.strip())

    def write(self, view: memoryview) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            write_all(self.proc.stdin.fileno(), view)
        except BrokenPipeError as exc:
            self.proc.wait()
            cause = OSError(exc.errno, f"ewfacquirestream stopped: {self._log_tail()}")
            raise ImageWriteError(self.target_path, self.offset, cause) from exc
        except OSError as exc:
            raise ImageWriteError(self.target_path, self.offset, exc) from exc
        self.offset += view.nbytes

    @property
    def target_path(self) -> str:
        return str(self.out_dir / f"{self.basename}.E01")

    def finish(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        code = self.proc.wait()
        tail = self._log_tail()
        self._close_log()
        if code != 0:
            cause = OSError(errno.EIO, f"ewfacquirestream exited with {code}: {tail}")
            raise ImageWriteError(self.target_path, self.offset, cause)

    def abort(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # A half-fed ewfacquirestream would finalise a short image that looks valid.
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self._close_log()

    def _close_log(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


def fsync_paths(paths: set[str] | list[str]) -> None:
    """fsync each file (by path: fsync flushes the inode whichever descriptor asks)."""
    for path in sorted(paths):
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)


def fsync_dir(path: Path) -> None:
    """fsync a directory so that new, renamed or deleted entries are durable."""
    fd = os.open(str(path), os.O_RDONLY | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
