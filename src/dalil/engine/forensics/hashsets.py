"""Hash sets: known-good and known-bad file hashes, imported once, looked up in bulk.

Sources: NSRL RDS v3 (its SQLite form: table ``FILE`` with ``sha256``, ``sha1``, ``md5``,
``file_name``, ``file_size``, ``package_id``), plain hash lists (one hex digest per line,
optionally followed by a file name as ``md5sum``/``sha256sum`` print it), hashdeep lists
(``%%%% HASHDEEP-1.0``, a ``%%%% size,md5,sha256,filename`` column line, ``##`` comments),
and hashes of every file of a disk image ("master image" workflow, see
:func:`dalil.engine.forensics.filehash.build_hash_set`).

Everything goes into one SQLite file, ``hashsets.sqlite3`` in a folder the caller picks
(the CLI uses ``$DALIL_HOME/hashsets``). Digests are stored as raw bytes (the algorithm
follows from the length: 16 md5, 20 sha1, 32 sha256, 64 sha512) in a ``WITHOUT ROWID``
table keyed by ``(digest, set)``, so that a lookup is one B-tree probe per digest. An
import is one transaction: a malformed line stops it with an error naming the file and
the line, and leaves no half-imported set behind.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATABASE_NAME = "hashsets.sqlite3"
KNOWN = ("good", "bad")
ALGORITHM_BY_HEX_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}
ALGORITHM_BY_BYTES = {n // 2: name for n, name in ALGORITHM_BY_HEX_LENGTH.items()}
HASHDEEP_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")
KNOWN_BAD = "known-bad"
KNOWN_GOOD = "known-good"
_BATCH = 10_000
_LOOKUP_BATCH = 500  # under SQLite's default limit of bound parameters
_HEX = re.compile(r"^[0-9a-fA-F]+$")

Progress = Callable[[int], None]
"""Called with the number of entries read so far, every batch."""


class HashSetError(Exception):
    """A hash set cannot be read or stored; the message names the file and the line."""


@dataclass(frozen=True)
class HashEntry:
    """One digest of a hash set, as a parser reads it."""

    digest: str  # lower-case hex
    algorithm: str
    name: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class HashSetInfo:
    """A stored hash set."""

    name: str
    known: str  # good or bad
    kind: str  # nsrl, list, hashdeep, image
    source: str
    imported_at: datetime
    entries: int  # distinct digests stored

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "known": self.known, "kind": self.kind,
                "source": self.source,
                "imported_at": self.imported_at.isoformat().replace("+00:00", "Z"),
                "entries": self.entries}


@dataclass(frozen=True)
class HashMatch:
    """A digest found in a stored set."""

    digest: str
    algorithm: str
    set_name: str
    known: str
    file_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "algorithm": self.algorithm, "set": self.set_name,
                "known": self.known, "file_name": self.file_name}


def verdict(matches: Iterable[HashMatch]) -> str | None:
    """``known-bad`` if any match is in a known-bad set, else ``known-good`` if any, else
    None: a file in both kinds of set is never hidden as good."""
    kinds = {m.known for m in matches}
    if "bad" in kinds:
        return KNOWN_BAD
    if "good" in kinds:
        return KNOWN_GOOD
    return None


def normalize_digest(text: str) -> tuple[str, str]:
    """``(lower-case hex, algorithm)`` of a digest, or :class:`ValueError` saying why."""
    digest = text.strip().lower()
    algorithm = ALGORITHM_BY_HEX_LENGTH.get(len(digest))
    if algorithm is None or not _HEX.match(digest):
        raise ValueError(f"not an MD5, SHA-1, SHA-256 or SHA-512 hex digest: {text.strip()!r}")
    return digest, algorithm


# --- parsers ---------------------------------------------------------------------------


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        handle = open(path, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    except OSError as exc:
        raise HashSetError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip("\r\n")


def parse_hash_list(lines: Iterable[tuple[int, str]], source: str) -> Iterator[HashEntry]:
    """Plain hash list: one hex digest per line, optionally followed by whitespace and a
    file name (``md5sum`` output, ``*`` binary marker allowed). Blank lines and ``#``
    comments are skipped. Raises :class:`HashSetError` naming ``source`` and the line."""
    for number, line in lines:
        text = line.lstrip("\ufeff").strip()
        if not text or text.startswith("#"):
            continue
        digest, _, rest = text.partition(" ") if " " in text else text.partition("\t")
        try:
            hexdigest, algorithm = normalize_digest(digest)
        except ValueError as exc:
            raise HashSetError(f"{source}: line {number}: {exc}") from None
        name = rest.strip().removeprefix("*") or None
        yield HashEntry(hexdigest, algorithm, name)


def parse_hashdeep(lines: Iterable[tuple[int, str]], source: str) -> Iterator[HashEntry]:
    """hashdeep / md5deep ``-c`` output: header, column line, ``##`` comments, then
    ``size,md5,...,filename`` rows (the file name may itself contain commas)."""
    columns: list[str] | None = None
    header_seen = False
    for number, line in lines:
        text = line.lstrip("\ufeff")
        if not text.strip():
            continue
        if text.startswith("%%%%"):
            body = text[4:].strip()
            if body.upper().startswith("HASHDEEP-"):
                header_seen = True
            elif header_seen:
                columns = [c.strip().lower() for c in body.split(",")]
                if "filename" not in columns or columns[-1] != "filename":
                    raise HashSetError(f"{source}: line {number}: column line must end with "
                                       f"filename: {body!r}")
            else:
                raise HashSetError(f"{source}: line {number}: column line before the "
                                   "%%%% HASHDEEP-1.0 header")
            continue
        if text.startswith("##"):
            continue
        if not header_seen or columns is None:
            raise HashSetError(f"{source}: line {number}: not a hashdeep file (expected the "
                               "%%%% HASHDEEP-1.0 header and a %%%% column line first)")
        fields = text.split(",", len(columns) - 1)
        if len(fields) != len(columns):
            raise HashSetError(f"{source}: line {number}: {len(fields)} fields, expected "
                               f"{len(columns)} ({','.join(columns)})")
        row = dict(zip(columns, fields, strict=True))
        size: int | None = None
        if "size" in row:
            try:
                size = int(row["size"])
            except ValueError:
                raise HashSetError(f"{source}: line {number}: size is not a number: "
                                   f"{row['size']!r}") from None
        name = row["filename"] or None
        found = False
        for algorithm in HASHDEEP_ALGORITHMS:
            if algorithm not in row:
                continue
            try:
                digest, detected = normalize_digest(row[algorithm])
            except ValueError as exc:
                raise HashSetError(f"{source}: line {number}: {algorithm}: {exc}") from None
            if detected != algorithm:
                raise HashSetError(f"{source}: line {number}: the {algorithm} column holds a "
                                   f"{detected} digest")
            found = True
            yield HashEntry(digest, algorithm, name, size)
        if not found:
            raise HashSetError(f"{source}: line {number}: no md5, sha1, sha256 or sha512 "
                               "column")


_NSRL_TABLES = (("FILE", ("sha256", "sha1", "md5")), ("DISTINCT_HASH", ("sha256", "sha1", "md5")))


def read_nsrl(path: Path) -> Iterator[HashEntry]:
    """Every digest of an NSRL RDS v3 SQLite database (table ``FILE``), read-only."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1",
                                     uri=True)
    except sqlite3.Error as exc:
        raise HashSetError(f"{path}: cannot open as SQLite: {exc}") from exc
    with closing(connection):
        try:
            tables = {row[0].upper(): row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        except sqlite3.DatabaseError as exc:
            raise HashSetError(f"{path}: not a readable SQLite database: {exc}") from exc
        for table, wanted in _NSRL_TABLES:
            if table not in tables:
                continue
            real = tables[table]
            columns = {row[1].lower() for row in connection.execute(
                f'PRAGMA table_info("{real}")')}
            hashes = [c for c in wanted if c in columns]
            if not hashes:
                continue
            extra = ", file_name" if "file_name" in columns else ", NULL"
            extra += ", file_size" if "file_size" in columns else ", NULL"
            query = f'SELECT rowid, {", ".join(hashes)}{extra} FROM "{real}"'  # noqa: S608
            try:
                for row in connection.execute(query):
                    rowid, name, size = row[0], row[-2], row[-1]
                    for algorithm, value in zip(hashes, row[1:-2], strict=True):
                        if value is None or value == "":
                            continue
                        try:
                            digest, detected = normalize_digest(str(value))
                        except ValueError as exc:
                            raise HashSetError(f"{path}: table {real} row {rowid}: "
                                               f"{algorithm}: {exc}") from None
                        if detected != algorithm:
                            raise HashSetError(f"{path}: table {real} row {rowid}: the "
                                               f"{algorithm} column holds a {detected} digest")
                        yield HashEntry(digest, algorithm, name,
                                        int(size) if isinstance(size, int) else None)
            except sqlite3.DatabaseError as exc:
                raise HashSetError(f"{path}: table {real}: read error: {exc}") from exc
            return
        raise HashSetError(f"{path}: not an NSRL RDS v3 database: no FILE table with sha256/"
                           f"sha1/md5 columns (tables: {', '.join(sorted(tables)) or 'none'})")


def sniff_format(path: Path) -> str:
    """``nsrl`` (SQLite), ``hashdeep`` (its header) or ``list``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise HashSetError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if head.startswith(b"SQLite format 3\x00"):
        return "nsrl"
    if head.lstrip(b"\xef\xbb\xbf").startswith(b"%%%% HASHDEEP"):
        return "hashdeep"
    return "list"


def read_hash_file(path: str | os.PathLike[str], kind: str | None = None) -> Iterator[HashEntry]:
    """Entries of a hash file of format ``kind`` (sniffed when None)."""
    source = Path(path)
    if not source.is_file():
        raise HashSetError(f"{source}: no such file")
    kind = kind or sniff_format(source)
    if kind == "nsrl":
        return read_nsrl(source)
    if kind == "hashdeep":
        return parse_hashdeep(_text_lines(source), str(source))
    if kind == "list":
        return parse_hash_list(_text_lines(source), str(source))
    raise HashSetError(f"unknown hash set format {kind!r}: nsrl, hashdeep or list")


# --- store -----------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hash_set (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    known TEXT NOT NULL CHECK (known IN ('good', 'bad')),
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    entries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS hash (
    digest BLOB NOT NULL,
    set_id INTEGER NOT NULL REFERENCES hash_set (id) ON DELETE CASCADE,
    name TEXT,
    size INTEGER,
    PRIMARY KEY (digest, set_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hash_by_set ON hash (set_id);
"""


class HashSetStore:
    """The hash sets kept in ``directory/hashsets.sqlite3``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.path = self.directory / DATABASE_NAME
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise HashSetError(f"{self.directory}: cannot open the hash set store: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HashSetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # writing

    def add(
        self,
        name: str,
        known: str,
        entries: Iterable[HashEntry],
        *,
        kind: str,
        source: str,
        replace: bool = False,
        progress: Progress | None = None,
    ) -> HashSetInfo:
        """Store ``entries`` as the set ``name``, all or nothing."""
        if known not in KNOWN:
            raise HashSetError(f"known must be 'good' or 'bad', not {known!r}")
        if not name.strip():
            raise HashSetError("a hash set needs a name")
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            existing = db.execute("SELECT id FROM hash_set WHERE name = ?", (name,)).fetchone()
            if existing is not None:
                if not replace:
                    raise HashSetError(f"a hash set named {name!r} already exists (replace it "
                                       "explicitly, or choose another name)")
                db.execute("DELETE FROM hash WHERE set_id = ?", (existing[0],))
                db.execute("DELETE FROM hash_set WHERE id = ?", (existing[0],))
            now = datetime.now(UTC).replace(microsecond=0)
            set_id = db.execute(
                "INSERT INTO hash_set (name, known, kind, source, imported_at) "
                "VALUES (?, ?, ?, ?, ?)", (name, known, kind, source, now.isoformat()),
            ).lastrowid
            before = db.total_changes
            batch: list[tuple[bytes, int, str | None, int | None]] = []
            read = 0
            insert = "INSERT OR IGNORE INTO hash (digest, set_id, name, size) VALUES (?,?,?,?)"
            for entry in entries:
                batch.append((bytes.fromhex(entry.digest), set_id or 0, entry.name,
                              entry.size))
                read += 1
                if len(batch) >= _BATCH:
                    db.executemany(insert, batch)
                    batch.clear()
                    if progress is not None:
                        progress(read)
            if batch:
                db.executemany(insert, batch)
            if progress is not None:
                progress(read)
            count = db.total_changes - before
            db.execute("UPDATE hash_set SET entries = ? WHERE id = ?", (count, set_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return HashSetInfo(name, known, kind, source, now, count)

    def import_file(
        self,
        path: str | os.PathLike[str],
        name: str,
        known: str,
        *,
        kind: str | None = None,
        replace: bool = False,
        progress: Progress | None = None,
    ) -> HashSetInfo:
        """Import an NSRL RDS v3 database, a hashdeep file or a plain list (sniffed)."""
        source = Path(path)
        kind = kind or (sniff_format(source) if source.is_file() else "list")
        entries = read_hash_file(source, kind)
        return self.add(name, known, entries, kind=kind, source=str(source.resolve()),
                        replace=replace, progress=progress)

    def remove(self, name: str) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT id FROM hash_set WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise HashSetError(f"no hash set named {name!r}")
            db.execute("DELETE FROM hash WHERE set_id = ?", (row[0],))
            db.execute("DELETE FROM hash_set WHERE id = ?", (row[0],))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # reading

    def sets(self) -> list[HashSetInfo]:
        rows = self._db.execute(
            "SELECT name, known, kind, source, imported_at, entries FROM hash_set ORDER BY name")
        return [HashSetInfo(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), r[5])
                for r in rows]

    def get(self, name: str) -> HashSetInfo:
        for info in self.sets():
            if info.name == name:
                return info
        raise HashSetError(f"no hash set named {name!r}")

    def lookup(self, digests: Iterable[str]) -> dict[str, list[HashMatch]]:
        """``{digest: [matches]}`` for the given hex digests (any mix of algorithms), only
        the digests found. Raises :class:`ValueError` for a digest that is not hex."""
        wanted: dict[bytes, str] = {}
        for text in digests:
            digest, _ = normalize_digest(text)
            wanted[bytes.fromhex(digest)] = digest
        found: dict[str, list[HashMatch]] = {}
        keys = list(wanted)
        for start in range(0, len(keys), _LOOKUP_BATCH):
            chunk = keys[start:start + _LOOKUP_BATCH]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT h.digest, s.name, s.known, h.name FROM hash h "  # noqa: S608
                f"JOIN hash_set s ON s.id = h.set_id WHERE h.digest IN ({marks}) "
                "ORDER BY s.name", chunk)
            for raw, set_name, known, file_name in rows:
                digest = wanted[bytes(raw)]
                found.setdefault(digest, []).append(HashMatch(
                    digest, ALGORITHM_BY_BYTES[len(raw)], set_name, known, file_name))
        return found

    def match_hashes(self, hashes: Mapping[str, str]) -> list[HashMatch]:
        """Matches of one file's ``{algorithm: digest}`` (only md5, sha1, sha256 and sha512
        are stored: a sha3_256 or blake2b digest would be mistaken for one by length)."""
        usable = [d for a, d in hashes.items() if a in HASHDEEP_ALGORITHMS]
        return [m for matches in self.lookup(usable).values() for m in matches]
