"""The court report of a case: HTML for the screen, PDF (WeasyPrint) for the court file.

Everything the court needs is in one self-contained document: the case and its legal
authority, each exhibit with its description, state at seizure, photographs (embedded as
data: URIs), files and hashes, the acquisition logs, every custody entry, and the result of a
fresh verification run while the report is made. Django's autoescaping makes all recorded
text inert, whatever an exhibit description contains.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dalil import __version__
from dalil.app.cases import services
from dalil.app.cases.keys import installation_key
from dalil.app.cases.models import AcquisitionLog, Case, Exhibit
from dalil.engine.evidence.blobstore import BlobStoreError

# Raster formats only: a browser or WeasyPrint shows them without running anything.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
FORMATS = {".pdf": "pdf", ".html": "html", ".htm": "html"}

# Exhibit fields shown as "state at seizure", in the order an examiner reads them.
STATE_FIELDS = ("make", "model", "serial", "imei", "iccid", "condition", "seal_number",
                "seized_by", "seized_at", "seized_where", "power_state", "locked",
                "battery_percent", "charging", "network_indicators", "screen_content",
                "device_clock", "reference_clock", "isolation_method",
                "isolation_justification")


ACTION_LABELS = {
    "created": gettext_lazy("created"), "seized": gettext_lazy("seized"),
    "sealed": gettext_lazy("sealed"), "transferred": gettext_lazy("transferred"),
    "accessed": gettext_lazy("accessed"), "acquired": gettext_lazy("acquired"),
    "verified": gettext_lazy("verified"), "examined": gettext_lazy("examined"),
    "exported": gettext_lazy("exported"), "imported": gettext_lazy("imported"),
    "returned": gettext_lazy("returned"), "destroyed": gettext_lazy("destroyed"),
    "note": gettext_lazy("note"),
}


@dataclass(frozen=True)
class ReportResult:
    path: Path
    format: str  # "pdf" or "html"
    language: str
    size: int  # bytes
    sha256: str
    intact: bool  # the verification run for the report

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "language": self.language,
                "size": self.size, "sha256": self.sha256, "intact": self.intact}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(_text(v) for v in value)
    return "" if value is None else str(value)


def _states(exhibit: Exhibit) -> list[tuple[str, str]]:
    rows = []
    for name in STATE_FIELDS:
        value = getattr(exhibit, name)
        if value in (None, ""):
            continue
        display = getattr(exhibit, f"get_{name}_display", None)
        text = str(display()) if display and name != "locked" else _text(value)
        model_field = Exhibit._meta.get_field(name)
        label = getattr(model_field, "verbose_name", name)  # every STATE_FIELD is concrete
        rows.append((str(label), text))
    if (offset := exhibit.clock_offset_seconds) is not None:
        rows.append((_("device clock offset"), _("%(seconds)s s") % {"seconds": f"{offset:+.0f}"}))
    return rows


def _photos(exhibit: Exhibit) -> list[dict[str, Any]]:
    store = services.blob_store()
    photos = []
    for photo in exhibit.photos.all():
        item: dict[str, Any] = {"caption": photo.caption, "sha256": photo.sha256,
                                "taken_at": _text(photo.taken_at), "data_uri": None}
        if photo.content_type in PHOTO_TYPES:
            try:
                with store.open(photo.sha256) as handle:
                    data = base64.b64encode(handle.read()).decode("ascii")
                item["data_uri"] = f"data:{photo.content_type};base64,{data}"
            except (OSError, BlobStoreError):
                item["error"] = _("the photograph's bytes are missing from the store")
        photos.append(item)
    return photos


def _exhibits(case: Case) -> list[dict[str, Any]]:
    exhibits = case.exhibits.select_related("parent").prefetch_related("files", "photos")
    return [
        {"exhibit": e, "type": e.get_type_display(), "root": e.root_number,
         "files": [{"name": f.name, "size": f.size, "hashes": sorted(f.hashes().items()),
                    "where": f.external_path if not f.in_store else _("blob store")}
                   for f in e.files.all()],
         "states": _states(e), "photos": _photos(e)}
        for e in exhibits
    ]


def _acquisitions(case: Case) -> list[dict[str, Any]]:
    logs = AcquisitionLog.objects.filter(image_exhibit__case=case).select_related(
        "image_exhibit", "source_exhibit").order_by("created_at")
    items = []
    for log in logs:
        result = log.document.get("result", {})
        tool = log.document.get("tool", {})
        items.append({
            "source": log.source_exhibit.number, "image": log.image_exhibit.number,
            "examiner": log.examiner, "created_at": _text(log.created_at),
            "tool": f"{tool.get('name', '')} {tool.get('version', '')}".strip(),
            "format": result.get("format", ""),
            "paths": result.get("image_paths") or result.get("image") or [],
            "size": result.get("size"), "hashes": sorted(dict(result.get("hashes", {})).items()),
            "errors": [_text(e) for e in result.get("errors") or []],
            "verification": _text(result.get("verification")),
            "verified": result.get("verified"), "log_sha256": log.document_sha256,
            "started_at": result.get("started_at", ""), "ended_at": result.get("ended_at", ""),
        })
    return items


@dataclass(frozen=True)
class BookmarkedItem:
    """One bookmarked item for the report's "Bookmarked items" section, contributed by the
    app that owns it (a file of an examined image, a scan finding...)."""

    kind: str  # what it is, translated: "file", "scan finding", ...
    exhibit: str  # the exhibit's number
    where: str  # a path inside the image, a forensic path or an offset
    note: str
    actor: str
    created_at: dt.datetime
    hashes: tuple[tuple[str, str], ...] = ()  # (algorithm, hex digest)
    details: tuple[tuple[str, str], ...] = ()  # (label, value), e.g. inode, size, type
    deleted: bool = False


BookmarkSource = Callable[[Case], Iterable[BookmarkedItem]]
_BOOKMARK_SOURCES: dict[str, BookmarkSource] = {}


def register_bookmarks(name: str, source: BookmarkSource) -> None:
    """Let an app contribute its bookmarks to every case report (call it from the app's
    ``AppConfig.ready()``): the cases app never imports the apps that build on it."""
    _BOOKMARK_SOURCES[name] = source


def _bookmarks(case: Case) -> list[BookmarkedItem]:
    items = [item for source in _BOOKMARK_SOURCES.values() for item in source(case)]
    items.sort(key=lambda item: (item.created_at, item.exhibit, item.where))
    return items


def css_string(text: str) -> SafeString:
    """``text`` for inside a double-quoted CSS string: all but letters, digits and spaces
    as CSS hex escapes, so no value can close the string or the <style> element."""
    return mark_safe("".join(  # noqa: S308 - every other character is escaped here
        c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text))


def report_context(case: Case) -> dict[str, Any]:
    """Everything the template shows; call inside ``translation.override``."""
    verification = services.verify_case(case, "report", record=False)
    return {
        "case": case,
        "authority": case.get_authority_type_display() if case.authority_type else "",
        "exhibits": _exhibits(case),
        "acquisitions": _acquisitions(case),
        "bookmarks": _bookmarks(case),
        "custody": [{"entry": e, "action": ACTION_LABELS.get(e.action, e.action),
                     "details": [(k, _text(v)) for k, v in e.details.items()]}
                    for e in services.custody_timeline(case)],
        "css": {"case": css_string(case.number), "title": css_string(_("Evidence report")),
                "page": css_string(_("Page")), "of": css_string(_("of"))},
        "verification": verification,
        "failure": verification.first_failure(),
        "key_fingerprint": installation_key().public.fingerprint,
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "version": __version__,
    }


def _render(case: Case, lang: str) -> tuple[str, bool]:
    if lang not in dict(settings.LANGUAGES):
        raise services.CaseError(f"unknown report language {lang!r}; one of: "
                                 f"{', '.join(dict(settings.LANGUAGES))}")
    with translation.override(lang):
        context = report_context(case)
        html = render_to_string("cases/report.html", {**context, "lang": lang})
    return html, context["verification"].intact


def render_html(case: Case, lang: str = "en") -> str:
    """The report as one self-contained HTML page in ``lang``."""
    return _render(case, lang)[0]


def write_report(case: Case, output: Path, lang: str = "en") -> ReportResult:
    """Write the report as HTML or PDF, chosen by the file suffix."""
    kind = FORMATS.get(output.suffix.lower())
    if kind is None:
        raise services.CaseError(f"{output.name}: a report is .pdf or .html")
    html, intact = _render(case, lang)
    if kind == "pdf":
        from weasyprint import HTML  # a heavy import, needed for PDF only
        from weasyprint.urls import URLFetcher

        # Everything is embedded; allowing data: URIs only means that no value, however
        # crafted, can make the renderer fetch from the network or read a local file.
        fetcher = URLFetcher(allowed_protocols=("data",))
        data = HTML(string=html, url_fetcher=fetcher).write_pdf()
    else:
        data = html.encode("utf-8")
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise services.CaseError(f"cannot write {output}: {exc.strerror or exc}") from exc
    return ReportResult(output, kind, lang, len(data), hashlib.sha256(data).hexdigest(), intact)
