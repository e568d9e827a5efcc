"""Image layer: open a disk image whatever its container and read it as one flat device.

Containers: raw (dd), split raw (``.000/.001``, ``.001/.002``, ``.aa/.ab``; the set is
found from the first segment), EWF (E01, through pyewf, with its stored case metadata and
hashes), QCOW2 (pyqcow), VMDK (pyvmdk) and VHD/VHDX (pyvhdi reads both). Everything is
opened read-only. :class:`TskImage` hands any of them to The Sleuth Kit.

An image can also be a layer inside another one (a decrypted BitLocker or LUKS volume, an
LVM logical volume, a VSS snapshot): :meth:`Image.layered` wraps such a reader so that the
volume and file-system layers read it like any other media, and messages still name the
image file and the place inside it.
"""

from __future__ import annotations

import bisect
import glob
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytsk3


class ImageError(Exception):
    """The image cannot be opened or read; the message names the image and the place."""


class _Reader(Protocol):
    def read_at(self, offset: int, size: int) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ImageInfo:
    """What the container says about itself."""

    path: str
    container: str  # raw, split-raw, ewf, qcow2, vmdk, vhd, vhdx
    size: int  # bytes of the media inside the container
    segments: tuple[str, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    stored_hashes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "container": self.container,
            "size": self.size,
            "segments": list(self.segments),
            "metadata": dict(self.metadata),
            "stored_hashes": dict(self.stored_hashes),
        }


class _SegmentsReader:
    """Raw or split raw: consecutive files read as one device."""

    def __init__(self, paths: list[Path]) -> None:
        self._files = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed in close()
        self._starts: list[int] = []
        total = 0
        for handle in self._files:
            self._starts.append(total)
            total += os.fstat(handle.fileno()).st_size
        self.size = total

    def read_at(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0 or offset >= self.size:
            return b""
        size = min(size, self.size - offset)
        if len(self._files) == 1:
            # One file (raw): one pread, no seek and no copy through a buffered reader.
            data = os.pread(self._files[0].fileno(), size, offset)
            if len(data) == size or not data:
                return data
            rest = self.read_at(offset + len(data), size - len(data))  # a short read
            return data + rest
        parts: list[bytes] = []
        index = bisect.bisect_right(self._starts, offset) - 1
        while size > 0 and index < len(self._files):
            handle = self._files[index]
            handle.seek(offset - self._starts[index])
            chunk = handle.read(size)
            if not chunk:
                index += 1
                continue
            parts.append(chunk)
            offset += len(chunk)
            size -= len(chunk)
            if index + 1 < len(self._starts) and offset >= self._starts[index + 1]:
                index += 1
        return b"".join(parts)

    def close(self) -> None:
        for handle in self._files:
            handle.close()


class _LibyalReader:
    """A libyal handle (pyewf, pyqcow, pyvmdk, pyvhdi) behind one small interface."""

    def __init__(self, handle: Any, size: int) -> None:
        self._handle = handle
        self.size = size

    def read_at(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0 or offset >= self.size:
            return b""
        size = min(size, self.size - offset)
        data: bytes = self._handle.read_buffer_at_offset(size, offset)
        return data

    def close(self) -> None:
        self._handle.close()


def _alpha(number: int, width: int) -> str:
    letters = []
    for _ in range(width):
        number, rest = divmod(number, 26)
        letters.append(chr(ord("a") + rest))
    return "".join(reversed(letters))


def _alpha_value(text: str) -> int:
    value = 0
    for char in text:
        value = value * 26 + ord(char) - ord("a")
    return value


def split_segments(first: Path) -> list[Path]:
    """The segments of a split raw set, starting from the given first segment.

    ``x.000``/``x.001``, ``x.001``/``x.002`` and ``x.aa``/``x.ab`` are recognised; any
    other name, or a numbered name with no next segment, is a single raw file.
    """
    name = first.name
    digits = re.match(r"^(?P<stem>.*\.)(?P<n>\d{3,})$", name)
    letters = re.match(r"^(?P<stem>.*\.)(?P<n>[a-z]{2})$", name)
    if digits:
        stem, width, start = digits["stem"], len(digits["n"]), int(digits["n"])
        if start not in (0, 1):
            return [first]
        make: Callable[[int], str] = lambda n: f"{stem}{str(n).zfill(width)}"  # noqa: E731
    elif letters and letters["n"] == "aa":
        stem, width, start = letters["stem"], 2, _alpha_value(letters["n"])
        make = lambda n: f"{stem}{_alpha(n, width)}"  # noqa: E731
    else:
        return [first]
    segments = [first]
    number = start + 1
    while (candidate := first.with_name(make(number))).is_file():
        segments.append(candidate)
        number += 1
    return segments


_EWF_SIGNATURES = (b"EVF\x09\x0d\x0a\xff\x00", b"EVF2\x0d\x0a\x81\x00", b"LVF\x09\x0d\x0a\xff\x00")


def _sniff(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(512)
        handle.seek(0, os.SEEK_END)
        length = handle.tell()
        handle.seek(max(0, length - 512))
        tail = handle.read(512)
    if head.startswith(_EWF_SIGNATURES):
        return "ewf"
    if head.startswith(b"QFI\xfb"):
        return "qcow2"
    if head.startswith((b"KDMV", b"COWD")) or b"# Disk DescriptorFile" in head[:64]:
        return "vmdk"
    if head.startswith(b"vhdxfile"):
        return "vhdx"
    if head.startswith(b"conectix") or tail.startswith(b"conectix"):
        return "vhd"
    return "raw"


_EWF_SEGMENT = re.compile(r"^\.[EeLs](\d{2})$")


def _check_ewf_segments(path: Path, names: list[str]) -> None:
    """A numbered EWF segment missing from the set (``.E01``, ``.E02``, no ``.E03``, ``.E04``).

    libewf's glob stops at the first gap, so the folder is searched for later segments.
    """
    first = Path(names[0])
    letter = first.suffix[1:2] or "E"
    found = {int(m[1]) for sibling in first.parent.glob(f"{glob.escape(first.stem)}.*")
             if (m := _EWF_SEGMENT.match(sibling.suffix)) and sibling.suffix[1] == letter}
    found |= {int(m[1]) for n in names if (m := _EWF_SEGMENT.match(Path(n).suffix))}
    if not found:
        return
    missing = [n for n in range(1, max(found) + 1) if n not in found]
    if missing:
        raise ImageError(f"{path}: EWF segment {first.with_suffix('')}.{letter}"
                         f"{missing[0]:02d} is missing (segments found up to "
                         f"{letter}{max(found):02d}): the image cannot be read whole")


def _missing_binding(container: str, package: str) -> ImageError:
    return ImageError(f"{container.upper()} needs {package} (pip install {package})")


def _open_libyal(path: Path, container: str) -> tuple[_LibyalReader, dict[str, str],
                                                      dict[str, str], tuple[str, ...]]:
    metadata: dict[str, str] = {}
    hashes: dict[str, str] = {}
    segments: tuple[str, ...] = (str(path),)
    try:
        if container == "ewf":
            try:
                import pyewf
            except ImportError as exc:
                raise _missing_binding("EWF", "libewf-python") from exc
            names = pyewf.glob(str(path))
            if not names:
                raise ImageError(f"{path}: no EWF segment files found")
            _check_ewf_segments(path, names)
            handle = pyewf.handle()
            handle.open(names, "r")
            segments = tuple(names)
            metadata = {k: str(v) for k, v in handle.get_header_values().items()}
            hashes = {k.lower(): str(v) for k, v in handle.get_hash_values().items()}
        elif container == "qcow2":
            try:
                import pyqcow
            except ImportError as exc:
                raise _missing_binding("QCOW2", "libqcow-python") from exc
            handle = pyqcow.file()
            handle.open(str(path), "r")
            if handle.get_backing_filename():
                handle.close()
                raise ImageError(f"{path}: QCOW2 image with a backing file is not supported")
        elif container == "vmdk":
            try:
                import pyvmdk
            except ImportError as exc:
                raise _missing_binding("VMDK", "libvmdk-python") from exc
            handle = pyvmdk.handle()
            handle.open(str(path), "r")
            handle.open_extent_data_files()
        else:
            try:
                import pyvhdi
            except ImportError as exc:
                raise _missing_binding(container, "libvhdi-python") from exc
            handle = pyvhdi.file()
            handle.open(str(path), "r")
        size = int(handle.get_media_size())
    except (OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        raise ImageError(f"{path}: cannot open as {container.upper()}: {detail}") from exc
    return _LibyalReader(handle, size), metadata, hashes, segments


class Image:
    """An opened disk image: ``read(offset, size)`` over the media, whatever the container."""

    _reader: _Reader
    info: ImageInfo

    def __init__(self, path: str | os.PathLike[str]) -> None:
        source = Path(path)
        if not source.is_file():
            raise ImageError(f"{source}: no such image file")
        container = _sniff(source)
        reader: _Reader
        if container == "raw":
            segments = split_segments(source)
            raw = _SegmentsReader(segments)
            reader, size = raw, raw.size
            self.info = ImageInfo(
                path=str(source),
                container="split-raw" if len(segments) > 1 else "raw",
                size=size,
                segments=tuple(str(s) for s in segments),
            )
        else:
            libyal, metadata, hashes, names = _open_libyal(source, container)
            reader, size = libyal, libyal.size
            self.info = ImageInfo(str(source), container, size, names, metadata, hashes)
        self._reader = reader
        self.path = str(source)
        self.size = size
        self.layer = ""  # empty for the image file itself; see layered()

    @classmethod
    def layered(cls, parent: Image, reader: _Reader, size: int, container: str,
                layer: str) -> Image:
        """A media inside ``parent`` (decrypted volume, logical volume, snapshot).

        ``layer`` says where it comes from (``LUKS1 volume at offset 1048576,
        decrypted``); :attr:`path` stays the image file's, for provenance.
        """
        image = cls.__new__(cls)
        image._reader = reader
        image.path = parent.path
        image.size = size
        image.layer = f"{parent.layer}, {layer}" if parent.layer else layer
        image.info = ImageInfo(parent.path, container, size, parent.info.segments)
        return image

    def where(self, offset: int | None = None) -> str:
        """The image file, the layer inside it if any, and ``offset`` for messages."""
        text = f"{self.path}, {self.layer}" if self.layer else self.path
        return text if offset is None else f"{text}, offset {offset}"

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset``; short only at the end of the media."""
        try:
            return self._reader.read_at(offset, size)
        except (OSError, ValueError) as exc:
            detail = " ".join(str(exc).split())
            raise ImageError(f"{self.where()}: read error at offset {offset}: {detail}") from exc

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageRegion:
    """``size`` bytes of an :class:`Image` from ``offset``, as the read-only file object
    that the libyal bindings' ``open_file_object`` expect (read, seek, tell, get_size)."""

    def __init__(self, image: Image, offset: int, size: int) -> None:
        self._image = image
        self._offset = offset
        self._size = max(0, min(size, image.size - offset))
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._position
        size = min(size, self._size - self._position)
        if size <= 0:
            return b""
        data = self._image.read(self._offset + self._position, size)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(f"{self._image.where()}: seek before the start of the region")
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def get_offset(self) -> int:
        return self._position

    def get_size(self) -> int:
        return self._size

    def close(self) -> None:
        """The image is closed by its owner."""


class TskImage(pytsk3.Img_Info):  # type: ignore[misc]
    """An :class:`Image` as The Sleuth Kit sees it (an external image)."""

    def __init__(self, image: Image) -> None:
        self._image = image
        self.errors: list[ImageError] = []  # read errors TSK was given a short read for
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def close(self) -> None:
        """TSK closes its side; the :class:`Image` is closed by its owner."""

    def read(self, offset: int, size: int) -> bytes:
        try:
            data = self._image.read(offset, size)
        except ImageError as exc:
            # An exception must not cross into TSK (it comes back as a bare RuntimeError):
            # give it a short read, which it reports as an I/O error, and keep ours.
            self.errors.append(exc)
            return b""
        if len(data) < size and offset < self._image.size:
            # Past the real end of a truncated file: TSK expects the requested length.
            data += b"\0" * (min(size, self._image.size - offset) - len(data))
        return data

    def get_size(self) -> int:
        return self._image.size


def open_image(path: str | os.PathLike[str]) -> Image:
    """Open ``path`` read-only, detecting its container from its content and name."""
    return Image(path)
