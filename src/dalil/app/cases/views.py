"""The case pages: thin views that parse a form, call cases.services and render a template."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dalil.app.cases import forms, services
from dalil.app.cases.models import Case, Exhibit, ExhibitPhoto, SceneRecord
from dalil.app.jobs import services as jobs
from dalil.engine.evidence.blobstore import BlobStoreError
from dalil.engine.evidence.scene import VOLATILITY

# The job kind each export button starts (its file is then offered by jobs:download).
EXPORTS: dict[str, str] = {"report": "build_report", "bundle": "build_bundle"}

# The multipart field sent after the evidence file: without it the upload was cut off.
UPLOAD_COMPLETE_MARKER = "upload_complete"


def _case(request: HttpRequest, pk: int) -> Case:
    """A case the user may see, else 404 (another institution's case does not exist for them)."""
    return get_object_or_404(Case.objects.visible_to(request.user), pk=pk)


def _editable_case(request: HttpRequest, pk: int) -> Case:
    case = _case(request, pk)
    if not getattr(request.user, "can_edit_cases", False):
        raise PermissionDenied(_("Your role (%(role)s) may read cases but not change them.")
                               % {"role": _role(request)})
    return case


def _role(request: HttpRequest) -> str:
    display = getattr(request.user, "get_role_display", None)
    return str(display()) if display else ""


def _exhibit(case: Case, exhibit_pk: int) -> Exhibit:
    return get_object_or_404(case.exhibits.all(), pk=exhibit_pk)


def _actor(request: HttpRequest) -> str:
    return services.actor_name(request.user)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- cases -----------------------------------------------------------------------------------


@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    cases = Case.objects.visible_to(request.user).select_related("institution")
    return render(request, "cases/list.html", {"cases": cases, "nav": "cases"})


@login_required
@require_http_methods(["GET", "POST"])
def case_create(request: HttpRequest) -> HttpResponse:
    if not getattr(request.user, "can_edit_cases", False):
        raise PermissionDenied(_("Your role (%(role)s) may read cases but not open them.")
                               % {"role": _role(request)})
    form = forms.CaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            case = services.create_case(number=data.pop("number"), title=data.pop("title"),
                                        actor=_actor(request), user=request.user, **data)
        except services.CaseError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Case %(number)s opened.") % {"number": case.number})
            return redirect("cases:detail", pk=case.pk)
    return render(request, "cases/case_form.html", {"form": form, "nav": "new-case"})


@login_required
@require_GET
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case(request, pk)
    context = {
        "case": case,
        "exhibits": case.exhibits.select_related("parent").prefetch_related("files"),
        "scenes": case.scenes.all(),
        "timeline": services.custody_timeline(case),
        "jobs": case.jobs.all()[:5],
        "can_edit": request.user.can_edit_cases,  # type: ignore[union-attr]
        "nav": "cases",
    }
    return render(request, "cases/detail.html", context)


def _start(request: HttpRequest, case: Case, kind: str, **params: Any) -> HttpResponse:
    try:
        job = jobs.start(kind, {"case_id": case.pk, "actor": _actor(request), **params},
                         user=request.user, case=case)
    except ValueError:
        message = _("This installation cannot run “%(kind)s” jobs yet.") % {"kind": kind}
        if _is_htmx(request):
            return render(request, "cases/_job_error.html", {"message": message})
        messages.error(request, message)
        return redirect("cases:detail", pk=case.pk)
    if _is_htmx(request):
        job.refresh_from_db()
        return render(request, "jobs/_status.html", {"job": job})
    return redirect(reverse("cases:detail", args=[case.pk]) + "#jobs")


@login_required
@require_POST
def case_verify(request: HttpRequest, pk: int) -> HttpResponse:
    """Everyone who can see the case may verify it (prosecutors included)."""
    return _start(request, _case(request, pk), "verify_case")


@login_required
@require_POST
def case_export(request: HttpRequest, pk: int, what: str) -> HttpResponse:
    """Build the court report or an exchange bundle (a job; its file is downloaded after)."""
    if what not in EXPORTS:
        raise Http404
    params = {"lang": get_language()} if what == "report" else {}
    return _start(request, _case(request, pk), EXPORTS[what], **params)


@login_required
@require_GET
def case_caseuco(request: HttpRequest, pk: int) -> HttpResponse:
    """The case's CASE/UCO JSON-LD (records only, no evidence bytes: quick to build)."""
    from dalil.app.cases import exports  # imports the CASE/UCO engine only when asked

    case = _case(request, pk)
    document = exports.case_uco_document(case)
    body = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    response = HttpResponse(body, content_type="application/ld+json; charset=utf-8")
    filename = f"{slugify(case.number) or 'case'}.caseuco.jsonld"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- scene record ----------------------------------------------------------------------------


def _scene(case: Case, scene_pk: int | None) -> SceneRecord | None:
    if scene_pk is None:
        return None
    return get_object_or_404(case.scenes.all(), pk=scene_pk)


@login_required
@require_http_methods(["GET", "POST"])
def scene_edit(request: HttpRequest, pk: int, scene_pk: int | None = None) -> HttpResponse:
    case = _editable_case(request, pk)
    scene = _scene(case, scene_pk)
    form = forms.SceneForm(request.POST or None, instance=scene)
    if request.method == "POST" and form.is_valid():
        try:
            scene = services.save_scene(case, form.values(), _actor(request), scene)
        except services.CaseError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Scene record saved."))
            return redirect("cases:scene_edit", pk=case.pk, scene_pk=scene.pk)
    preview = form.instance if scene is None else scene
    preview.case = case
    context = {
        "case": case, "scene": scene, "form": form, "volatility": list(VOLATILITY),
        "missing": services.scene_missing_items(preview), "nav": "cases",
    }
    return render(request, "cases/scene_form.html", context)


@login_required
@require_POST
def scene_check(request: HttpRequest, pk: int) -> HttpResponse:
    """Re-render the missing-items list for the form as it is being filled (not saved)."""
    case = _editable_case(request, pk)
    form = forms.SceneForm(request.POST)
    form.is_valid()
    draft = SceneRecord(case=case)
    for name, value in form.values().items():
        setattr(draft, name, value)
    return render(request, "cases/_missing.html",
                  {"missing": services.scene_missing_items(draft), "errors": form.errors})


# --- exhibits --------------------------------------------------------------------------------


def _next_exhibit_number(case: Case) -> str:
    taken = set(case.exhibits.values_list("number", flat=True))
    n = 1
    while f"E{n}" in taken:
        n += 1
    return f"E{n}"


@login_required
@require_http_methods(["GET", "POST"])
def exhibit_add(request: HttpRequest, pk: int) -> HttpResponse:
    case = _editable_case(request, pk)
    if request.method == "POST":
        form = forms.ExhibitForm(request.POST, request.FILES, case=case)
        if UPLOAD_COMPLETE_MARKER not in request.POST:
            # The browser stopped sending before the end of the form (connection lost,
            # cancelled): Django has already discarded the partial file.
            form.errors.clear()
            form.add_error(None, _("The upload was cut off before it finished; nothing was "
                                   "stored. Please send the file again."))
        elif form.is_valid():
            upload = form.cleaned_data.get("evidence")
            try:
                exhibit = services.add_exhibit(
                    case, number=form.cleaned_data["number"], actor=_actor(request),
                    content=upload.file if upload else None,
                    content_name=upload.name if upload else "",
                    expected_size=upload.size if upload else None,
                    **form.fields_for_service())
            except services.CaseError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Exhibit %(number)s added.")
                                 % {"number": exhibit.number})
                return redirect("cases:exhibit", pk=case.pk, exhibit_pk=exhibit.pk)
    else:
        form = forms.ExhibitForm(initial={"number": _next_exhibit_number(case)}, case=case)
    return render(request, "cases/exhibit_form.html",
                  {"case": case, "form": form, "marker": UPLOAD_COMPLETE_MARKER,
                   "nav": "cases"})


def _exhibit_context(request: HttpRequest, case: Case, exhibit: Exhibit,
                     **extra: Any) -> dict[str, Any]:
    return {
        "case": case, "exhibit": exhibit,
        "files": exhibit.files.all(),
        "photos": exhibit.photos.all(),
        "derived": exhibit.derived.all(),
        "timeline": services.custody_timeline(case, exhibit),
        "can_edit": request.user.can_edit_cases,  # type: ignore[union-attr]
        "custody_form": extra.pop("custody_form", None) or forms.CustodyForm(),
        "photo_form": extra.pop("photo_form", None) or forms.PhotoForm(),
        "acquisition_form": extra.pop("acquisition_form", None) or forms.AcquisitionForm(),
        "acquisitions": exhibit.case.jobs.filter(kind="acquire_exhibit",
                                                 params__exhibit=exhibit.number)[:3],
        "nav": "cases",
        **extra,
    }


@login_required
@require_GET
def exhibit_detail(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    case = _case(request, pk)
    exhibit = _exhibit(case, exhibit_pk)
    return render(request, "cases/exhibit_detail.html", _exhibit_context(request, case, exhibit))


@login_required
@require_POST
def custody_add(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    case = _editable_case(request, pk)
    exhibit = _exhibit(case, exhibit_pk)
    form = forms.CustodyForm(request.POST)
    if form.is_valid():
        try:
            services.record_custody(case, exhibit, form.cleaned_data["action"], _actor(request),
                                    form.details())
        except services.CaseError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Custody entry recorded."))
            return redirect(reverse("cases:exhibit", args=[case.pk, exhibit.pk]) + "#custody")
    return render(request, "cases/exhibit_detail.html",
                  _exhibit_context(request, case, exhibit, custody_form=form), status=400)


@login_required
@require_POST
def acquire(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    """Start imaging a source into a derived exhibit; the job's status shows live."""
    case = _editable_case(request, pk)
    exhibit = _exhibit(case, exhibit_pk)
    form = forms.AcquisitionForm(request.POST)
    if not form.is_valid():
        return render(request, "cases/exhibit_detail.html",
                      _exhibit_context(request, case, exhibit, acquisition_form=form), status=400)
    data = form.cleaned_data
    job = jobs.start("acquire_exhibit", {
        "case_id": case.pk, "actor": _actor(request), "exhibit": exhibit.number,
        "source": data["source"], "from_store": data["from_store"],
        "format": data["format"], "segment_mib": data["segment_mib"],
        "algorithms": ",".join(data["algorithms"])}, user=request.user, case=case)
    messages.success(request, _("Acquisition started (job %(id)s).") % {"id": job.pk})
    return redirect(reverse("cases:exhibit", args=[case.pk, exhibit.pk]) + "#acquire")


@login_required
@require_POST
def photo_add(request: HttpRequest, pk: int, exhibit_pk: int) -> HttpResponse:
    case = _editable_case(request, pk)
    exhibit = _exhibit(case, exhibit_pk)
    form = forms.PhotoForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["photo"]
        content_type = forms.sniff_image_type(upload.read(16))
        upload.seek(0)
        if content_type is None:
            form.add_error("photo", _("Not a JPEG, PNG, GIF or WebP image."))
        else:
            try:
                services.add_photo(exhibit, upload.file, content_type,
                                   form.cleaned_data["caption"], _actor(request))
            except (services.CaseError, BlobStoreError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Photograph added."))
                return redirect(reverse("cases:exhibit", args=[case.pk, exhibit.pk]) + "#photos")
    return render(request, "cases/exhibit_detail.html",
                  _exhibit_context(request, case, exhibit, photo_form=form), status=400)


@login_required
@require_GET
def photo_view(request: HttpRequest, pk: int, exhibit_pk: int, photo_pk: int) -> FileResponse:
    case = _case(request, pk)
    exhibit = _exhibit(case, exhibit_pk)
    photo = get_object_or_404(ExhibitPhoto, pk=photo_pk, exhibit=exhibit)
    if photo.content_type not in forms.PHOTO_TYPES:
        raise Http404  # never serve stored bytes under a type a browser might execute
    try:
        handle = services.blob_store().open(photo.sha256)
    except BlobStoreError as exc:
        raise Http404(str(exc)) from exc
    response = FileResponse(handle, content_type=photo.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
