"""The training pages: trainers run classes and see keys; trainees work their own variant.

Every view finds its object through training.services' permission helpers: a trainee gets
403 on a trainer's page and 404 on anybody else's variant; a key is served to trainers only.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dalil.app.cases.services import blob_store
from dalil.app.jobs.models import Job
from dalil.app.training import analytics, checking, forms, records, services
from dalil.app.training.models import LabAssignment, TaskResult, TrainingClass, Variant
from dalil.engine.evidence.blobstore import BlobStoreError
from dalil.engine.training.generate import GenerationError
from dalil.engine.training.templates import load_template, scenarios_dir, template_ids
from dalil.engine.training.yamlmarks import ContentError


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _require_trainer(request: HttpRequest) -> None:
    if not services.is_trainer(request.user):
        raise PermissionDenied(_("Only trainers may open this page."))


def _class(request: HttpRequest, pk: int) -> TrainingClass:
    _require_trainer(request)
    return get_object_or_404(services.classes_for(request.user), pk=pk)


def _assignment(request: HttpRequest, pk: int) -> LabAssignment:
    _require_trainer(request)
    return get_object_or_404(
        LabAssignment.objects.select_related("training_class"), pk=pk,
        training_class__in=services.classes_for(request.user))


def _variant(request: HttpRequest, pk: int) -> Variant:
    """A variant the user may see (its trainee, or its class's trainer), else 404."""
    variant = get_object_or_404(
        Variant.objects.select_related("assignment", "assignment__training_class", "trainee"),
        pk=pk)
    if not services.may_see_variant(request.user, variant):
        raise Http404
    return variant


def _template_choices() -> list[tuple[str, str]]:
    return [(t.id, f"{t.title.get('en', t.id)} ({t.id}, v{t.version})")
            for t in services.available_templates()]


# --- trainer -----------------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if services.is_trainer(request.user):
        return redirect("training:classes")
    if services.may_preview(request.user):
        return redirect("training:preview_list")
    return redirect("training:my_labs")


@login_required
@require_GET
def class_list(request: HttpRequest) -> HttpResponse:
    _require_trainer(request)
    classes = services.classes_for(request.user)
    return render(request, "training/class_list.html", {"classes": classes, "nav": "training"})


@login_required
@require_http_methods(["GET", "POST"])
def class_create(request: HttpRequest) -> HttpResponse:
    _require_trainer(request)
    form = forms.TrainingClassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        training_class = services.create_class(request.user,  # type: ignore[arg-type]
                                               **data)
        messages.success(request, _("Class “%(name)s” opened.") % {"name": training_class.name})
        return redirect("training:class", pk=training_class.pk)
    return render(request, "training/class_form.html", {"form": form, "nav": "training"})


def _class_page(request: HttpRequest, training_class: TrainingClass, *,
                enrol_form: forms.EnrolForm | None = None,
                assign_form: forms.AssignForm | None = None, status: int = 200) -> HttpResponse:
    assignments = []
    for assignment in training_class.assignments.all():
        variants = list(assignment.variants.select_related("trainee", "job"))
        jobs = {v.job_id for v in variants if v.job_id}
        latest = Job.objects.filter(pk__in=jobs).order_by("-created_at").first()
        assignments.append({
            "assignment": assignment,
            "title": assignment.title_in(training_class.language),
            "failed": [v for v in variants if v.status == Variant.Status.FAILED],
            "pending": sum(1 for v in variants if v.status == Variant.Status.PENDING),
            "ready": sum(1 for v in variants if v.ready),
            "job": latest if latest and latest.created_by_id == request.user.pk else None,
            "progress": services.progress(assignment),
            "statistics": analytics.task_statistics(assignment),
        })
    context = {
        "class": training_class,
        "enrolments": training_class.enrolments.select_related("trainee"),
        "assignments": assignments,
        "gains": analytics.knowledge_gain(training_class),
        "to_grade": services.to_grade(training_class).count(),
        "enrol_form": enrol_form or forms.EnrolForm(training_class=training_class),
        "assign_form": assign_form or forms.AssignForm(choices=_template_choices()),
        "nav": "training",
    }
    return render(request, "training/class_detail.html", context, status=status)


@login_required
@require_GET
def class_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _class_page(request, _class(request, pk))


@login_required
@require_POST
def class_enrol(request: HttpRequest, pk: int) -> HttpResponse:
    training_class = _class(request, pk)
    form = forms.EnrolForm(request.POST, training_class=training_class)
    if not form.is_valid():
        return _class_page(request, training_class, enrol_form=form, status=400)
    try:
        added = services.enrol(training_class, form.cleaned_data["trainees"],
                               user=request.user)  # type: ignore[arg-type]
    except services.TrainingError as exc:
        form.add_error(None, str(exc))
        return _class_page(request, training_class, enrol_form=form, status=400)
    messages.success(request, _("%(count)d trainee(s) enrolled.") % {"count": len(added)})
    return redirect("training:class", pk=training_class.pk)


@login_required
@require_POST
def class_assign(request: HttpRequest, pk: int) -> HttpResponse:
    training_class = _class(request, pk)
    form = forms.AssignForm(request.POST, choices=_template_choices())
    if not form.is_valid():
        return _class_page(request, training_class, assign_form=form, status=400)
    try:
        assignment, _job = services.assign_lab(
            training_class, form.cleaned_data["template"], user=request.user,  # type: ignore[arg-type]
            opens_at=form.cleaned_data.get("opens_at"),
            closes_at=form.cleaned_data.get("closes_at"))
    except services.TrainingError as exc:
        form.add_error(None, str(exc))
        return _class_page(request, training_class, assign_form=form, status=400)
    messages.success(request, _("Lab “%(lab)s” assigned: each trainee's variant is being "
                                "generated.") % {"lab": assignment.template})
    return redirect(reverse("training:class", args=[training_class.pk])
                    + f"#assignment-{assignment.pk}")


@login_required
@require_POST
def assignment_retry(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = _assignment(request, pk)
    job = services.retry_failed(assignment, user=request.user)  # type: ignore[arg-type]
    if job is None:
        messages.info(request, _("No variant of this lab has failed."))
    else:
        messages.success(request, _("Generating the failed variants again."))
    return redirect(reverse("training:class", args=[assignment.training_class_id])
                    + f"#assignment-{assignment.pk}")


@login_required
@require_GET
def assignment_progress(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = _assignment(request, pk)
    return render(request, "training/_progress.html",
                  {"progress": services.progress(assignment)})


@login_required
@require_GET
def assignment_csv(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = _assignment(request, pk)
    name = slugify(f"{assignment.training_class.name}-{assignment.template}") or "progress"
    response = HttpResponse(services.progress_csv(assignment),
                            content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-progress.csv"'
    return response


@login_required
@require_GET
def assignment_xlsx(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = _assignment(request, pk)
    name = slugify(f"{assignment.training_class.name}-{assignment.template}") or "progress"
    response = HttpResponse(
        services.progress_xlsx(assignment),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{name}-progress.xlsx"'
    return response


@login_required
@require_GET
def grading_queue(request: HttpRequest, pk: int) -> HttpResponse:
    """Free-text answers of the class that await the trainer, each beside its rubric."""
    training_class = _class(request, pk)
    items = services.grading_queue(training_class)
    return render(request, "training/grading_queue.html",
                  {"class": training_class, "items": items, "nav": "training"})


@login_required
@require_POST
def grade_result(request: HttpRequest, pk: int) -> HttpResponse:
    _require_trainer(request)
    result = get_object_or_404(
        TaskResult.objects.select_related("variant__assignment__training_class"), pk=pk,
        variant__assignment__training_class__in=services.classes_for(request.user))
    class_pk = result.variant.assignment.training_class_id
    form = forms.GradeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values()
                                         for e in errors))
    else:
        try:
            services.grade_manually(result, user=request.user,  # type: ignore[arg-type]
                                    score=form.cleaned_data["score"],
                                    comment=form.cleaned_data["comment"] or "")
        except services.TrainingError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Graded: %(trainee)s, task %(task)s.") % {
                "trainee": result.variant.trainee.get_full_name()
                or result.variant.trainee.username, "task": result.task_id})
    return redirect("training:grading", pk=class_pk)


@login_required
@require_GET
def variant_key(request: HttpRequest, pk: int) -> HttpResponse:
    """The trainer's copy of a variant's answer key (JSON). Never for a trainee."""
    _require_trainer(request)
    variant = _variant(request, pk)
    if not services.may_see_key(request.user, variant):
        raise Http404
    try:
        key = services.answer_key(variant)
    except services.TrainingError as exc:
        raise Http404(str(exc)) from None
    response = HttpResponse(json.dumps(key, indent=2, ensure_ascii=False, sort_keys=True),
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (f'attachment; filename="answer-key-'
                                       f'{variant.assignment.template}-{variant.seed}.json"')
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- trainee -----------------------------------------------------------------------------


@login_required
@require_GET
def my_labs(request: HttpRequest) -> HttpResponse:
    variants = services.variants_visible_to_trainee(request.user)
    rows = []
    for variant in variants:
        results = list(variant.results.all())
        rows.append({"variant": variant,
                     "title": variant.assignment.title_in(
                         variant.assignment.training_class.language),
                     "score": round(sum(r.score for r in results), 4),
                     "max": sum(float(t["points"]) for t in variant.tasks),
                     "solved": sum(1 for r in results if r.solved)})
    return render(request, "training/my_labs.html", {"rows": rows, "nav": "training"})


def _lab_context(request: HttpRequest, variant: Variant) -> dict[str, object]:
    show_key = services.may_see_key(request.user, variant)
    return {"variant": variant, "lab": services.lab_view(variant, show_key=show_key),
            "is_trainer_view": show_key, "nav": "training",
            "title": variant.assignment.title_in(variant.assignment.training_class.language)}


@login_required
@require_GET
def lab_detail(request: HttpRequest, pk: int) -> HttpResponse:
    variant = _variant(request, pk)
    if not variant.ready:
        raise Http404
    if variant.trainee_id == request.user.pk:
        services.mark_started(variant)
    return render(request, "training/lab.html", _lab_context(request, variant))


def _own_variant(request: HttpRequest, pk: int) -> Variant:
    """Only the trainee works on a variant (a trainer previews it but never answers)."""
    variant = _variant(request, pk)
    if variant.trainee_id != request.user.pk:
        raise PermissionDenied(_("Only the trainee whose lab this is may answer."))
    return variant


def _after_task_action(request: HttpRequest, variant: Variant, task_id: str,
                       error: str | None) -> HttpResponse:
    if _is_htmx(request):
        context = _lab_context(request, variant)
        lab = context["lab"]
        assert isinstance(lab, dict)
        task = next((t for t in lab["tasks"] if t.id == task_id), None)
        if task is None:
            raise Http404
        return render(request, "training/_task.html",
                      {**context, "task": task, "task_error": error, "score": lab["score"],
                       "max": lab["max"], "oob_score": True})
    if error:
        messages.error(request, error)
    return redirect(reverse("training:lab", args=[variant.pk]) + f"#task-{task_id}")


@login_required
@require_POST
def lab_answer(request: HttpRequest, pk: int, task_id: str) -> HttpResponse:
    variant = _own_variant(request, pk)
    if variant.task(task_id) is None:
        raise Http404
    form = forms.AnswerForm(request.POST)
    error = None
    if (variant.task(task_id) or {}).get("grader") == records.CASE_RECORDS:
        try:  # no text: the trainee's own training case is read and graded
            services.submit_answer(variant, task_id)
        except services.TrainingError as exc:
            error = str(exc)
    elif not form.is_valid() or not form.cleaned_data["answer"].strip():
        error = _("Write an answer first.")
    else:
        try:
            services.submit_answer(variant, task_id, form.cleaned_data["answer"])
        except services.TrainingError as exc:
            error = str(exc)
    return _after_task_action(request, variant, task_id, error)


@login_required
@require_POST
def lab_hint(request: HttpRequest, pk: int, task_id: str) -> HttpResponse:
    variant = _own_variant(request, pk)
    if variant.task(task_id) is None:
        raise Http404
    error = None
    try:
        services.reveal_hint(variant, task_id)
    except services.TrainingError as exc:
        error = str(exc)
    return _after_task_action(request, variant, task_id, error)


@login_required
@require_GET
def lab_evidence(request: HttpRequest, pk: int, name: str) -> FileResponse:
    """One evidence file of the variant, from the blob store (the key is never among them)."""
    variant = _variant(request, pk)
    item = next((e for e in variant.evidence if e.get("path") == name), None)
    if item is None:
        raise Http404
    try:
        handle = blob_store().open(str(item["sha256"]))
    except BlobStoreError:
        raise Http404(_("The evidence file is missing from the store.")) from None
    response = FileResponse(handle, as_attachment=True, filename=str(item["path"]),
                            content_type="application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- training-of-trainers ----------------------------------------------------------------


def _require_previewer(request: HttpRequest) -> None:
    if not services.may_preview(request.user):
        raise PermissionDenied(_("Only trainers and trainers-in-training may open this page."))


@login_required
@require_GET
def preview_list(request: HttpRequest) -> HttpResponse:
    _require_previewer(request)
    return render(request, "training/preview_list.html",
                  {"templates": services.available_templates(), "nav": "training"})


def _preview_template(template_id: str) -> tuple[str, list[str]]:
    if template_id not in template_ids():  # a packaged id, never a path
        raise Http404
    try:
        template = load_template(scenarios_dir() / template_id)
    except ContentError:
        raise Http404 from None
    return template.id, list(template.countries)


@login_required
@require_GET
def preview_variant(request: HttpRequest, template_id: str) -> HttpResponse:
    """Any variant of a template with its answer key, generated on demand from a seed."""
    _require_previewer(request)
    template_id, countries = _preview_template(template_id)
    form = forms.PreviewForm(request.GET or None, countries=countries)
    context: dict[str, object] = {"template_id": template_id, "form": form,
                                  "nav": "training"}
    if form.is_bound and form.is_valid():
        seed, country = form.cleaned_data["seed"], form.cleaned_data["country"]
        try:
            preview = checking.preview_variant(template_id, seed, country=country or None)
        except (GenerationError, ContentError, checking.CheckError) as exc:
            form.add_error(None, str(exc))
        else:
            if request.GET.get("format") == "json":
                response = HttpResponse(json.dumps(preview.key, indent=2, ensure_ascii=False,
                                                   sort_keys=True),
                                        content_type="application/json; charset=utf-8")
                response["Content-Disposition"] = (
                    f'attachment; filename="answer-key-{template_id}-{seed}.json"')
                response["X-Content-Type-Options"] = "nosniff"
                return response
            language = request.GET.get("language") or request.LANGUAGE_CODE
            if language not in preview.briefings:
                language = "en" if "en" in preview.briefings else next(
                    iter(preview.briefings), "en")
            context.update(preview=preview, seed=seed, language=language,
                           briefing=preview.briefings.get(language, ""),
                           tasks=[_preview_task(t, language) for t in preview.key["tasks"]])
    return render(request, "training/preview.html", context,
                  status=400 if form.is_bound and form.errors else 200)


def _preview_task(task: dict[str, object], language: str) -> dict[str, object]:
    def text(value: object) -> str:
        if isinstance(value, dict):
            return str(value.get(language) or value.get("en") or next(iter(value.values()),
                                                                        ""))
        return str(value or "")

    hints = task.get("hints") or []
    assert isinstance(hints, list)
    return {"id": task["id"], "grader": task["grader"], "points": task["points"],
            "question": text(task.get("question")), "answer": task.get("answer"),
            "planted": task.get("planted", ""), "explanation": text(task.get("explanation")),
            "hints": [{"cost": h.get("cost", 0), "text": text(h.get("text"))} for h in hints],
            "rubric": services.rubric_items(dict(task), language)
            if task.get("grader") == "free_text" else []}


@login_required
@require_http_methods(["GET", "POST"])
def template_check(request: HttpRequest) -> HttpResponse:
    """Validate an adapted template as ``dalil train check`` does; show file:line errors."""
    _require_previewer(request)
    directories = checking.local_template_dirs()
    form = forms.TemplateCheckForm(request.POST or None, request.FILES or None,
                                   directories=directories)
    report = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                if form.cleaned_data.get("archive"):
                    upload = form.cleaned_data["archive"]
                    report = checking.check_upload(upload, upload.name)
                else:
                    report = checking.check_local(form.cleaned_data["directory"])
            except checking.CheckError as exc:
                form.add_error(None, str(exc))
        if report is None or not report.ok:
            status = 400
    return render(request, "training/template_check.html",
                  {"form": form, "report": report, "directories": directories,
                   "templates_home": checking.templates_home(), "nav": "training"},
                  status=status)
