"""Chrome / Chromium (and Edge, Brave, Opera, Vivaldi) ``History``: visits and downloads.

Tables ``urls`` + ``visits`` (times in microseconds since 1601-01-01 UTC) and
``downloads`` + ``downloads_url_chains`` (the last link of a chain is the URL the bytes
came from); older profiles have ``downloads.url`` and ``full_path`` instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from dalil.engine.forensics.artifacts.base import (
    ArtifactInput,
    ArtifactParseError,
    ArtifactRecord,
    open_sqlite,
    register,
    tables,
    webkit_time,
)

TRANSITIONS = ("link", "typed", "auto_bookmark", "auto_subframe", "manual_subframe",
               "generated", "auto_toplevel", "form_submit", "reload", "keyword",
               "keyword_generated")
DOWNLOAD_STATES = {0: "in_progress", 1: "complete", 2: "cancelled", 3: "interrupted",
                   4: "interrupted"}
_BROWSERS = (("microsoft/edge", "edge"), ("bravesoftware", "brave"), ("opera", "opera"),
             ("vivaldi", "vivaldi"), ("yandex", "yandex"), ("google/chrome", "chrome"),
             ("google-chrome", "chrome"), ("com.android.chrome", "chrome"),
             ("chromium", "chromium"))


@dataclass(frozen=True, kw_only=True)
class BrowserVisit(ArtifactRecord):
    kind: ClassVar[str] = "browser-visit"
    time_field: ClassVar[str | None] = "visit_time"
    browser: str
    url: str
    title: str | None
    visit_time: datetime | None
    visit_count: int | None = None
    typed_count: int | None = None
    transition: str | None = None
    from_visit: int | None = None
    row_id: int | None = None  # visits.id (Chrome) / moz_historyvisits.id (Firefox)


@dataclass(frozen=True, kw_only=True)
class BrowserDownload(ArtifactRecord):
    kind: ClassVar[str] = "browser-download"
    time_field: ClassVar[str | None] = "start_time"
    browser: str
    url: str | None
    target_path: str | None
    start_time: datetime | None
    end_time: datetime | None = None
    received_bytes: int | None = None
    total_bytes: int | None = None
    state: str | None = None
    mime_type: str | None = None
    referrer: str | None = None
    row_id: int | None = None


def browser_name(path: str) -> str:
    lowered = path.replace("\\", "/").lower()
    for marker, name in _BROWSERS:
        if marker in lowered:
            return name
    return "chromium"


def _transition(value: object) -> str | None:
    if not isinstance(value, int):
        return None
    core = value & 0xFF
    return TRANSITIONS[core] if core < len(TRANSITIONS) else str(core)


@register("chrome.history", "Chrome/Chromium browsing history and downloads",
          names=("History",), types=("sqlite",))
def parse_history(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    browser = browser_name(item.source.path)
    with closing(open_sqlite(item)) as db:
        schema = tables(db)
        if "urls" not in schema or "visits" not in schema:
            raise ArtifactParseError("no urls/visits tables: not a Chromium History database")
        visits = db.execute(
            "SELECT v.id, u.url, u.title, v.visit_time, u.visit_count, u.typed_count, "
            "v.transition, v.from_visit FROM visits v LEFT JOIN urls u ON u.id = v.url "
            "ORDER BY v.visit_time, v.id")
        for row_id, url, title, when, count, typed, transition, from_visit in visits:
            yield BrowserVisit(source=item.source, browser=browser, url=url or "",
                               title=title or None, visit_time=webkit_time(when),
                               visit_count=count, typed_count=typed,
                               transition=_transition(transition),
                               from_visit=from_visit or None, row_id=row_id)
        if "downloads" in schema:
            yield from _downloads(item, db, schema, browser)


def _downloads(item: ArtifactInput, db: sqlite3.Connection, schema: dict[str, set[str]],
               browser: str) -> Iterator[BrowserDownload]:
    columns = schema["downloads"]

    def pick(*names: str) -> str:
        for name in names:
            if name in columns:
                return f"d.{name}"
        return "NULL"

    chains = "downloads_url_chains" in schema
    url = ("(SELECT c.url FROM downloads_url_chains c WHERE c.id = d.id "
           "ORDER BY c.chain_index DESC LIMIT 1)") if chains else pick("url")
    query = (f"SELECT d.id, {url}, {pick('target_path', 'full_path')}, "  # noqa: S608
             f"{pick('start_time')}, {pick('end_time')}, {pick('received_bytes')}, "
             f"{pick('total_bytes')}, {pick('state')}, {pick('mime_type')}, "
             f"{pick('referrer')} FROM downloads d ORDER BY d.start_time, d.id")
    for (row_id, link, target, start, end, received, total, state, mime,
         referrer) in db.execute(query):
        yield BrowserDownload(
            source=item.source, browser=browser, url=link, target_path=target or None,
            start_time=webkit_time(start), end_time=webkit_time(end),
            received_bytes=received, total_bytes=total,
            state=DOWNLOAD_STATES.get(state, str(state)) if state is not None else None,
            mime_type=mime or None, referrer=referrer or None, row_id=row_id,
        )
