"""Timeline output: TSK bodyfile lines, as ``fls -r -m /`` writes them, and a timeline
CSV merging the file system's MACB times with typed events from the artifact parsers.

Bodyfile: ``MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime``; the MD5
column is ``0`` as in fls (hashing is a separate step); times are Unix seconds, 0 when
absent.

Artifact events (:func:`artifact_events`): one per artifact record that has a time known in
UTC ("web visit", "download", "photo taken", "message sent", "SMS", "contact last
contacted"), each with its source (image, volume offset, path, inode, parser).
"""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dalil.engine.forensics.artifacts.base import ArtifactRecord, Source
from dalil.engine.forensics.filesystem import FileSystem
from dalil.engine.forensics.walk import Entry, WalkProblem, iso_utc, walk

_S_ISUID, _S_ISGID, _S_ISVTX = 0o4000, 0o2000, 0o1000


def mode_string(entry: Entry) -> str:
    """``tsk_fs_meta_make_ls``: the metadata type letter then ``rwxrwxrwx`` with s/S/t/T."""
    if entry.meta_type is None:
        return "----------"
    mode = entry.mode
    chars = [entry.meta_type, "-", "-", "-", "-", "-", "-", "-", "-", "-"]
    for base, shift, special, letter in ((1, 6, _S_ISUID, "s"), (4, 3, _S_ISGID, "s"),
                                        (7, 0, _S_ISVTX, "t")):
        if mode & (0o4 << shift):
            chars[base] = "r"
        if mode & (0o2 << shift):
            chars[base + 1] = "w"
        executable = bool(mode & (0o1 << shift))
        if mode & special:
            chars[base + 2] = letter if executable else letter.upper()
        elif executable:
            chars[base + 2] = "x"
    return "".join(chars)


def bodyfile_line(entry: Entry, prefix: str = "/") -> str:
    """One bodyfile line for ``entry`` (``prefix`` as fls ``-m``: a mount point)."""
    name = f"{prefix}{entry.path}"
    if entry.times_from_file_name:
        name += " ($FILE_NAME)"
    if entry.link is not None and entry.meta_type == "l":
        name += f" -> {entry.link}"
    if entry.deleted:
        name += " (realloc)" if entry.meta_allocated else " (deleted)"
    if entry.meta_type is None:
        rest = "0|0|0|0|0|0|0"
    else:
        atime, mtime, ctime, crtime = entry.epoch_times
        rest = f"{entry.uid}|{entry.gid}|{entry.size}|{atime}|{mtime}|{ctime}|{crtime}"
    return f"0|{name}|{entry.address}|{entry.name_type}/{mode_string(entry)}|{rest}"


def bodyfile(fs: FileSystem, prefix: str = "/",
             on_problem: Callable[[WalkProblem], None] | None = None) -> Iterator[str]:
    """Every bodyfile line of the file system, in ``fls -r -m`` order (no newlines)."""
    for entry in walk(fs, file_name_times=fs.is_ntfs, on_problem=on_problem):
        yield bodyfile_line(entry, prefix)


# --- timeline CSV: MACB rows of the file system merged with artifact events ----------------

EVENT_KINDS = {
    "web-visit": "web visit",
    "download": "download",
    "photo-taken": "photo taken",
    "message-sent": "message sent",
    "sms": "SMS",
    "contact": "contact last contacted",
    "usb-connected": "USB device last connected",
    "usb-event": "USB device event",
    "account-created": "user account created",
    "program-installed": "program installed or updated",
    "file-opened": "file last opened",
    "logon": "logon",
    "logon-failed": "failed logon",
    "service-installed": "service installed",
}
"""Timeline event kinds of the artifact records (identifier: English label)."""

_RECORD_EVENTS = {"browser-visit": "web-visit", "browser-download": "download",
                  "exif": "photo-taken", "telegram-message": "message-sent", "sms": "sms",
                  "contact": "contact", "usb-device": "usb-connected",
                  "usb-event": "usb-event", "user-account": "account-created",
                  "installed-program": "program-installed", "recent-file": "file-opened",
                  "windows-logon": "logon", "windows-service-install": "service-installed"}
_MAX_TEXT = 500  # a description is a summary: long message bodies are cut


@dataclass(frozen=True)
class TimelineEvent:
    """One moment (UTC) found by an artifact parser, with where it comes from."""

    time: datetime
    kind: str  # a key of EVENT_KINDS
    description: str
    source: Source
    record_kind: str  # the artifact record's kind (browser-visit, exif, ...)

    def to_dict(self) -> dict[str, Any]:
        return {"time": iso_utc(self.time), "kind": self.kind,
                "description": self.description, "record_kind": self.record_kind,
                "source": self.source.to_dict()}


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 1] + "…"


def _describe(record: ArtifactRecord) -> str:
    def value(name: str) -> Any:
        return getattr(record, name, None)

    kind = record.kind
    if kind == "browser-visit":
        title = value("title")
        text = f"{value('browser')}: {value('url')}" + (f" ({title})" if title else "")
    elif kind == "browser-download":
        text = f"{value('browser')}: {value('url') or '?'} -> {value('target_path') or '?'}"
        if value("state"):
            text += f" ({value('state')})"
    elif kind == "exif":
        camera = " ".join(v for v in (value("make"), value("model")) if v) or "camera unknown"
        text = camera
        if value("gps_latitude") is not None and value("gps_longitude") is not None:
            text += f", GPS {value('gps_latitude')}, {value('gps_longitude')}"
    elif kind == "telegram-message":
        text = (f"Telegram {value('chat_name') or value('chat_id') or '?'}: "
                f"{value('sender') or value('action') or '?'}: {value('text')}")
    elif kind == "sms":
        text = f"SMS {value('direction') or value('folder') or ''} {value('address') or '?'}: "
        text += value("body") or ""
    elif kind == "contact":
        phones = ", ".join(value("phones") or ())
        text = f"{value('name') or '?'}" + (f" ({phones})" if phones else "")
    elif kind in ("usb-device", "usb-event"):
        device = " ".join(v for v in (value("vendor"), value("product")) if v) or "?"
        text = f"USB {device}, serial {value('serial') or '?'}"
        if kind == "usb-event":
            text += f": {value('action')} (event {value('event_id')})"
    elif kind == "user-account":
        text = f"account {value('name') or '?'} (RID {value('rid')})"
    elif kind == "installed-program":
        text = " ".join(v for v in (value("name"), value("version")) if v) or "?"
        if value("publisher"):
            text += f" ({value('publisher')})"
    elif kind == "recent-file":
        text = f"{value('list_name')}: {value('name')}"
    elif kind == "windows-logon":
        who = "\\".join(v for v in (value("domain"), value("user")) if v) or "?"
        text = (f"{'logon' if value('success') else 'failed logon'} {who}, type "
                f"{value('logon_type_name') or value('logon_type')}, from "
                f"{value('source_ip') or value('workstation') or '?'}")
    elif kind == "windows-service-install":
        text = f"service {value('service_name') or '?'}: {value('image_path') or '?'}"
    else:
        text = kind
    return _short(text)


def artifact_event(record: ArtifactRecord) -> TimelineEvent | None:
    """The timeline event of one artifact record: None for errors and for records
    without a time known in UTC (e.g. a photo whose camera recorded no time zone)."""
    kind = _RECORD_EVENTS.get(record.kind)
    when = record.event_time
    if kind is None or when is None:
        return None
    if kind == "logon" and getattr(record, "success", True) is False:
        kind = "logon-failed"
    return TimelineEvent(when.astimezone(UTC), kind, _describe(record), record.source,
                         record.kind)


def artifact_events(records: Iterable[ArtifactRecord]) -> list[TimelineEvent]:
    """The timeline events of ``records``, oldest first."""
    found = [e for e in map(artifact_event, records) if e is not None]
    found.sort(key=lambda e: (e.time, e.source.path, e.description))
    return found


CSV_HEADER = ("time_utc", "macb", "kind", "size", "mode", "uid", "gid", "inode", "path",
              "deleted", "parser", "description")


def _macb_rows(fs: FileSystem, prefix: str,
               on_problem: Callable[[WalkProblem], None] | None) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for entry in walk(fs, on_problem=on_problem):
        moments: dict[datetime, set[str]] = {}
        for letter, value in (("m", entry.mtime), ("a", entry.atime), ("c", entry.ctime),
                              ("b", entry.crtime)):
            if value is not None:
                moments.setdefault(value, set()).add(letter)
        for moment, letters in moments.items():
            macb = "".join(k if k in letters else "." for k in "macb")
            rows.append((moment, 0, macb, "file", entry.size, mode_string(entry), entry.uid,
                         entry.gid, entry.address, f"{prefix}{entry.path}", entry.deleted,
                         "", ""))
    rows.sort(key=lambda r: (r[0], r[9]))
    return rows


def _cell(value: Any) -> Any:
    """A text cell that a spreadsheet will not run as a formula."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or isinstance(value, int):
        return "" if value is None else value
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r", "|") else text


def timeline_csv(fs: FileSystem, *, prefix: str = "/",
                 events: Iterable[TimelineEvent] = (),
                 on_problem: Callable[[WalkProblem], None] | None = None) -> Iterator[str]:
    """The timeline as CSV lines (header first, each with its newline): one row per file
    and moment with the MACB letters of the times equal to it (as mactime), merged in time
    order with the artifact ``events`` (``kind`` names them, ``macb`` is empty). Times are
    ISO 8601 UTC; text cells that a spreadsheet would run as formulas get a leading '."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(row: Iterable[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        return buffer.getvalue()

    yield line(CSV_HEADER)
    files = _macb_rows(fs, prefix, on_problem)
    artifacts = [(e.time, 1, "", e.kind, "", "", "", "",
                  "" if e.source.inode is None else e.source.inode,
                  f"{prefix}{e.source.path}", e.source.deleted, e.source.parser, e.description)
                 for e in sorted(events, key=lambda e: e.time)]
    for row in heapq.merge(files, artifacts, key=lambda r: (r[0], r[1])):
        yield line([iso_utc(row[0]), *(_cell(v) for v in row[2:])])
