"""Hand-made training rows for the web tests: an assignment and variants with a written key.

Generation is tested elsewhere; these helpers give tests exact, known tasks (a free-text
task with a rubric, quizzes with chosen points) without running the engine.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from django.utils import timezone

from dalil.app.training import services as training
from dalil.app.training.models import LabAssignment, TaskResult, Variant, VariantKey

_seeds = itertools.count(1000)


def assignment(training_class, template: str, *, kind: str = "lab",
               title: str | None = None) -> LabAssignment:
    return LabAssignment.objects.create(
        training_class=training_class, template=template, version=1, kind=kind,
        title={"en": title or template}, opens_at=timezone.now() - timezone.timedelta(hours=1))


def task(task_id: str, grader: str = "text", points: float = 1, answer: Any = "x",
         **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "grader": grader, "points": points,
            "question": {"en": f"Question {task_id}?"}, "answer": answer, "options": {},
            "hints": [], "max_attempts": None, "explanation": {}, "planted": "by hand",
            **extra}


def variant(lab: LabAssignment, trainee, tasks: list[dict[str, Any]], *,
            started_at: datetime | None = None) -> Variant:
    made = Variant.objects.create(
        assignment=lab, trainee=trainee, seed=next(_seeds), status=Variant.Status.READY,
        briefing={"en": "A briefing."}, evidence=[],
        tasks=[training._public_task(t) for t in tasks], generated_at=timezone.now(),
        started_at=started_at)
    VariantKey.objects.create(variant=made, key={"template": lab.template, "version": 1,
                                                 "seed": made.seed, "tasks": tasks})
    return made


def result(variant: Variant, task_id: str, *, score: float, solved: bool, attempts: int = 1,
           hints: int = 0, first: datetime | None = None,
           solved_at: datetime | None = None) -> TaskResult:
    points = float(variant.task(task_id)["points"])  # type: ignore[index]
    return TaskResult.objects.create(
        variant=variant, task_id=task_id, attempts=attempts, hints_used=hints, score=score,
        max_score=points, solved=solved, first_attempt_at=first or solved_at,
        last_attempt_at=solved_at or first, solved_at=solved_at if solved else None)
