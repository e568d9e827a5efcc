"""The artifact step of the ingest job: run the engine's artifact parsers over the stored
files they apply to and store their records (part of the forensics services: the only
place that writes :class:`ArtifactRecord` rows).

Only files a parser applies to are read: candidates are chosen in the database by name
(``History``, ``places.sqlite``, ``result.json``, ``mmssms.db``...) or by the content type
the walk already identified (``jpeg``, ``sqlite``...), so the step costs nothing on files
no parser wants. Files are parsed in chunks whose records and :class:`ParsedFile` rows are
stored in one transaction; a resumed run skips the files that have a ParsedFile row. A
parser's failure on a file is stored as an ``artifact-error`` record naming the file and
the parser; the records before it stand.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from dalil import __version__
from dalil.app.cases.models import Exhibit
from dalil.app.forensics import services
from dalil.app.forensics.models import ArtifactRecord, FileRecord, IngestRun, ParsedFile
from dalil.app.jobs import services as jobs
from dalil.engine.forensics.artifacts import Parser, parse_entry, select_parsers
from dalil.engine.forensics.artifacts.base import ArtifactRecord as EngineRecord
from dalil.engine.forensics.filesystem import (
    FileSystem,
    FileSystemError,
    open_volume_file_system,
)
from dalil.engine.forensics.image import Image, TskImage
from dalil.engine.forensics.timeline import artifact_event
from dalil.engine.forensics.volume import Volume

INSERT_BATCH = 1000
CHUNK = 200  # files parsed between two commits (one query and one transaction each)


def candidates(exhibit: Exhibit, parsers: Iterable[Parser]) -> QuerySet[FileRecord]:
    """The exhibit's regular files some parser may apply to and not yet parsed."""
    query = Q()
    for parser in parsers:
        if parser.names or parser.suffixes:
            by_name = Q()
            for name in parser.names:
                by_name |= Q(name__iexact=name)
            for suffix in parser.suffixes:
                by_name |= Q(name__iendswith=suffix)
            query |= by_name & (Q(file_type__in=parser.types) if parser.types else Q())
        elif parser.types:
            query |= Q(file_type__in=parser.types)
    return (FileRecord.objects.filter(exhibit=exhibit, type="file", md5__isnull=False)
            .filter(query).filter(artifact_scan__isnull=True)
            .exclude(artifacts_ruled_out=True)
            .order_by("volume_index", "logical_volume", "seq"))


def _rows(exhibit: Exhibit, run: IngestRun, record: FileRecord,
          found: Iterable[EngineRecord]) -> list[ArtifactRecord]:
    rows = []
    for seq, item in enumerate(found):
        document = item.to_dict()
        document.pop("source", None)
        document.pop("kind", None)
        event = artifact_event(item)
        description = event.description if event else str(document.get("message", ""))
        rows.append(ArtifactRecord(
            exhibit=exhibit, run=run, record=record, seq=seq, parser=item.source.parser,
            parser_version=__version__, kind=item.kind, event=event.kind if event else "",
            time=event.time if event else item.event_time, description=description,
            data=document))
    return rows


def ingest_artifacts(exhibit: Exhibit, run: IngestRun, image: Image, tsk: TskImage,
                     volumes: Iterable[Volume], ctx: Any) -> int:
    """Parse every candidate file of the exhibit not parsed yet; the number of records
    stored. ``ctx`` is the ingest's progress context (cancellation raises JobCancelled)."""
    parsers = select_parsers()
    pending = list(candidates(exhibit, parsers).values_list("pk", flat=True))
    if not pending:
        return 0
    by_index = {v.index: v for v in volumes}
    temp_root = Path(settings.DALIL_HOME) / "tmp"
    temp_root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="artifacts-", dir=temp_root))
    # One open file system per walk unit: a volume, or an LVM logical volume in it.
    opened: dict[tuple[int, str], FileSystem | None] = {}
    stored = 0
    try:
        for start in range(0, len(pending), CHUNK):
            ctx.progress(start, len(pending), "parsing artifacts")
            if ctx.cancelled():
                raise jobs.JobCancelled()
            chunk = FileRecord.objects.in_bulk(pending[start:start + CHUNK])
            rows: list[ArtifactRecord] = []
            parsed: list[ParsedFile] = []
            for pk in pending[start:start + CHUNK]:
                record = chunk[pk]
                unit = (record.volume_index, record.logical_volume)
                if unit not in opened:
                    volume = by_index.get(record.volume_index)
                    try:
                        opened[unit] = (open_volume_file_system(
                            image, volume, record.logical_volume, tsk)
                            if volume is not None else None)
                    except FileSystemError:
                        opened[unit] = None
                fs = opened[unit]
                if fs is None:
                    continue  # the walk recorded why this volume cannot be read
                applicable = [p for p in parsers
                              if p.applies_to(record.name, record.file_type)]
                found = parse_entry(fs, services._entry(record), record.file_type or None,
                                    parsers=applicable, folder=folder)
                mine = _rows(exhibit, run, record, found)
                rows.extend(mine)
                parsed.append(ParsedFile(
                    exhibit=exhibit, run=run, record=record,
                    parsers=[p.name for p in applicable], records=len(mine),
                    errors=sum(1 for r in mine if r.kind == "artifact-error")))
            # A chunk's records and its ParsedFile rows commit together: a resumed run
            # redoes at most one chunk, never stores a file's records twice.
            with transaction.atomic():
                ArtifactRecord.objects.bulk_create(rows, batch_size=INSERT_BATCH)
                ParsedFile.objects.bulk_create(parsed, batch_size=INSERT_BATCH)
            stored += len(rows)
        ctx.progress(len(pending), len(pending), "parsing artifacts")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return stored
