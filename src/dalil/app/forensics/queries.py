"""Read-only queries of the forensic records: the browser's filters, the timeline, the
hex view. (Writes are in services.py.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, F, Q, QuerySet, Value

from dalil.app.cases.models import Exhibit
from dalil.app.forensics.forms import ARTIFACT_EVENTS, ARTIFACT_SECTIONS
from dalil.app.forensics.models import ArtifactRecord, FileRecord
from dalil.engine.forensics.hashsets import KNOWN_BAD

TIME_FIELDS = {"m": "mtime", "a": "atime", "c": "ctime", "b": "crtime"}
EVENT_LABELS = dict(ARTIFACT_EVENTS)
_DIR_TYPES = ("directory", "virtual-directory")
_NAMED_TYPES = ("file", *_DIR_TYPES, "symlink")


def _range(records: QuerySet[FileRecord], name: str, start: dt.datetime | None,
           end: dt.datetime | None) -> QuerySet[FileRecord]:
    if start:
        records = records.filter(**{f"{name}__gte": start})
    if end:
        records = records.filter(**{f"{name}__lte": end})
    return records


def _utc(value: Any) -> dt.datetime | None:
    """Times typed in the forms are UTC, whatever the server's time zone."""
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def common_filters(records: QuerySet[FileRecord], data: Mapping[str, Any]) -> QuerySet[FileRecord]:
    if data.get("q"):
        records = records.filter(path__icontains=data["q"])
    if data.get("deleted") == "yes":
        records = records.filter(deleted=True)
    elif data.get("deleted") == "no":
        records = records.filter(deleted=False)
    return records


def browse(exhibit: Exhibit, data: Mapping[str, Any]) -> QuerySet[FileRecord]:
    """The records of the browser table for the cleaned filter ``data``."""
    records = common_filters(FileRecord.objects.filter(exhibit=exhibit), data)
    if data.get("vol") is not None:
        records = records.filter(volume_index=data["vol"])
        if data.get("lv"):  # an LVM logical volume or APFS volume of that volume
            records = records.filter(logical_volume=data["lv"])
    folder = data.get("dir") or ""
    if data.get("sub"):
        if folder:
            records = records.filter(path__startswith=folder)
    else:
        records = records.filter(parent=folder)
    kind = data.get("type")
    if kind == "directory":
        records = records.filter(type__in=_DIR_TYPES)
    elif kind == "other":
        records = records.exclude(type__in=_NAMED_TYPES)
    elif kind:
        records = records.filter(type=kind)
    if data.get("ftype"):
        records = records.filter(file_type=data["ftype"])
    if data.get("mismatch"):
        records = records.filter(extension_mismatch=True)
    if data.get("known_bad"):
        records = records.filter(verdict=KNOWN_BAD)
    start, end = _utc(data.get("start")), _utc(data.get("end"))
    if start or end:
        query = Q()
        for name in TIME_FIELDS.values():  # any of the four times in the range
            bounds = {f"{name}__gte": start} if start else {}
            if end:
                bounds[f"{name}__lte"] = end
            query |= Q(**bounds)
        records = records.filter(query)
    return records.order_by("volume_index", "logical_volume", "-type", "name", "seq")


def file_types(exhibit: Exhibit) -> list[str]:
    return sorted(t for t in FileRecord.objects.filter(exhibit=exhibit).exclude(file_type="")
                  .values_list("file_type", flat=True).distinct())


def volumes(exhibit: Exhibit) -> list[Any]:
    """The walked units of the exhibit: each volume, or each LVM logical volume or APFS
    volume in it (``logical_volume`` "" for a volume walked directly), with offset and
    file system."""
    return list(FileRecord.objects.filter(exhibit=exhibit).values(
        "volume_index", "logical_volume", "volume_offset", "fs_type")
        .distinct().order_by("volume_index", "logical_volume"))


def breadcrumbs(folder: str) -> list[tuple[str, str]]:
    """``[(name, prefix), ...]`` for ``a/b/`` -> ``[("a", "a/"), ("b", "a/b/")]``."""
    crumbs: list[tuple[str, str]] = []
    prefix = ""
    for part in [p for p in folder.split("/") if p]:
        prefix += part + "/"
        crumbs.append((part, prefix))
    return crumbs


# --- the timeline ----------------------------------------------------------------------------


@dataclass
class Event:
    """One moment of one record: the MACB letters of the times equal to it (mactime style),
    or one artifact event (``artifact`` set, ``kinds`` holding its event kind)."""

    at: dt.datetime
    record: FileRecord
    kinds: set[str] = field(default_factory=set)
    artifact: ArtifactRecord | None = None

    @property
    def macb(self) -> str:
        return "".join(k if k in self.kinds else "." for k in "macb")

    @property
    def label(self) -> str:
        return str(EVENT_LABELS.get(self.artifact.event, self.artifact.event)) \
            if self.artifact else ""


def _artifact_events(exhibit: Exhibit, data: Mapping[str, Any], kinds: list[str],
                     start: dt.datetime | None, end: dt.datetime | None) -> QuerySet[Any]:
    rows = ArtifactRecord.objects.filter(exhibit=exhibit, time__isnull=False, event__in=kinds)
    if data.get("q"):
        rows = rows.filter(record__path__icontains=data["q"])
    if data.get("deleted") == "yes":
        rows = rows.filter(record__deleted=True)
    elif data.get("deleted") == "no":
        rows = rows.filter(record__deleted=False)
    if start:
        rows = rows.filter(time__gte=start)
    if end:
        rows = rows.filter(time__lte=end)
    return rows.annotate(at=F("time")).values_list("at", "id", "event").order_by()


def timeline(exhibit: Exhibit, data: Mapping[str, Any]) -> QuerySet[Any]:
    """Every (time, record, letter) of the filtered records and every (time, artifact,
    event kind) of the artifact records, oldest first, as one query (a UNION over the four
    time columns and the artifacts) that a paginator can count and slice."""
    records = common_filters(FileRecord.objects.filter(exhibit=exhibit), data)
    chosen = list(data.get("kinds") or [*TIME_FIELDS, *EVENT_LABELS])
    kinds = [k for k in chosen if k in TIME_FIELDS]
    events = [k for k in chosen if k in EVENT_LABELS]
    start, end = _utc(data.get("start")), _utc(data.get("end"))
    parts = []
    for letter in kinds:
        name = TIME_FIELDS[letter]
        part = _range(records.filter(**{f"{name}__isnull": False}), name, start, end)
        parts.append(part.annotate(at=F(name), kind=Value(letter, output_field=CharField()))
                     .values_list("at", "id", "kind").order_by())
    if events:
        parts.append(_artifact_events(exhibit, data, events, start, end))
    first, *rest = parts
    return first.union(*rest, all=True).order_by("at", "id", "kind") if rest else \
        first.order_by("at", "id")


def events(rows: Iterable[tuple[dt.datetime, int, str]]) -> list[Event]:
    """The page's rows as events, the letters of one record at one moment merged."""
    rows = list(rows)
    records = FileRecord.objects.in_bulk({row[1] for row in rows if row[2] in TIME_FIELDS})
    artifacts = ArtifactRecord.objects.select_related("record").in_bulk(
        {row[1] for row in rows if row[2] not in TIME_FIELDS})
    merged: list[Event] = []
    for at, pk, kind in rows:
        if kind not in TIME_FIELDS:
            artifact = artifacts[pk]
            merged.append(Event(at, artifact.record, {kind}, artifact))
        elif (merged and merged[-1].artifact is None and merged[-1].at == at
              and merged[-1].record.pk == pk):
            merged[-1].kinds.add(kind)
        else:
            merged.append(Event(at, records[pk], {kind}))
    return merged


# --- the artifacts ---------------------------------------------------------------------------

SECTION_PREVIEW = 20


def artifacts(exhibit: Exhibit, data: Mapping[str, Any]) -> QuerySet[ArtifactRecord]:
    """The exhibit's artifact records for the cleaned filter ``data`` (all kinds)."""
    rows = ArtifactRecord.objects.filter(exhibit=exhibit).select_related("record")
    if data.get("kind"):
        rows = rows.filter(kind=data["kind"])
    if data.get("q"):
        rows = rows.filter(Q(description__icontains=data["q"])
                           | Q(record__path__icontains=data["q"]))
    if data.get("gps"):
        rows = rows.filter(kind="exif").exclude(data__gps_latitude=None)  # JSON null
    return rows.order_by("time", "record__path", "seq", "id")


def artifact_counts(exhibit: Exhibit) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind in ArtifactRecord.objects.filter(exhibit=exhibit).values_list("kind", flat=True):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def artifact_sections(exhibit: Exhibit, data: Mapping[str, Any],
                      limit: int = SECTION_PREVIEW) -> list[dict[str, Any]]:
    """One table per artifact kind that has records: its label, count and first rows."""
    sections = []
    rows = artifacts(exhibit, data)
    for kind, label in ARTIFACT_SECTIONS:
        chosen = rows.filter(kind=kind)
        count = chosen.count()
        if count:
            sections.append({"kind": kind, "label": label, "count": count,
                             "rows": list(chosen[:limit])})
    return sections


# --- the file view ---------------------------------------------------------------------------


def hex_rows(data: bytes, width: int = 16) -> list[tuple[str, str, str]]:
    """``(offset, hex bytes, printable ASCII)`` per row, as a hex editor shows them."""
    rows = []
    for offset in range(0, len(data), width):
        chunk = data[offset:offset + width]
        hexed = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        rows.append((f"{offset:08x}", hexed, text))
    return rows


def preview_type(head: bytes) -> str | None:
    """The image type a browser may be given for a preview: JPEG or PNG by signature only."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None
