"""Opening a bundle safely and reading its entries as bounded streams."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import IO, Any

from dalil.engine.evidence.bundle_safety import (
    DEFAULT_LIMITS,
    BundleError,
    Limits,
    UnsafeArchive,
    check_archive,
)
from dalil.engine.evidence.bundle_write import FORMAT, MANIFEST

# What zipfile raises for damaged archives and entries (truncation, bad CRC, bad headers).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
              NotImplementedError, RuntimeError)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers keeping different copies of a repeated key would read two different
    # manifests under one signature; refuse the ambiguity.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_json(data: bytes, what: str) -> Any:
    """Strict JSON: UTF-8, no repeated keys. Raises BundleError naming ``what``."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{what}: not valid JSON ({exc})") from exc


class CheckedStream:
    """An entry's byte stream whose CRC and truncation errors name the entry."""

    def __init__(self, inner: IO[bytes], name: str) -> None:
        self._inner = inner
        self.name = name

    def read(self, size: int = -1) -> bytes:
        try:
            return self._inner.read(size)
        except ZIP_ERRORS as exc:
            raise BundleError(f"{self.name}: corrupt entry ({exc})") from exc

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> CheckedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BundleReader:
    """An opened bundle whose central directory passed every safety check.

    Construction raises :class:`UnsafeArchive` for a corrupt or hostile archive, before any
    entry's content is read; nothing is ever extracted to disk by this class.
    """

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = Path(path)
        self.limits = limits
        try:
            self._zip = zipfile.ZipFile(self.path)
        except FileNotFoundError as exc:
            raise BundleError(f"{self.path}: no such file") from exc
        except ZIP_ERRORS as exc:
            raise UnsafeArchive(f"{self.path.name}: corrupt or not a ZIP archive ({exc})") from exc
        problems = check_archive(self._zip, limits)
        if problems:
            self._zip.close()
            more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
            raise UnsafeArchive(f"{self.path.name}: refused: " + "; ".join(problems[:20]) + more)
        self.entries = {info.filename: info for info in self._zip.infolist()}

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def open(self, name: str) -> CheckedStream:
        if name not in self.entries:
            raise BundleError(f"{name}: missing from the bundle")
        try:
            return CheckedStream(self._zip.open(self.entries[name]), name)
        except ZIP_ERRORS as exc:
            raise BundleError(f"{name}: corrupt entry ({exc})") from exc

    def read(self, name: str) -> bytes:
        """A small document's bytes (manifest, signature, custody log), size-limited."""
        if name in self.entries and self.entries[name].file_size > self.limits.max_document_size:
            raise BundleError(f"{name}: larger than {self.limits.max_document_size} bytes")
        with self.open(name) as stream:
            return stream.read()

    def manifest(self) -> dict[str, Any]:
        manifest = parse_json(self.read(MANIFEST), MANIFEST)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BundleError(f"{MANIFEST}: not a {FORMAT} manifest")
        return manifest


def open_bundle(path: Path, limits: Limits = DEFAULT_LIMITS) -> BundleReader:
    """Open a bundle for reading; raises UnsafeArchive before any entry is read."""
    return BundleReader(path, limits)
