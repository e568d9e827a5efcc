"""What every artifact parser shares: provenance, the record base class, the registry.

A parser is a function ``parse(item) -> Iterator[ArtifactRecord]`` registered with
:func:`register`, saying which files it applies to: by base name (``History``,
``places.sqlite``) or name ending (``.evtx``), by content type label (``jpeg``,
``sqlite``) or both. It reads its input through :class:`ArtifactInput` (a stream, or a
local path for SQLite) and yields typed, frozen dataclass records, each carrying its
:class:`Source`. A parser may raise on bad input: :func:`run_parser` turns any failure
into an :class:`ArtifactError` record naming the file and the parser, after whatever
records were already yielded.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, ClassVar

_WEBKIT_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_DELTA = timedelta(days=3_000_000)  # beyond datetime's range: an absurd value


@dataclass(frozen=True)
class Source:
    """Where a record comes from: the evidence, the file inside it, the parser."""

    path: str  # inside the file system (fls form), or the local path for a loose file
    parser: str
    image: str | None = None
    volume_offset: int | None = None
    inode: int | None = None
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Source):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


@dataclass(frozen=True, kw_only=True)
class ArtifactRecord:
    """Base of every artifact record. ``kind`` names the record type in JSON."""

    kind: ClassVar[str] = "record"
    time_field: ClassVar[str | None] = None  # the field that places it on a timeline
    source: Source

    @property
    def event_time(self) -> datetime | None:
        """The instant that places this record on a timeline (UTC), if any."""
        if self.time_field is None:
            return None
        value = getattr(self, self.time_field)
        return value if isinstance(value, datetime) else None

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind}
        for item in dataclasses.fields(self):
            document[item.name] = _plain(getattr(self, item.name))
        return document


@dataclass(frozen=True, kw_only=True)
class ArtifactError(ArtifactRecord):
    """A file a parser could not read (in full): the records before it stand."""

    kind: ClassVar[str] = "artifact-error"
    message: str


class ArtifactInput:
    """One file handed to a parser: its provenance, a stream, and a local path on demand."""

    def __init__(self, source: Source, *, open_stream: Callable[[], IO[bytes]],
                 local_path: Callable[[], Path], size: int | None = None) -> None:
        self.source = source
        self._open = open_stream
        self._local = local_path
        self.size = size

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], parser: str = "") -> ArtifactInput:
        """A loose file on disk (an extracted file, a live export)."""
        local = Path(path)
        return cls(Source(path=str(local), parser=parser),
                   open_stream=lambda: open(local, "rb"), local_path=lambda: local,
                   size=local.stat().st_size if local.exists() else None)

    def open(self) -> IO[bytes]:
        return self._open()

    def local_path(self) -> Path:
        """A path on the local disk holding the content (a copy for files in an image)."""
        return self._local()

    def with_parser(self, parser: str) -> ArtifactInput:
        source = dataclasses.replace(self.source, parser=parser)
        return ArtifactInput(source, open_stream=self._open, local_path=self._local,
                             size=self.size)


ParseFunction = Callable[[ArtifactInput], Iterator[ArtifactRecord]]


@dataclass(frozen=True)
class Parser:
    """A registered parser and the files it applies to."""

    name: str
    description: str
    function: ParseFunction
    names: frozenset[str] = frozenset()  # lower-case base names; empty: any name
    types: frozenset[str] = frozenset()  # content type labels; empty: any content
    suffixes: frozenset[str] = frozenset()  # lower-case name endings (".evtx"), or names
    # From the first bytes of a file (HEAD_SIZE, read anyway to type it) and whether they
    # are the whole file: False only when they prove the file holds nothing for this
    # parser (a JPEG whose image data starts before any EXIF segment). Lets a walk skip
    # most files of a common type.
    head: Callable[[bytes, bool], bool] | None = None

    def may_hold(self, head: bytes, whole: bool = False) -> bool:
        """Whether a file starting with ``head`` (all of it when ``whole``) may hold this
        parser's artifact."""
        return self.head is None or self.head(head, whole)

    def name_matches(self, path: str) -> bool:
        if not self.names and not self.suffixes:
            return True
        base = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
        return base in self.names or base.endswith(tuple(self.suffixes))

    def applies_to(self, path: str, type_label: str | None) -> bool:
        if not self.name_matches(path):
            return False
        return not self.types or (type_label is not None and type_label in self.types)


REGISTRY: dict[str, Parser] = {}
PLUGINS = ("android", "chrome", "evtx", "exif", "firefox", "registry", "telegram")
"""The plugin modules of this package, imported by :func:`load_plugins`."""


def load_plugins() -> dict[str, Parser]:
    """Import every plugin module (each registers its parsers); the filled registry."""
    for name in PLUGINS:
        importlib.import_module(f"dalil.engine.forensics.artifacts.{name}")
    return REGISTRY


def register(name: str, description: str, *, names: tuple[str, ...] = (),
             types: tuple[str, ...] = (),
             suffixes: tuple[str, ...] = (),
             head: Callable[[bytes, bool], bool] | None = None,
             ) -> Callable[[ParseFunction], ParseFunction]:
    """Decorator: register ``function`` as parser ``name`` for the given names/types; a
    file name matches when it is one of ``names`` or ends with one of ``suffixes``;
    ``head`` may rule a file out from its first bytes (see :attr:`Parser.head`)."""
    if not names and not types and not suffixes:
        raise ValueError(f"parser {name}: give the file names or content types it reads")

    def decorate(function: ParseFunction) -> ParseFunction:
        REGISTRY[name] = Parser(name, description, function,
                                frozenset(n.lower() for n in names), frozenset(types),
                                frozenset(s.lower() for s in suffixes), head)
        return function

    return decorate


def run_parser(parser: Parser, item: ArtifactInput) -> Iterator[ArtifactRecord]:
    """The parser's records, and an :class:`ArtifactError` instead of any exception."""
    named = item.with_parser(parser.name)
    try:
        yield from parser.function(named)
    except Exception as exc:  # a parser must never stop the run: record why and go on
        reason = str(exc).strip() or type(exc).__name__
        yield ArtifactError(source=named.source,
                            message=f"{named.source.path}: {parser.name}: {reason}")


# --- helpers shared by the parsers --------------------------------------------------------


class ArtifactParseError(Exception):
    """Raised by a parser for input it recognises as damaged or not of its kind."""


def open_sqlite(item: ArtifactInput) -> sqlite3.Connection:
    """Open a SQLite database read-only and immutable: nothing is ever written beside it
    (no journal, no -wal/-shm), so a loose evidence file is left untouched."""
    path = item.local_path()
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise ArtifactParseError(f"not a readable SQLite database: {exc}") from exc
    return connection


def tables(connection: sqlite3.Connection) -> dict[str, set[str]]:
    """``{table: {columns}}`` (lower-case names) of a database."""
    found: dict[str, set[str]] = {}
    for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')").fetchall():
        columns = connection.execute(f'PRAGMA table_info("{name}")').fetchall()
        found[str(name).lower()] = {str(c[1]).lower() for c in columns}
    return found


def _after(epoch: datetime, delta: timedelta) -> datetime | None:
    if delta <= timedelta(0) or delta > _MAX_DELTA:
        return None
    try:
        return epoch + delta
    except OverflowError:
        return None


def webkit_time(value: Any) -> datetime | None:
    """Chrome's microseconds since 1601-01-01 UTC (0 or absurd values: None)."""
    if not isinstance(value, int | float) or value <= 0:
        return None
    return _after(_WEBKIT_EPOCH, timedelta(microseconds=value))


def unix_micro(value: Any) -> datetime | None:
    """Firefox PRTime: microseconds since the Unix epoch."""
    if not isinstance(value, int | float) or value <= 0:
        return None
    return _after(_UNIX_EPOCH, timedelta(microseconds=value))


def unix_milli(value: Any) -> datetime | None:
    """Android and JavaScript: milliseconds since the Unix epoch."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int | float) or value <= 0:
        return None
    return _after(_UNIX_EPOCH, timedelta(milliseconds=value))


def unix_seconds(value: Any) -> datetime | None:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int | float) or value <= 0:
        return None
    return _after(_UNIX_EPOCH, timedelta(seconds=value))
