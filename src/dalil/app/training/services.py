"""Training operations the web (and later the CLI) call: the only code that writes these rows.

Generation goes through the pure engine (``dalil.engine.training``) in a background job;
grading through its graders. The answer key is read here and handed only to trainer views.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from dalil.app.accounts.models import Role, User
from dalil.app.cases.models import Case, Exhibit, ExhibitType
from dalil.app.cases.services import (
    EXHIBIT_HASHES,
    CaseError,
    actor_name,
    add_exhibit_from_blobs,
    blob_store,
    create_case,
)
from dalil.app.jobs import services as jobs
from dalil.app.jobs.models import Job
from dalil.app.training import jobs as jobs_module
from dalil.app.training import records
from dalil.app.training.models import (
    Attempt,
    Enrolment,
    HintUse,
    LabAssignment,
    TaskResult,
    TrainingClass,
    Variant,
    VariantKey,
)
from dalil.engine.evidence.blobstore import BlobStoreError, StoredBlob
from dalil.engine.training.generate import GenerationError, generate
from dalil.engine.training.graders import grade_task
from dalil.engine.training.templates import Template, list_templates, load_template, resolve
from dalil.engine.training.yamlmarks import ContentError

GENERATE_JOB = jobs_module.GENERATE_JOB
TRAINER_ROLES = {Role.TRAINER, Role.ADMINISTRATOR}
# Who may preview any template's variants with their keys and validate adapted templates.
PREVIEW_ROLES = {Role.TRAINER, Role.TRAINER_IN_TRAINING, Role.ADMINISTRATOR}
# Graders whose answer is a JSON document (a list or an object) rather than a line of text.
JSON_GRADERS = {"set", "ordering", "rubric"}


class TrainingError(Exception):
    """An operation refused for a reason the user can act on; the message says which."""


# --- who may do what ---------------------------------------------------------------------


def is_trainer(user: Any) -> bool:
    """Trainers and administrators run classes and see answer keys; nobody else does."""
    return bool(getattr(user, "is_authenticated", False)
                and (user.is_superuser or getattr(user, "role", None) in TRAINER_ROLES))


def may_preview(user: Any) -> bool:
    """Trainers and trainers-in-training: template previews with keys, template checks.

    A preview is generated from a seed, never from a trainee's variant: it shows nobody's
    work.
    """
    return bool(getattr(user, "is_authenticated", False)
                and (user.is_superuser or getattr(user, "role", None) in PREVIEW_ROLES))


def classes_for(user: Any) -> QuerySet[TrainingClass]:
    """The classes a trainer runs (an administrator sees every class)."""
    if not is_trainer(user):
        return TrainingClass.objects.none()
    qs = TrainingClass.objects.select_related("trainer")
    if user.is_superuser or user.role == Role.ADMINISTRATOR:
        return qs
    return qs.filter(trainer=user)


def variants_visible_to_trainee(user: Any) -> QuerySet[Variant]:
    """A trainee's own variants that are ready and whose lab has opened."""
    return (Variant.objects.filter(trainee=user, status=Variant.Status.READY,
                                   assignment__opens_at__lte=timezone.now())
            .select_related("assignment", "assignment__training_class"))


def may_see_variant(user: Any, variant: Variant) -> bool:
    """Its trainee (once ready and open), or a trainer who runs its class."""
    if variant.trainee_id == user.pk:
        return variant.ready and variant.assignment.opens_at <= timezone.now()
    return bool(classes_for(user).filter(pk=variant.assignment.training_class_id).exists())


def may_see_key(user: Any, variant: Variant) -> bool:
    return bool(classes_for(user).filter(pk=variant.assignment.training_class_id).exists())


# --- classes and enrolment ---------------------------------------------------------------


def create_class(trainer: User, *, name: str, course: int = 1, language: str = "en",
                 **fields: Any) -> TrainingClass:
    if not is_trainer(trainer):
        raise TrainingError(_("Only a trainer may open a class."))
    return TrainingClass.objects.create(name=name, course=course, language=language,
                                        trainer=trainer, **fields)


def enrol(training_class: TrainingClass, trainees: Iterable[User], *,
          user: User | None = None) -> list[Enrolment]:
    """Enrol trainees; labs already assigned get a variant generated for each newcomer."""
    added: list[Enrolment] = []
    with transaction.atomic():
        for trainee in trainees:
            if trainee.pk == training_class.trainer_id:
                raise TrainingError(_("The class's trainer cannot be enrolled as a trainee."))
            enrolment, created = Enrolment.objects.get_or_create(
                training_class=training_class, trainee=trainee)
            if created:
                added.append(enrolment)
        if added:
            for assignment in training_class.assignments.all():
                variants = [_new_variant(assignment, e.trainee) for e in added]
                start_generation(assignment, variants, user=user or training_class.trainer)
    return added


# --- labs and generation -----------------------------------------------------------------


def available_templates() -> list[Template]:
    good, _bad = list_templates()
    return good


def _new_variant(assignment: LabAssignment, trainee: User) -> Variant:
    used = set(assignment.variants.values_list("seed", flat=True))
    seed = secrets.randbelow(1_000_000_000)
    while seed in used:
        seed = secrets.randbelow(1_000_000_000)
    variant, _created = Variant.objects.get_or_create(
        assignment=assignment, trainee=trainee, defaults={"seed": seed})
    return variant


def assign_lab(training_class: TrainingClass, template_id: str, *, user: User,
               opens_at: datetime | None = None,
               closes_at: datetime | None = None) -> tuple[LabAssignment, Job | None]:
    """Give a lab to the class and start generating one variant per trainee."""
    try:
        template = load_template(resolve(template_id))
    except ContentError as exc:
        raise TrainingError(str(exc)) from exc
    opens_at = opens_at or timezone.now()
    if closes_at is not None and closes_at <= opens_at:
        raise TrainingError(_("A lab must close after it opens."))
    if training_class.assignments.filter(template=template.id).exists():
        raise TrainingError(_("This class already has the lab “%(template)s”.")
                            % {"template": template.id})
    with transaction.atomic():
        assignment = LabAssignment.objects.create(
            training_class=training_class, template=template.id, version=template.version,
            kind=template.kind, title=dict(template.title), opens_at=opens_at,
            closes_at=closes_at)
        variants = [_new_variant(assignment, e.trainee)
                    for e in training_class.enrolments.select_related("trainee")]
        job = start_generation(assignment, variants, user=user)
    return assignment, job


def start_generation(assignment: LabAssignment, variants: list[Variant], *,
                     user: User | None) -> Job | None:
    if not variants:
        return None
    job = jobs.start(GENERATE_JOB, {"assignment_id": assignment.pk,
                                    "variant_ids": [v.pk for v in variants]}, user=user)
    Variant.objects.filter(pk__in=[v.pk for v in variants]).update(job=job)
    return job


def retry_failed(assignment: LabAssignment, *, user: User) -> Job | None:
    """Generate again every variant of the assignment whose generation failed."""
    with transaction.atomic():
        failed = list(assignment.variants.filter(status=Variant.Status.FAILED))
        Variant.objects.filter(pk__in=[v.pk for v in failed]).update(
            status=Variant.Status.PENDING, error="")
        return start_generation(assignment, failed, user=user)


def _public_task(task: dict[str, Any]) -> dict[str, Any]:
    """What a trainee may see of a key's task: the question and the hint costs."""
    public = {"id": task["id"], "grader": task["grader"], "points": task["points"],
              "question": task["question"], "max_attempts": task.get("max_attempts"),
              "hints": [{"cost": h.get("cost", 0)} for h in task.get("hints", [])]}
    if task["grader"] == "choice":
        public["choices"] = sorted(task.get("options", {}).get("letters", {}))
    return public


def generate_variant(variant: Variant) -> bool:
    """Generate one variant; on success store evidence, public copy and key all at once.

    On failure the variant is marked failed with the reason and nothing else is stored, so
    a trainee never sees a half-made variant.
    """
    assignment = variant.assignment
    work_root = Path(settings.DALIL_HOME) / "tmp"
    work_root.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=work_root, prefix="variant-") as tmp:
            out = Path(tmp) / "variant"
            directory = resolve(assignment.template)
            template = load_template(directory)
            if template.version != assignment.version:
                raise GenerationError(
                    f"template {template.id} is now version {template.version}; this lab "
                    f"was assigned with version {assignment.version}")
            key = generate(directory, variant.seed, out)
            store = blob_store()
            blobs: dict[str, StoredBlob] = {}
            for item in key.evidence:
                blob = store.put_file(out / item["path"], also=EXHIBIT_HASHES)
                if blob.sha256 != item["sha256"]:
                    raise GenerationError(f"{item['path']} changed while it was stored")
                blobs[str(item["path"])] = blob
            briefing = {loc: (out / f"briefing.{loc}.md").read_text(encoding="utf-8")
                        for loc in template.locales
                        if (out / f"briefing.{loc}.md").is_file()}
    except (ContentError, GenerationError, BlobStoreError, OSError, ValueError) as exc:
        Variant.objects.filter(pk=variant.pk).update(status=Variant.Status.FAILED,
                                                     error=str(exc)[:2000])
        return False
    document = key.to_dict()
    try:
        with transaction.atomic():
            case, exhibits = _training_case(variant, template, blobs)
            VariantKey.objects.update_or_create(variant=variant, defaults={"key": document})
            Variant.objects.filter(pk=variant.pk).update(
                status=Variant.Status.READY, error="", country=key.country, briefing=briefing,
                evidence=key.evidence, tasks=[_public_task(t) for t in key.tasks],
                generated_at=timezone.now(), case=case, case_exhibits=exhibits)
    except CaseError as exc:
        Variant.objects.filter(pk=variant.pk).update(status=Variant.Status.FAILED,
                                                     error=str(exc)[:2000])
        return False
    return True


def training_case_number(variant: Variant) -> str:
    """``TR-<class>-<trainee>-<lab>``: the username when it is short and plain, else its id."""
    name = variant.trainee.username
    trainee = name if re.fullmatch(r"[A-Za-z0-9._-]{1,30}", name) else str(variant.trainee_id)
    return f"TR-{variant.assignment.training_class_id}-{trainee}-{variant.assignment_id}"


def _exhibit_type(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".img", ".dd", ".raw", ".e01", ".001", ".iso"):
        return ExhibitType.IMAGE
    if suffix in (".json", ".md", ".txt", ".pdf", ".csv"):
        return ExhibitType.DOCUMENT
    return ExhibitType.FILE


def _training_case(variant: Variant, template: Template,
                   blobs: dict[str, StoredBlob]) -> tuple[Case, dict[str, str]]:
    """The trainee's own case holding the variant's evidence files as exhibits L1, L2, ...

    Call inside the transaction that makes the variant ready. The case belongs to no
    institution: it is visible to the trainee (its creator), to the class's trainer (shared
    with them) and to administrators, never to other trainees. It holds evidence only: the
    answer key, the seed and the briefings stay out of it.
    """
    if variant.case_id is not None:  # regenerated after a failure that came later
        existing = Case.objects.get(pk=variant.case_id)
        return existing, dict(variant.case_exhibits)
    assignment = variant.assignment
    trainee = variant.trainee
    title = assignment.title_in(assignment.training_class.language)
    actor = actor_name(trainee)
    case = create_case(
        number=training_case_number(variant), user=trainee, institution=None,
        kind=Case.Kind.TRAINING, actor=actor,
        title=_("Training: %(lab)s") % {"lab": title},
        offence=_("Training lab %(template)s, class %(class)s")
        % {"template": assignment.template, "class": assignment.training_class.name})
    case.shared_with.add(assignment.training_class.trainer)
    exhibits: dict[str, str] = {}
    n = 0
    declared = [e.output for e in template.evidence if e.output in blobs]
    for path in declared + sorted(set(blobs) - set(declared)):  # the template's order
        blob = blobs[path]
        if path.startswith("briefing."):
            continue
        n += 1
        number = f"L{n}"
        add_exhibit_from_blobs(
            case, number=number, actor=actor, blobs=[(path, blob)], action="imported",
            details={"source": f"Dalil training lab {template.id} v{template.version}"},
            type=_exhibit_type(path),
            description=_("Lab material: %(file)s, provided by the training lab")
            % {"file": path})
        exhibits[path] = number
    return case, exhibits


def answer_key(variant: Variant) -> dict[str, Any]:
    """The variant's key: for graders and for trainer views only."""
    try:
        return dict(VariantKey.objects.get(variant=variant).key)
    except VariantKey.DoesNotExist:
        raise TrainingError(_("This variant has no answer key yet.")) from None


def _key_task(variant: Variant, task_id: str) -> dict[str, Any]:
    for task in answer_key(variant).get("tasks", []):
        if task.get("id") == task_id:
            return dict(task)
    raise TrainingError(_("This lab has no task “%(task)s”.") % {"task": task_id})


# --- answers and hints -------------------------------------------------------------------


def parse_answer(grader: str, text: str) -> Any:
    """The form's text as the engine's graders expect it for this kind of task."""
    text = text.strip()
    if grader in JSON_GRADERS:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            if grader == "rubric":
                return text  # graded wrong, with the engine's message
            return [item.strip() for item in re.split(r"[,\n;]", text) if item.strip()]
    if grader == "numeric":
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return text
    if grader == "choice":
        return text.upper()
    return text


def _check_open(variant: Variant) -> None:
    if not variant.ready:
        raise TrainingError(_("This lab is not ready yet."))
    assignment = variant.assignment
    if assignment.opens_at > timezone.now():
        raise TrainingError(_("This lab has not opened yet."))
    if assignment.is_closed:
        raise TrainingError(_("This lab is closed: answers are no longer accepted."))


def _result(variant: Variant, task_id: str) -> TaskResult:
    public = variant.task(task_id)
    if public is None:
        raise TrainingError(_("This lab has no task “%(task)s”.") % {"task": task_id})
    result, _created = TaskResult.objects.select_for_update().get_or_create(
        variant=variant, task_id=task_id, defaults={"max_score": float(public["points"])})
    return result


def submit_answer(variant: Variant, task_id: str, text: str = "") -> tuple[TaskResult, Attempt]:
    """Grade one answer with the engine; attempt limits hold; hints cost only when solved.

    A ``case_records`` task takes no text: the trainee's own training case is read
    (:mod:`dalil.app.training.records`) and its summary graded.
    """
    _check_open(variant)
    key_task = _key_task(variant, task_id)
    with transaction.atomic():
        result = _result(variant, task_id)
        if result.solved:
            raise TrainingError(_("This task is already solved."))
        if result.graded_at is not None:
            raise TrainingError(_("The trainer has graded this task: it takes no more "
                                  "answers."))
        limit = key_task.get("max_attempts")
        if isinstance(limit, int) and result.attempts >= limit:
            raise TrainingError(_("No attempts left for this task."))
        if key_task.get("grader") == records.CASE_RECORDS:
            try:
                answer = records.summary(variant)
            except records.NoTrainingCase as exc:
                raise TrainingError(str(exc)) from exc
        else:
            answer = parse_answer(str(key_task.get("grader")), text)
        number = result.attempts + 1
        grade = grade_task(key_task, answer, hints_used=result.hints_used, attempt=number)
        now = timezone.now()
        result.attempts = number
        result.score = max(result.score, grade.score)
        result.max_score = grade.max
        result.feedback = grade.feedback
        result.needs_trainer = grade.needs_trainer
        result.last_answer = answer
        result.first_attempt_at = result.first_attempt_at or now
        result.last_attempt_at = now
        if grade.correct:
            result.solved = True
            result.solved_at = now
            result.score = grade.score
        result.save()
        attempt = Attempt.objects.create(
            variant=variant, task_id=task_id, number=number, answer=answer, score=grade.score,
            correct=grade.correct, feedback=grade.feedback, hints_used=result.hints_used)
    return result, attempt


def reveal_hint(variant: Variant, task_id: str) -> HintUse:
    """Open the task's next hint; its cost is taken from the score only if it is solved."""
    _check_open(variant)
    hints = _key_task(variant, task_id).get("hints") or []
    with transaction.atomic():
        result = _result(variant, task_id)
        if result.solved or result.graded_at is not None:
            raise TrainingError(_("This task is already solved."))
        if result.hints_used >= len(hints):
            raise TrainingError(_("There are no more hints for this task."))
        use = HintUse.objects.create(variant=variant, task_id=task_id,
                                     index=result.hints_used,
                                     cost=float(hints[result.hints_used].get("cost", 0)))
        result.hints_used += 1
        result.save(update_fields=["hints_used"])
    return use


# --- what the pages show -----------------------------------------------------------------


def content_language(variant: Variant, available: Iterable[str]) -> str:
    """The class's language when the lab has it, else English, else the first there is."""
    available = list(available)
    for code in (variant.assignment.training_class.language, "en"):
        if code in available:
            return code
    return available[0] if available else "en"


@dataclass
class TaskView:
    id: str
    grader: str
    points: float
    question: str
    choices: list[str]
    max_attempts: int | None
    hints: list[dict[str, Any]]  # {"cost", "text" (once opened)}
    result: TaskResult | None
    expected: Any = None
    explanation: str = ""
    revealed: bool = False
    attempts_left: int | None = None
    can_answer: bool = False
    next_hint_cost: float | None = None


def lab_view(variant: Variant, *, show_key: bool = False) -> dict[str, Any]:
    """The lab page's data: tasks in the class's language, results, hints opened, score.

    Expected answers appear when the lab has closed, or when ``show_key`` (a trainer).
    """
    assignment = variant.assignment
    language = content_language(variant, variant.briefing or ["en"])
    results = {r.task_id: r for r in variant.results.all()}
    reveal = show_key or assignment.is_closed
    key_tasks: dict[str, dict[str, Any]] = {}
    if variant.ready:
        key_tasks = {str(t["id"]): t for t in answer_key(variant).get("tasks", [])}
    is_open = assignment.is_open and variant.ready
    tasks: list[TaskView] = []
    for public in variant.tasks:
        task_id = public["id"]
        result = results.get(task_id)
        used = result.hints_used if result else 0
        key_hints = key_tasks.get(task_id, {}).get("hints", [])
        hints = []
        for index, hint in enumerate(public.get("hints", [])):
            entry: dict[str, Any] = {"cost": hint.get("cost", 0)}
            if index < used or show_key:
                text = key_hints[index]["text"] if index < len(key_hints) else {}
                entry["text"] = text.get(language) or text.get("en", "")
            hints.append(entry)
        limit = public.get("max_attempts")
        attempts = result.attempts if result else 0
        solved = bool(result and (result.solved or result.graded_at))
        view = TaskView(
            id=task_id, grader=public["grader"], points=float(public["points"]),
            question=_localised(public["question"], language), choices=public.get(
                "choices", []), max_attempts=limit, hints=hints, result=result,
            attempts_left=(limit - attempts) if isinstance(limit, int) else None,
            revealed=reveal)
        view.can_answer = is_open and not solved and (view.attempts_left is None
                                                      or view.attempts_left > 0)
        if used < len(hints) and view.can_answer:
            view.next_hint_cost = float(hints[used]["cost"])
        if reveal and task_id in key_tasks:
            view.expected = key_tasks[task_id].get("answer")
            view.explanation = _localised(key_tasks[task_id].get("explanation") or {},
                                          language)
        tasks.append(view)
    score = sum(r.score for r in results.values())
    maximum = sum(float(t["points"]) for t in variant.tasks)
    exhibit_pks: dict[str, int] = {}
    if variant.case_id is not None:
        exhibit_pks = dict(Exhibit.objects.filter(case_id=variant.case_id).values_list(
            "number", "pk"))
    evidence = []
    for item in variant.evidence:
        if str(item["path"]).startswith("briefing."):
            continue
        number = dict(variant.case_exhibits).get(str(item["path"]))
        evidence.append({**item, "exhibit_pk": exhibit_pks.get(number) if number else None})
    return {"language": language, "briefing": variant.briefing.get(language, ""),
            "evidence": evidence, "case_id": variant.case_id,
            "tasks": tasks, "score": round(score, 4), "max": round(maximum, 4),
            "revealed": reveal, "is_open": is_open}


def _localised(texts: Any, language: str) -> str:
    if isinstance(texts, str):
        return texts
    if not isinstance(texts, dict) or not texts:
        return ""
    return str(texts.get(language) or texts.get("en") or next(iter(texts.values())))


def pretty_answer(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)


def progress(assignment: LabAssignment) -> dict[str, Any]:
    """The trainer's table: one row per trainee, one cell per task."""
    variants = list(assignment.variants.select_related("trainee").prefetch_related("results"))
    columns: list[dict[str, Any]] = []
    for variant in variants:
        if variant.tasks:
            columns = [{"id": t["id"], "points": t["points"]} for t in variant.tasks]
            break
    rows = []
    for variant in variants:
        results = {r.task_id: r for r in variant.results.all()}
        cells = [{"task": c["id"], "result": results.get(c["id"])} for c in columns]
        last = max((r.last_attempt_at for r in results.values() if r.last_attempt_at),
                   default=None)
        rows.append({"variant": variant, "trainee": variant.trainee, "cells": cells,
                     "score": round(sum(r.score for r in results.values()), 4),
                     "max": sum(float(c["points"]) for c in columns),
                     "solved": sum(1 for r in results.values() if r.solved),
                     "last_activity": last})
    return {"assignment": assignment, "columns": columns, "rows": rows}


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


PROGRESS_HEADER = ["class", "lab", "version", "trainee", "name", "status", "task", "solved",
                   "attempts", "hints", "score", "max", "first_attempt_at", "solved_at"]


def progress_rows(assignment: LabAssignment) -> list[list[Any]]:
    """The export's rows (one per trainee and task), values unescaped and typed."""
    data = progress(assignment)
    rows: list[list[Any]] = []
    for row in data["rows"]:
        trainee = row["trainee"]
        for cell, column in zip(row["cells"], data["columns"], strict=True):
            r = cell["result"]
            rows.append([
                assignment.training_class.name, assignment.template, assignment.version,
                trainee.username, trainee.get_full_name(), row["variant"].status,
                column["id"], "yes" if r and r.solved else "no", r.attempts if r else 0,
                r.hints_used if r else 0, r.score if r else 0.0, float(column["points"]),
                r.first_attempt_at.isoformat() if r and r.first_attempt_at else "",
                r.solved_at.isoformat() if r and r.solved_at else ""])
    return rows


def progress_csv(assignment: LabAssignment) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(PROGRESS_HEADER)
    for row in progress_rows(assignment):
        writer.writerow([_cell(f"{v:g}" if isinstance(v, float) else v) for v in row])
    return buffer.getvalue()


def progress_xlsx(assignment: LabAssignment) -> bytes:
    """The progress table as an XLSX workbook: the CSV's rows, with numbers as numbers.

    Text cells are escaped as in the CSV: openpyxl stores a string that starts with ``=``
    as a formula, so a trainee named ``=HYPERLINK(...)`` would otherwise run in Excel.
    """
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Progress")[:31])
    sheet.append(PROGRESS_HEADER)
    for row in progress_rows(assignment):
        sheet.append([v if isinstance(v, int | float) else _cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- manual grading of free-text answers -------------------------------------------------


def mark_started(variant: Variant) -> None:
    """Record when the trainee first opened the lab (the start of "time to solve")."""
    if variant.started_at is None:
        now = timezone.now()
        Variant.objects.filter(pk=variant.pk, started_at__isnull=True).update(started_at=now)
        variant.started_at = now


def rubric_items(task: dict[str, Any], language: str) -> list[tuple[str, str]]:
    """A free-text task's rubric as (criterion, text) lines in the class's language.

    The rubric is the task's ``options.rubric`` mapping; each value is a text, a text per
    locale, or ``{points, text}``. The task's explanation follows as a last line.
    """
    rubric = (task.get("options") or {}).get("rubric") or {}
    items: list[tuple[str, str]] = []
    if isinstance(rubric, dict) and rubric and set(rubric) <= set(dict(settings.LANGUAGES)):
        items.append(("", _localised(rubric, language)))
    elif isinstance(rubric, dict):
        for name, value in rubric.items():
            if isinstance(value, dict) and "text" in value:
                text = _localised(value["text"], language)
                if isinstance(value.get("points"), int | float):
                    text = _("%(text)s (%(points)s points)") % {
                        "text": text, "points": f"{float(value['points']):g}"}
            else:
                text = _localised(value, language) if isinstance(value, dict) else str(value)
            items.append((str(name), text))
    explanation = _localised(task.get("explanation") or {}, language)
    if explanation:
        items.append((_("explanation"), explanation))
    return items


@dataclass
class QueueItem:
    result: TaskResult
    variant: Variant
    question: str
    rubric: list[tuple[str, str]]
    answer: str
    hint_cost: float


def to_grade(training_class: TrainingClass) -> QuerySet[TaskResult]:
    """The class's free-text answers that await a trainer."""
    return TaskResult.objects.filter(variant__assignment__training_class=training_class,
                                     needs_trainer=True, variant__status=Variant.Status.READY)


def grading_queue(training_class: TrainingClass) -> list[QueueItem]:
    """Free-text answers of the class awaiting a trainer, oldest first, with their rubric."""
    results = (to_grade(training_class)
               .select_related("variant", "variant__trainee", "variant__assignment",
                               "variant__assignment__training_class")
               .order_by("last_attempt_at", "pk"))
    items = []
    for result in results:
        variant = result.variant
        language = content_language(variant, variant.briefing or ["en"])
        task = _key_task(variant, result.task_id)
        items.append(QueueItem(
            result=result, variant=variant,
            question=_localised(task.get("question") or {}, language),
            rubric=rubric_items(task, language), answer=pretty_answer(result.last_answer),
            hint_cost=_hint_cost(task, result.hints_used)))
    return items


def _hint_cost(task: dict[str, Any], used: int) -> float:
    hints = task.get("hints") or []
    return float(sum(float(h.get("cost", 0)) for h in hints[:used] if isinstance(h, dict)))


def grade_manually(result: TaskResult, *, user: User, score: float,
                   comment: str = "") -> TaskResult:
    """A trainer scores a free-text answer against the rubric; the trainee sees it.

    The score is out of the task's points; hints opened cost their points as with
    automatic grading (only when the score is above zero). A graded task counts as solved
    when it scored anything, and takes no more answers either way.
    """
    with transaction.atomic():
        result = TaskResult.objects.select_for_update().select_related(
            "variant", "variant__assignment").get(pk=result.pk)
        variant = result.variant
        if not classes_for(user).filter(pk=variant.assignment.training_class_id).exists():
            raise TrainingError(_("Only the class's trainer may grade this answer."))
        if not result.needs_trainer:
            raise TrainingError(_("This answer does not await grading."))
        task = _key_task(variant, result.task_id)
        points = float(task.get("points", result.max_score))
        if not 0 <= score <= points:
            raise TrainingError(_("The score is between 0 and %(points)s.")
                                % {"points": f"{points:g}"})
        final = max(0.0, score - _hint_cost(task, result.hints_used)) if score > 0 else 0.0
        now = timezone.now()
        result.score = round(final, 4)
        result.max_score = points
        result.needs_trainer = False
        result.solved = score > 0
        result.solved_at = now if score > 0 else None
        result.graded_by = user
        result.graded_at = now
        result.trainer_comment = comment.strip()
        result.feedback = ""  # the page says "graded by the trainer", in the reader's language
        result.save()
    return result
