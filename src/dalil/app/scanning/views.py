"""The scanning pages: thin views over scanning.services and scanning.queries.

Who sees what is decided as for cases: only the case's institution and the users it is
shared with see an exhibit's findings (others get a 404); only roles that may change cases
start a scan, bookmark a finding or upload indicator feeds and stop lists.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from dalil.app.cases import access
from dalil.app.cases import services as cases
from dalil.app.cases.models import Case, Exhibit
from dalil.app.scanning import queries, services
from dalil.app.scanning.forms import (
    BookmarkForm,
    FeedUploadForm,
    FindingFilterForm,
    StopListUploadForm,
)
from dalil.app.scanning.models import Finding, ScanRun
from dalil.app.web import exports
from dalil.engine.evidence.blobstore import BlobStoreError

PAGE_SIZE = 100


_case = access.visible_case
_exhibit = access.visible_exhibit
_can_edit = access.can_edit


def _actor(request: HttpRequest) -> str:
    return cases.actor_name(request.user)


def _findings_url(exhibit: Exhibit) -> str:
    return reverse("scanning:findings", args=[exhibit.case_id, exhibit.pk])


@login_required
@require_POST
def start(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    """Start (or resume) the feature scan of the exhibit as a background job."""
    exhibit = _exhibit(request, pk, exhibit_pk)
    if not _can_edit(request):
        raise PermissionDenied(_("Your role may read cases but not scan exhibits."))
    back = reverse("cases:exhibit", args=[pk, exhibit.pk]) + "#scanning"
    if not exhibit.files.exists():
        messages.error(request, _("Exhibit %(number)s has no bytes to scan.")
                       % {"number": exhibit.number})
        return redirect(back)
    job = services.start_scan(exhibit, user=request.user, actor=_actor(request))
    if request.headers.get("HX-Request") == "true":
        job.refresh_from_db()
        return render(request, "jobs/_status.html", {"job": job})
    messages.success(request, _("Scan started (job %(id)s).") % {"id": job.pk})
    return redirect(back)


def _selected_run(request: HttpRequest, exhibit: Exhibit
                  ) -> tuple[list[ScanRun], ScanRun | None, dict[str, Any]]:
    """The exhibit's runs, the one asked for (or the latest with findings), the filters."""
    runs = list(queries.runs(exhibit))
    form = FindingFilterForm(request.GET or None)
    data: dict[str, Any] = dict(form.cleaned_data) if form.is_valid() else {}
    run: ScanRun | None = None
    if data.get("run"):
        run = next((r for r in runs if r.pk == data["run"]), None)
        if run is None:
            raise Http404
    elif runs:
        run = next((r for r in runs if r.findings), runs[0])
    return runs, run, data


def _filters(request: HttpRequest, run: ScanRun, data: dict[str, Any]
             ) -> tuple[list[dict[str, Any]], FindingFilterForm, dict[str, Any]]:
    counts = queries.type_counts(run, data)
    form = FindingFilterForm(request.GET or None, types=[c["type"] for c in counts])
    if form.is_valid():
        data = dict(form.cleaned_data)
    return counts, form, data


@login_required
@require_GET
def findings(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    exhibit = _exhibit(request, pk, exhibit_pk)
    runs, run, data = _selected_run(request, exhibit)
    form = FindingFilterForm(request.GET or None)
    context: dict[str, Any] = {"case": exhibit.case, "exhibit": exhibit, "runs": runs,
                               "run": run, "can_edit": _can_edit(request), "nav": "cases"}
    if run is not None:
        counts, form, data = _filters(request, run, data)
        rows = queries.findings(run, data)
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        query["run"] = str(run.pk)
        located = queries.locations(exhibit, [f.offset for f in page.object_list])
        marked = set(Finding.objects.filter(run=run, bookmarks__isnull=False)
                     .values_list("pk", flat=True))
        context.update(
            counts=counts, page=page, query=query.urlencode(),
            rows=[(f, queries.highlighted(f), f.pk in marked,
                   None if located is None else located.get(f.offset, {}))
                  for f in page.object_list],
            mapped=located is not None,
            histogram=queries.histogram(rows) if data.get("type") else [],
            selected_type=data.get("type") or "",
            bookmarks=exhibit.case.finding_bookmarks.filter(finding__run=run)
            .select_related("finding"),
            bookmark_form=BookmarkForm(),
        )
    context["form"] = form
    return render(request, "scanning/findings.html", context)


@login_required
@require_GET
def findings_export(request: HttpRequest, pk: int, exhibit_pk: int,
                    fmt: str) -> HttpResponse | StreamingHttpResponse:
    """The findings of a run with the page's filters, as CSV or XLSX (same permissions
    as the page; text cells escaped so that a spreadsheet cannot run them)."""
    exhibit = _exhibit(request, pk, exhibit_pk)
    _runs, run, data = _selected_run(request, exhibit)
    if run is None:
        raise Http404(_("This exhibit has not been scanned."))
    _counts, _form, data = _filters(request, run, data)
    rows = queries.findings(run, data)
    header, values = queries.export_rows(rows)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in
                   f"{exhibit.case.number}-{exhibit.number}-scan-{run.pk}-findings")
    response: HttpResponse | StreamingHttpResponse
    if fmt == "csv":
        response = StreamingHttpResponse(exports.csv_lines(header, values),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{safe}.csv"'
    else:
        about = [(_("case"), exhibit.case.number), (_("exhibit"), exhibit.number),
                 (_("scan run"), run.pk), (_("scan status"), run.get_status_display()),
                 (_("tool"), f"{run.tool} {run.tool_version}"),
                 *((_("filter %(name)s") % {"name": k}, v) for k, v in data.items()
                   if v and k != "run"),
                 (_("exported by"), _actor(request)),
                 (_("exported at"), timezone.now().isoformat(timespec="seconds"))]
        response = HttpResponse(exports.to_xlsx(header, values, _("Findings"), about),
                                content_type="application/vnd.openxmlformats-officedocument."
                                             "spreadsheetml.sheet")
        response["Content-Disposition"] = f'attachment; filename="{safe}.xlsx"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def bookmark_add(request: HttpRequest, pk: int, exhibit_pk: int,
                 finding_pk: int) -> HttpResponse:
    exhibit = _exhibit(request, pk, exhibit_pk)
    finding = get_object_or_404(Finding.objects.select_related("exhibit", "exhibit__case"),
                                exhibit=exhibit, pk=finding_pk)
    if not _can_edit(request):
        raise PermissionDenied(_("Your role may read cases but not bookmark findings."))
    form = BookmarkForm(request.POST)
    if form.is_valid():
        services.add_bookmark(finding, form.cleaned_data["note"], user=request.user,
                              actor=_actor(request))
        messages.success(request, _("Bookmarked."))
    back = request.POST.get("next", "")
    target = _findings_url(exhibit)
    if back.startswith("?"):
        target += back
    return redirect(target + "#finding-bookmarks")


def _blob(request: HttpRequest, pk: int, exhibit_pk: int, run_pk: int, field: str,
          filename: str, content_type: str) -> FileResponse:
    exhibit = _exhibit(request, pk, exhibit_pk)
    run = get_object_or_404(ScanRun, exhibit=exhibit, pk=run_pk)
    sha256 = getattr(run, field)
    if not sha256:
        raise Http404(_("This scan has no such file (it has not finished)."))
    try:
        handle = cases.blob_store().open(sha256)
    except BlobStoreError as exc:
        raise Http404(str(exc)) from exc
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in
                   f"{exhibit.case.number}-{exhibit.number}-scan-{run.pk}-{filename}")
    response = FileResponse(handle, as_attachment=True, filename=safe,
                            content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def download_features(request: HttpRequest, pk: int, exhibit_pk: int,
                      run_pk: int) -> FileResponse:
    return _blob(request, pk, exhibit_pk, run_pk, "features_sha256", "features.zip",
                 "application/zip")


@login_required
@require_GET
def download_report(request: HttpRequest, pk: int, exhibit_pk: int,
                    run_pk: int) -> FileResponse:
    return _blob(request, pk, exhibit_pk, run_pk, "report_sha256", "report.xml",
                 "application/xml")


@login_required
@require_GET
def indicators(request: HttpRequest, pk: int) -> HttpResponse:
    return _indicators_page(request, _case(request, pk))


def _indicators_page(request: HttpRequest, case: Case, *, feed_form: Any = None,
                     stop_form: Any = None, status: int = 200) -> HttpResponse:
    return render(request, "scanning/indicators.html", {
        "case": case, "feeds": case.indicator_feeds.all(), "stop_lists": case.stop_lists.all(),
        "feed_form": feed_form or FeedUploadForm(), "stop_form": stop_form or
        StopListUploadForm(), "can_edit": _can_edit(request), "nav": "cases",
    }, status=status)


def _editable_case(request: HttpRequest, pk: int) -> Case:
    case = _case(request, pk)
    if not _can_edit(request):
        raise PermissionDenied(_("Your role may read cases but not change them."))
    return case


@login_required
@require_POST
def feed_upload(request: HttpRequest, pk: int) -> HttpResponse:
    case = _editable_case(request, pk)
    form = FeedUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            feed = services.import_feed(case, upload, upload.name, actor=_actor(request))
        except services.ScanningError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, _("Feed %(name)s imported: %(count)s indicators.")
                             % {"name": feed.name, "count": feed.indicators})
            return redirect(reverse("scanning:indicators", args=[case.pk]))
    return _indicators_page(request, case, feed_form=form, status=400)


@login_required
@require_POST
def stop_list_upload(request: HttpRequest, pk: int) -> HttpResponse:
    case = _editable_case(request, pk)
    form = StopListUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            stop = services.add_stop_list(case, upload, upload.name, actor=_actor(request))
        except services.ScanningError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, _("Stop list %(name)s added: %(count)s entries.")
                             % {"name": stop.name, "count": stop.entries})
            return redirect(reverse("scanning:indicators", args=[case.pk]))
    return _indicators_page(request, case, stop_form=form, status=400)
