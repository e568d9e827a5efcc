"""Classes, labs, each trainee's generated variant, its hidden answer key, and attempts.

The answer key lives in its own table (``VariantKey``), read only by services and by views
that check for a trainer first; the trainee-facing parts of a variant (briefing, evidence
list, questions, hint costs) are copied onto ``Variant`` when it is generated.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

COURSES = [
    (1, _("Course 1: first responder")),
    (2, _("Course 2: investigator")),
    (3, _("Course 3: prosecutor")),
    (4, _("Course 4: open-source forensics")),
]


class TrainingClass(models.Model):
    """One delivery of a course: a trainer, a classroom, dates and enrolled trainees."""

    name = models.CharField(_("name"), max_length=200)
    course = models.PositiveSmallIntegerField(_("course"), choices=COURSES, default=1)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES,
                                default="en",
                                help_text=_("The language of the briefings and questions."))
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    classroom = models.CharField(_("classroom"), max_length=200, blank=True)
    trainer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                related_name="classes_taught", verbose_name=_("trainer"))
    trainees = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Enrolment",
                                      related_name="classes_attended", blank=True,
                                      verbose_name=_("trainees"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "-created_at"]
        verbose_name = _("class")
        verbose_name_plural = _("classes")

    def __str__(self) -> str:
        return self.name


class Enrolment(models.Model):
    training_class = models.ForeignKey(TrainingClass, on_delete=models.CASCADE,
                                       related_name="enrolments")
    trainee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="enrolments")
    enrolled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["trainee__last_name", "trainee__first_name", "trainee__username"]
        constraints = [models.UniqueConstraint(fields=["training_class", "trainee"],
                                               name="training_unique_enrolment")]


class LabAssignment(models.Model):
    """A scenario template (lab or quiz) given to a class, open between two times."""

    training_class = models.ForeignKey(TrainingClass, on_delete=models.CASCADE,
                                       related_name="assignments")
    template = models.CharField(_("template"), max_length=100)
    version = models.PositiveIntegerField(_("version"))
    kind = models.CharField(_("kind"), max_length=20, default="lab")
    title = models.JSONField(default=dict)  # {locale: text}, copied from the template
    opens_at = models.DateTimeField(_("opens at"), default=timezone.now)
    closes_at = models.DateTimeField(_("closes at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["opens_at", "pk"]

    def __str__(self) -> str:
        return f"{self.template} v{self.version}"

    def title_in(self, language: str) -> str:
        return str(self.title.get(language) or self.title.get("en") or self.template)

    @property
    def is_open(self) -> bool:
        now = timezone.now()
        return self.opens_at <= now and not self.is_closed

    @property
    def is_closed(self) -> bool:
        return self.closes_at is not None and timezone.now() >= self.closes_at


class Variant(models.Model):
    """One trainee's own case for an assignment: evidence bytes in the blob store."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Being generated")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Generation failed")

    assignment = models.ForeignKey(LabAssignment, on_delete=models.CASCADE,
                                   related_name="variants")
    trainee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="variants")
    seed = models.PositiveIntegerField()
    country = models.CharField(max_length=2, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="+")
    # Trainee-facing copies, written together with the key when generation succeeds:
    briefing = models.JSONField(default=dict)  # {locale: markdown}
    evidence = models.JSONField(default=list)  # [{path, size, sha256}] (blobs)
    tasks = models.JSONField(default=list)  # questions and hint costs, never answers
    generated_at = models.DateTimeField(null=True, blank=True)
    # The trainee's own training case holding the evidence as exhibits (never the key),
    # created with the variant; ``case_exhibits`` maps an evidence file to its exhibit.
    case = models.OneToOneField("cases.Case", on_delete=models.SET_NULL, null=True,
                                blank=True, related_name="training_variant")
    case_exhibits = models.JSONField(default=dict)  # {evidence path: exhibit number}
    # When the trainee first opened the lab: the start of "time to solve".
    started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["assignment", "trainee__username"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "trainee"],
                                    name="training_one_variant_per_trainee"),
            models.UniqueConstraint(fields=["assignment", "seed"],
                                    name="training_unique_seed"),
        ]

    def __str__(self) -> str:
        return f"{self.assignment} seed {self.seed} ({self.trainee})"

    @property
    def ready(self) -> bool:
        return self.status == self.Status.READY

    def task(self, task_id: str) -> dict[str, Any] | None:
        return next((t for t in self.tasks if t.get("id") == task_id), None)


class VariantKey(models.Model):
    """The trainer's copy of a variant's answer key. Never rendered for a trainee."""

    variant = models.OneToOneField(Variant, on_delete=models.CASCADE, related_name="key")
    key = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)


class TaskResult(models.Model):
    """Where a trainee stands on one task: attempts, hints, best score, solved or not."""

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="results")
    task_id = models.CharField(max_length=100)
    attempts = models.PositiveIntegerField(default=0)
    hints_used = models.PositiveIntegerField(default=0)
    score = models.FloatField(default=0)
    max_score = models.FloatField(default=0)
    solved = models.BooleanField(default=False)
    needs_trainer = models.BooleanField(default=False)
    feedback = models.TextField(blank=True)
    last_answer = models.JSONField(null=True, blank=True)
    # A free-text answer scored by a trainer against the rubric (``needs_trainer`` is then
    # False): who, when, and the comment the trainee sees beside the score.
    graded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                  null=True, blank=True, related_name="+")
    graded_at = models.DateTimeField(null=True, blank=True)
    trainer_comment = models.TextField(blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["variant", "task_id"]
        constraints = [models.UniqueConstraint(fields=["variant", "task_id"],
                                               name="training_one_result_per_task")]


class Attempt(models.Model):
    """One submitted answer and how the engine graded it (kept, never changed)."""

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="attempts")
    task_id = models.CharField(max_length=100)
    number = models.PositiveIntegerField()
    answer = models.JSONField(null=True)
    score = models.FloatField(default=0)
    correct = models.BooleanField(default=False)
    feedback = models.TextField(blank=True)
    hints_used = models.PositiveIntegerField(default=0)
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["variant", "task_id", "number"]


class HintUse(models.Model):
    """A hint a trainee opened; its cost is charged only if the task is then solved."""

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="hint_uses")
    task_id = models.CharField(max_length=100)
    index = models.PositiveIntegerField()
    cost = models.FloatField(default=0)
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["variant", "task_id", "index"]
        constraints = [models.UniqueConstraint(fields=["variant", "task_id", "index"],
                                               name="training_hint_once")]
