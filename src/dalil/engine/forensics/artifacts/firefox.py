"""Firefox ``places.sqlite``: visits (``moz_places`` + ``moz_historyvisits``, PRTime in
microseconds since the Unix epoch) and downloads (Firefox 20+ keeps them as annotations
``downloads/destinationFileURI`` and ``downloads/metaData`` on the page of the URL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from typing import Any

from dalil.engine.forensics.artifacts.base import (
    ArtifactInput,
    ArtifactParseError,
    ArtifactRecord,
    open_sqlite,
    register,
    tables,
    unix_micro,
    unix_milli,
)
from dalil.engine.forensics.artifacts.chrome import BrowserDownload, BrowserVisit

VISIT_TYPES = {1: "link", 2: "typed", 3: "bookmark", 4: "embed", 5: "redirect_permanent",
               6: "redirect_temporary", 7: "download", 8: "framed_link", 9: "reload"}
DOWNLOAD_STATES = {0: "in_progress", 1: "complete", 2: "failed", 3: "cancelled",
                   4: "paused", 5: "blocked_parental", 6: "dirty", 7: "blocked_policy"}


@register("firefox.places", "Firefox browsing history and downloads",
          names=("places.sqlite",), types=("sqlite",))
def parse_places(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    with closing(open_sqlite(item)) as db:
        schema = tables(db)
        if "moz_places" not in schema or "moz_historyvisits" not in schema:
            raise ArtifactParseError("no moz_places/moz_historyvisits tables: not a Firefox "
                                     "places.sqlite")
        rows = db.execute(
            "SELECT v.id, p.url, p.title, v.visit_date, p.visit_count, p.typed, "
            "v.visit_type, v.from_visit FROM moz_historyvisits v "
            "LEFT JOIN moz_places p ON p.id = v.place_id ORDER BY v.visit_date, v.id")
        for row_id, url, title, when, count, typed, visit_type, from_visit in rows:
            yield BrowserVisit(source=item.source, browser="firefox", url=url or "",
                               title=title or None, visit_time=unix_micro(when),
                               visit_count=count, typed_count=typed,
                               transition=VISIT_TYPES.get(visit_type, str(visit_type)),
                               from_visit=from_visit or None, row_id=row_id)
        if "moz_annos" in schema and "moz_anno_attributes" in schema:
            yield from _downloads(item, db)


def _downloads(item: ArtifactInput, db: Any) -> Iterator[BrowserDownload]:
    rows = db.execute(
        "SELECT a.place_id, n.name, a.content, a.dateAdded, p.url FROM moz_annos a "
        "JOIN moz_anno_attributes n ON n.id = a.anno_attribute_id "
        "JOIN moz_places p ON p.id = a.place_id "
        "WHERE n.name IN ('downloads/destinationFileURI', 'downloads/metaData') "
        "ORDER BY a.place_id")
    pending: dict[int, dict[str, Any]] = {}
    for place_id, name, content, added, url in rows:
        found = pending.setdefault(place_id, {"url": url})
        if name == "downloads/destinationFileURI":
            found["target"] = content
            found["added"] = added
        else:
            try:
                meta = json.loads(content) if content else {}
            except ValueError:
                meta = {}
            found["meta"] = meta if isinstance(meta, dict) else {}
    for place_id, found in pending.items():
        meta = found.get("meta", {})
        state = meta.get("state")
        size = meta.get("fileSize")
        yield BrowserDownload(
            source=item.source, browser="firefox", url=found.get("url"),
            target_path=found.get("target"), start_time=unix_micro(found.get("added")),
            end_time=unix_milli(meta.get("endTime")),
            received_bytes=size if isinstance(size, int) else None,
            total_bytes=size if isinstance(size, int) else None,
            state=DOWNLOAD_STATES.get(state, str(state)) if state is not None else None,
            row_id=place_id,
        )
