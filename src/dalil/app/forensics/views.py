"""The examination pages: thin views over forensics.services and forensics.queries.

Who sees what is decided as for cases: only the case's institution and the users it is
shared with see an exhibit's records (others get a 404); only roles that may change cases
start an examination or bookmark; everyone who sees the case may read and extract a file,
and each extraction is a custody entry in their name.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from dalil.app.cases import access
from dalil.app.cases import services as cases
from dalil.app.forensics import queries, services
from dalil.app.forensics.forms import (
    ARTIFACT_SECTIONS,
    ArtifactForm,
    BookmarkForm,
    BrowseForm,
    TimelineForm,
)
from dalil.app.forensics.models import FileRecord
from dalil.engine.forensics.extract import safe_component

PAGE_SIZE = 100
HEX_BYTES = 4096
TEXT_BYTES = 64 * 1024
PREVIEW_LIMIT = 32 * 1024 * 1024
SANDBOX = "default-src 'none'; sandbox"


_case = access.visible_case
_exhibit = access.visible_exhibit
_can_edit = access.can_edit


def _record(request: HttpRequest, pk: int, exhibit_pk: int, record_pk: int) -> FileRecord:
    exhibit = _exhibit(request, pk, exhibit_pk)
    return get_object_or_404(FileRecord.objects.select_related("exhibit", "exhibit__case"),
                             exhibit=exhibit, pk=record_pk)


def _actor(request: HttpRequest) -> str:
    return cases.actor_name(request.user)


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
@require_POST
def ingest(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    """Start (or resume) the examination of the exhibit's image as a background job."""
    exhibit = _exhibit(request, pk, exhibit_pk)
    if not _can_edit(request):
        raise PermissionDenied(_("Your role may read cases but not examine exhibits."))
    if not exhibit.files.exists():
        messages.error(request, _("Exhibit %(number)s has no image file to examine.")
                       % {"number": exhibit.number})
        return redirect(reverse("cases:exhibit", args=[pk, exhibit.pk]) + "#examination")
    job = services.start_ingest(exhibit, user=request.user, actor=_actor(request))
    if request.headers.get("HX-Request") == "true":
        job.refresh_from_db()
        return render(request, "jobs/_status.html", {"job": job})
    messages.success(request, _("Examination started (job %(id)s).") % {"id": job.pk})
    return redirect(reverse("cases:exhibit", args=[pk, exhibit.pk]) + "#examination")


@login_required
@require_GET
def browse(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    exhibit = _exhibit(request, pk, exhibit_pk)
    form = BrowseForm(request.GET or None, file_types=queries.file_types(exhibit))
    data: dict[str, Any] = dict(form.cleaned_data) if form.is_valid() else {}
    records = queries.browse(exhibit, data)
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    folder = data.get("dir") or ""
    context = {
        "case": exhibit.case, "exhibit": exhibit, "form": form, "page": page,
        "folder": folder, "crumbs": queries.breadcrumbs(folder),
        "volumes": queries.volumes(exhibit), "volume": data.get("vol"),
        # The LVM logical volume or APFS volume chosen within the chosen volume ("" when
        # none is).
        "logical": (data.get("lv") or "") if data.get("vol") is not None else "",
        "query": _query_without_page(request),
        "has_records": FileRecord.objects.filter(exhibit=exhibit).exists(),
        "nav": "cases",
    }
    return render(request, "forensics/browse.html", context)


@login_required
@require_GET
def file_view(request: HttpRequest, pk: int, exhibit_pk: int, record_pk: int) -> HttpResponse:
    record = _record(request, pk, exhibit_pk, record_pk)
    head, error = b"", ""
    if record.readable:
        try:
            head = services.read_head(record, TEXT_BYTES)
        except services.IngestError as exc:
            error = str(exc)
    context = {
        "case": record.exhibit.case, "exhibit": record.exhibit, "record": record,
        "hex_rows": queries.hex_rows(head[:HEX_BYTES]),
        "text": head.decode("utf-8", "replace"), "read_error": error,
        "text_limit": TEXT_BYTES, "hex_limit": HEX_BYTES,
        "preview": bool(queries.preview_type(head)) and record.size <= PREVIEW_LIMIT,
        "crumbs": queries.breadcrumbs(record.parent),
        "bookmarks": record.bookmarks.all(), "bookmark_form": BookmarkForm(),
        "can_edit": _can_edit(request), "nav": "cases",
    }
    return render(request, "forensics/file.html", context)


def _stream(record: FileRecord, content_type: str, disposition: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(services.iter_content(record), content_type=content_type)
    response["Content-Length"] = str(record.size)
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def file_preview(request: HttpRequest, pk: int, exhibit_pk: int,
                 record_pk: int) -> StreamingHttpResponse:
    """A JPEG or PNG (by its signature, never by its name) for an <img>, sandboxed."""
    record = _record(request, pk, exhibit_pk, record_pk)
    if not record.readable or record.size > PREVIEW_LIMIT:
        raise Http404
    try:
        kind = queries.preview_type(services.read_head(record, 16))
    except services.IngestError as exc:
        raise Http404(str(exc)) from exc
    if kind is None:
        raise Http404  # never serve evidence bytes under a type a browser might run
    extension = "jpg" if kind == "image/jpeg" else "png"
    return _stream(record, kind, content_disposition_header(False, f"preview.{extension}") or "")


@login_required
@require_POST
def file_export(request: HttpRequest, pk: int, exhibit_pk: int,
                record_pk: int) -> StreamingHttpResponse:
    """The file's content as a download; an ``exported`` custody entry records it first."""
    record = _record(request, pk, exhibit_pk, record_pk)
    if not record.readable:
        raise Http404(_("This entry has no readable content."))
    services.record_export(record, _actor(request),
                           destination=f"web download by {_actor(request)}")
    name = safe_component(record.name) or f"inode-{record.inode}"
    return _stream(record, "application/octet-stream",
                   content_disposition_header(True, name) or "attachment")


@login_required
@require_POST
def bookmark_add(request: HttpRequest, pk: int, exhibit_pk: int,
                 record_pk: int) -> HttpResponse:
    record = _record(request, pk, exhibit_pk, record_pk)
    if not _can_edit(request):
        raise PermissionDenied(_("Your role may read cases but not bookmark files."))
    form = BookmarkForm(request.POST)
    if form.is_valid():
        services.add_bookmark(record, form.cleaned_data["note"], user=request.user,
                              actor=_actor(request))
        messages.success(request, _("Bookmarked."))
    return redirect(reverse("forensics:file", args=[pk, exhibit_pk, record.pk]) + "#bookmarks")


@login_required
@require_GET
def timeline(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    exhibit = _exhibit(request, pk, exhibit_pk)
    form = TimelineForm(request.GET or None)
    data: dict[str, Any] = dict(form.cleaned_data) if form.is_valid() else {}
    page = Paginator(queries.timeline(exhibit, data), PAGE_SIZE).get_page(
        request.GET.get("page"))
    context = {
        "case": exhibit.case, "exhibit": exhibit, "form": form, "page": page,
        "events": queries.events(page.object_list), "query": _query_without_page(request),
        "nav": "cases",
    }
    return render(request, "forensics/timeline.html", context)


@login_required
@require_GET
def artifacts(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    """What the artifact parsers found: one table per kind (web history, downloads, photos
    with their GPS position, messages, SMS, contacts), or one kind paginated."""
    exhibit = _exhibit(request, pk, exhibit_pk)
    form = ArtifactForm(request.GET or None)
    data: dict[str, Any] = dict(form.cleaned_data) if form.is_valid() else {}
    if data.get("gps") and not data.get("kind"):
        data["kind"] = "exif"
    context: dict[str, Any] = {
        "case": exhibit.case, "exhibit": exhibit, "form": form, "kind": data.get("kind"),
        "counts": queries.artifact_counts(exhibit), "query": _query_without_page(request),
        "nav": "cases",
    }
    if data.get("kind"):
        page = Paginator(queries.artifacts(exhibit, data), PAGE_SIZE).get_page(
            request.GET.get("page"))
        label = dict(ARTIFACT_SECTIONS).get(data["kind"], data["kind"])
        context["page"] = page
        context["sections"] = [{"kind": data["kind"], "label": label,
                                "count": page.paginator.count, "rows": page.object_list}]
    else:
        context["sections"] = queries.artifact_sections(exhibit, data)
    return render(request, "forensics/artifacts.html", context)


@login_required
@require_GET
def bookmarks(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    marks = case.bookmarks.select_related("record", "record__exhibit")
    return render(request, "forensics/bookmarks.html",
                  {"case": case, "bookmarks": marks, "nav": "cases"})
