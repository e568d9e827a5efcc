"""Run the registered parsers over the files of a disk image, or over loose files.

Files are chosen by name first (cheap), then by content type (the head of the file is read
only when some parser asks for a type). Parsers that need a local file (SQLite) get a copy
in a private temporary folder, removed as soon as that file is done; the others read the
content straight from the image. Memory stays constant whatever the number of files.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from dalil.engine.forensics.artifacts.base import (
    REGISTRY,
    ArtifactInput,
    ArtifactParseError,
    ArtifactRecord,
    Parser,
    Source,
    load_plugins,
    run_parser,
)
from dalil.engine.forensics.extract import read_content
from dalil.engine.forensics.filehash import TskFileStream, is_regular_file
from dalil.engine.forensics.filesystem import FileSystem
from dalil.engine.forensics.filetype import HEAD_SIZE, identify_file, identify_head
from dalil.engine.forensics.walk import Entry, WalkProblem, walk

MAX_COPY = 4 * 1024**3
"""Largest file copied out of an image for a parser that needs a local path (bytes)."""


def select_parsers(names: Iterable[str] | None = None) -> list[Parser]:
    """The registered parsers, or those named (``ValueError`` naming an unknown one)."""
    load_plugins()
    if names is None:
        return list(REGISTRY.values())
    chosen = []
    for name in names:
        if name not in REGISTRY:
            raise ValueError(f"unknown artifact parser {name!r}; known: "
                             f"{', '.join(sorted(REGISTRY))}")
        chosen.append(REGISTRY[name])
    return chosen


def parse_file(path: str | os.PathLike[str],
               parsers: Iterable[Parser] | None = None) -> Iterator[ArtifactRecord]:
    """Run every parser that applies to a loose file (by its name and content)."""
    local = Path(path)
    chosen = list(parsers) if parsers is not None else select_parsers()
    label = identify_file(local).label
    item = ArtifactInput.from_path(local)
    for parser in chosen:
        if parser.applies_to(local.name, label):
            yield from run_parser(parser, item)


class _LocalCopy:
    """Copies one file out of the image on first use, into a private folder."""

    def __init__(self, fs: FileSystem, entry: Entry, folder: Path, max_size: int) -> None:
        self._fs, self._entry, self._folder, self._max = fs, entry, folder, max_size
        self.path: Path | None = None

    def __call__(self) -> Path:
        if self.path is not None:
            return self.path
        if self._entry.size > self._max:
            raise ArtifactParseError(f"{self._entry.size} bytes: larger than {self._max}, "
                                     "not copied out for parsing")
        fd, name = tempfile.mkstemp(dir=self._folder)
        with os.fdopen(fd, "wb") as handle:
            for chunk in read_content(self._fs, self._entry):
                handle.write(chunk)
        self.path = Path(name)
        return self.path

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def _stream(fs: FileSystem, entry: Entry) -> Callable[[], IO[bytes]]:
    return lambda: io.BufferedReader(TskFileStream(fs, entry), buffer_size=256 * 1024)


def parse_file_system(
    fs: FileSystem,
    *,
    parsers: Iterable[Parser] | None = None,
    include_deleted: bool = False,
    workdir: str | os.PathLike[str] | None = None,
    max_size: int = MAX_COPY,
    on_problem: Callable[[WalkProblem], None] | None = None,
) -> Iterator[ArtifactRecord]:
    """Every artifact record of every file in ``fs`` that a parser applies to."""
    chosen = list(parsers) if parsers is not None else select_parsers()
    folder = Path(tempfile.mkdtemp(prefix="dalil-artifacts-", dir=workdir))
    try:
        for entry in walk(fs, on_problem=on_problem):
            if not is_regular_file(entry) or (entry.deleted and not include_deleted):
                continue
            by_name = [p for p in chosen if p.name_matches(entry.name)]
            if not by_name:
                continue
            label: str | None = None
            if any(p.types or p.head for p in by_name):
                try:
                    with TskFileStream(fs, entry) as stream:
                        head = stream.read(HEAD_SIZE) or b""
                    label = identify_head(head).label
                    whole = entry.size <= len(head)
                    by_name = [p for p in by_name if p.may_hold(head, whole)]
                except OSError:
                    label = None  # unreadable: the parsers that need no type still run
            yield from parse_entry(fs, entry, label, parsers=by_name, folder=folder,
                                   max_size=max_size)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def parse_entry(fs: FileSystem, entry: Entry, type_label: str | None, *,
                parsers: Iterable[Parser], folder: str | os.PathLike[str],
                max_size: int = MAX_COPY) -> Iterator[ArtifactRecord]:
    """The records of one file of ``fs`` whose content type is already known (``type_label``,
    as :func:`~dalil.engine.forensics.filetype.identify` names it): only the ``parsers``
    that apply to its name and type run. A copy made for SQLite parsers goes in ``folder``
    and is removed when the file is done."""
    applicable = [p for p in parsers if p.applies_to(entry.name, type_label)]
    if not applicable:
        return
    source = Source(path=entry.path, parser="", image=fs.image.path,
                    volume_offset=fs.offset, inode=entry.inode, deleted=entry.deleted)
    copy = _LocalCopy(fs, entry, Path(folder), max_size)
    item = ArtifactInput(source, open_stream=_stream(fs, entry), local_path=copy,
                         size=entry.size)
    try:
        for parser in applicable:
            yield from run_parser(parser, item)
    finally:
        copy.remove()
