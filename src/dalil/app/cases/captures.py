"""Web and onion captures as exhibits of a case, and the sites their pages link.

A capture is acquired like any other evidence: the WARC file becomes a `capture` exhibit
whose bytes live in the blob store, with an `acquired` custody entry holding the URL, the
proxy, the times (UTC) and the WARC's hashes. Entities and correlations are always read
back from the stored WARC bytes, never from a copy kept on the side, so every finding can
be traced to sealed evidence.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from dalil import __version__
from dalil.app.cases.models import Case, Exhibit, ExhibitType
from dalil.app.cases.services import (
    CaseError,
    add_exhibit_from_path,
    blob_store,
    record_custody,
)
from dalil.engine.osint.capture import DEFAULT_PROXY, CaptureError, CaptureRecord, capture
from dalil.engine.osint.entities import Entity, Link, correlate, extract_entities
from dalil.engine.osint.warc import WarcError, responses


def next_capture_number(case: Case) -> str:
    taken = set(case.exhibits.values_list("number", flat=True))
    n = 1
    while f"C{n}" in taken:
        n += 1
    return f"C{n}"


def capture_page(case: Case, url: str, *, actor: str, proxy: str = DEFAULT_PROXY,
                 number: str | None = None, timeout: float = 90.0) -> tuple[Exhibit,
                                                                           CaptureRecord]:
    """Capture ``url`` through ``proxy`` into a new `capture` exhibit of ``case``."""
    number = (number or next_capture_number(case)).strip()
    if case.exhibits.filter(number=number).exists():
        raise CaseError(f"exhibit {number} already exists in case {case.number}")
    home = Path(settings.DALIL_HOME)
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home, prefix="capture-") as work:
        host = urlsplit(url).hostname or "page"
        warc = Path(work) / f"{number}-{host[:60]}.warc.gz"
        try:
            record = capture(url, warc, proxy=proxy, timeout=timeout, operator=actor,
                             tool=f"dalil {__version__}")
        except CaptureError as exc:
            raise CaseError(f"case {case.number}, capture {number}: {exc}") from exc
        exhibit = add_exhibit_from_path(
            case, warc, number=number, actor=actor, type=ExhibitType.CAPTURE,
            description=f"Capture of {record.url} through {proxy}, {record.started}",
        )
    record_custody(case, exhibit, "acquired", actor, {
        "image": warc.name,
        "hashes": {"sha256": record.warc_sha256, "md5": record.warc_md5},
        "url": record.url, "final_url": record.final_url, "proxy": proxy,
        "status": record.status, "started": record.started, "ended": record.ended,
        "body_sha256": record.body_sha256, "tool": record.tool,
    })
    return exhibit, record


def capture_entities(exhibit: Exhibit) -> dict[str, list[Entity]]:
    """Entities of every page in a capture exhibit, by page URL, read from its stored WARC."""
    found: dict[str, set[Entity]] = {}
    for file in exhibit.files.filter(in_store=True).order_by("order"):
        with blob_store().open(file.sha256) as handle:
            try:
                for page in responses(handle, name=f"exhibit {exhibit.number} ({file.name})"):
                    found.setdefault(page.url, set()).update(extract_entities(page.body))
            except WarcError as exc:
                raise CaseError(str(exc)) from exc
    return {url: sorted(entities) for url, entities in found.items()}


def site_of(url: str) -> str:
    return (urlsplit(url).hostname or url).lower()


def case_captures(case: Case) -> Iterable[Exhibit]:
    return case.exhibits.filter(type=ExhibitType.CAPTURE).order_by("number")


def correlate_case(case: Case) -> tuple[dict[str, list[Entity]], list[Link]]:
    """Entities per site over all captures of ``case``, and the entities sites share."""
    sites: dict[str, set[Entity]] = {}
    for exhibit in case_captures(case):
        for url, entities in capture_entities(exhibit).items():
            sites.setdefault(site_of(url), set()).update(entities)
    by_site = {site: sorted(entities) for site, entities in sorted(sites.items())}
    return by_site, correlate(by_site)
