"""What a trainer reads off a class: per-task difficulty and pre/post-test knowledge gain.

Read-only: these functions query the training rows and return plain data for the class
page (and the CLI). They never read an answer key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any

from dalil.app.accounts.models import User
from dalil.app.training.models import LabAssignment, TaskResult, TrainingClass, Variant

TEST_ID = re.compile(r"course(?P<course>\d+)-(?P<when>pre|post)test")


# --- per-task difficulty -----------------------------------------------------------------


@dataclass
class TaskStatistics:
    task: str
    points: float
    trainees: int  # trainees with a ready variant
    attempted: int
    solved: int
    mean_attempts: float | None  # over the trainees who answered
    hinted: int  # trainees who opened at least one hint
    mean_hints: float | None  # hints per trainee, over all trainees
    mean_time_to_solve: timedelta | None  # from opening the lab to solving, over solvers
    awaiting: int  # free-text answers still to grade

    @property
    def solved_share(self) -> float | None:
        return self.solved / self.trainees if self.trainees else None

    @property
    def hint_share(self) -> float | None:
        return self.hinted / self.trainees if self.trainees else None


def _started(variant: Variant, results: list[TaskResult]) -> datetime | None:
    """When the trainee began: first opened the lab, else their first answer."""
    if variant.started_at is not None:
        return variant.started_at
    firsts = [r.first_attempt_at for r in results if r.first_attempt_at]
    return min(firsts, default=None)


def task_statistics(assignment: LabAssignment) -> list[TaskStatistics]:
    """Per task of a lab: share solved, mean attempts, hint use, mean time to solve.

    Counts are over the trainees whose variant is ready; time to solve runs from when the
    trainee first opened the lab to when the task was solved (a free-text task: graded).
    """
    variants = list(assignment.variants.filter(status=Variant.Status.READY)
                    .prefetch_related("results"))
    columns: list[dict[str, Any]] = next((v.tasks for v in variants if v.tasks), [])
    stats = []
    for column in columns:
        task_id = column["id"]
        results: list[TaskResult] = []
        durations: list[float] = []
        for variant in variants:
            mine = list(variant.results.all())
            result = next((r for r in mine if r.task_id == task_id), None)
            if result is None:
                continue
            results.append(result)
            start = _started(variant, mine)
            if result.solved and result.solved_at and start and result.solved_at >= start:
                durations.append((result.solved_at - start).total_seconds())
        answered = [r for r in results if r.attempts]
        stats.append(TaskStatistics(
            task=task_id, points=float(column["points"]), trainees=len(variants),
            attempted=len(answered), solved=sum(1 for r in results if r.solved),
            mean_attempts=fmean(r.attempts for r in answered) if answered else None,
            hinted=sum(1 for r in results if r.hints_used),
            mean_hints=(sum(r.hints_used for r in results) / len(variants)
                        if variants else None),
            mean_time_to_solve=(timedelta(seconds=round(fmean(durations)))
                                if durations else None),
            awaiting=sum(1 for r in results if r.needs_trainer)))
    return stats


# --- knowledge gain ----------------------------------------------------------------------


def _percent(variant: Variant | None) -> float | None:
    """A quiz's score in percent, or None when the trainee has not answered it."""
    if variant is None or not variant.ready:
        return None
    results = list(variant.results.all())
    if not any(r.attempts for r in results):
        return None
    maximum = sum(float(t["points"]) for t in variant.tasks)
    if maximum <= 0:
        return None
    return 100.0 * sum(r.score for r in results) / maximum


def normalised_gain(pre: float | None, post: float | None) -> float | None:
    """Hake's normalised gain (post - pre) / (100 - pre); undefined at a perfect pre-test."""
    if pre is None or post is None or pre >= 100:
        return None
    return (post - pre) / (100.0 - pre)


@dataclass
class GainRow:
    trainee: User
    pre: float | None
    post: float | None

    @property
    def gain(self) -> float | None:
        return None if self.pre is None or self.post is None else self.post - self.pre

    @property
    def normalised(self) -> float | None:
        return normalised_gain(self.pre, self.post)


@dataclass
class KnowledgeGain:
    course: int
    pretest: LabAssignment
    posttest: LabAssignment
    rows: list[GainRow] = field(default_factory=list)

    def _mean(self, values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return fmean(present) if present else None

    @property
    def paired(self) -> list[GainRow]:
        """Trainees who took both tests: the class means are over these."""
        return [r for r in self.rows if r.pre is not None and r.post is not None]

    @property
    def mean_pre(self) -> float | None:
        return self._mean([r.pre for r in self.paired])

    @property
    def mean_post(self) -> float | None:
        return self._mean([r.post for r in self.paired])

    @property
    def mean_gain(self) -> float | None:
        return self._mean([r.gain for r in self.paired])

    @property
    def class_normalised_gain(self) -> float | None:
        """Hake's class gain: from the class's mean pre and post scores."""
        return normalised_gain(self.mean_pre, self.mean_post)

    @property
    def mean_normalised_gain(self) -> float | None:
        """The mean of the trainees' own normalised gains (where defined)."""
        return self._mean([r.normalised for r in self.paired])


def knowledge_gain(training_class: TrainingClass) -> list[KnowledgeGain]:
    """For each course whose pre-test and post-test are both assigned to the class."""
    tests: dict[int, dict[str, LabAssignment]] = {}
    for assignment in training_class.assignments.all():
        match = TEST_ID.fullmatch(assignment.template)
        if match:
            tests.setdefault(int(match["course"]), {})[match["when"]] = assignment
    gains = []
    enrolments = list(training_class.enrolments.select_related("trainee"))
    for course in sorted(tests):
        pair = tests[course]
        if "pre" not in pair or "post" not in pair:
            continue
        by_trainee: dict[str, dict[int, Variant]] = {}
        for when in ("pre", "post"):
            by_trainee[when] = {v.trainee_id: v for v in
                                pair[when].variants.prefetch_related("results")}
        gain = KnowledgeGain(course, pair["pre"], pair["post"])
        for enrolment in enrolments:
            gain.rows.append(GainRow(
                enrolment.trainee,
                _percent(by_trainee["pre"].get(enrolment.trainee_id)),
                _percent(by_trainee["post"].get(enrolment.trainee_id))))
        gains.append(gain)
    return gains
