"""Starting, running, reporting and cancelling jobs.

A job's work is a plain function registered under a kind. It receives a ``JobContext`` to
report progress and to learn that the user cancelled. The django-tasks database backend runs
it in `dalil worker`; the job row is what the page polls.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from dalil.app.jobs.models import Job


class JobCancelled(Exception):
    pass


class JobContext:
    """Given to a job's function: progress reports (throttled) and the cancel flag."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._last_write = 0.0

    def progress(self, done: int, total: int | None = None, message: str | None = None,
                 *, stop_if_cancelled: bool = True) -> None:
        """Record progress (at most twice a second); raise JobCancelled if the user asked.

        Work that must stop at a safe point of its own (an acquisition writes a checkpoint)
        passes ``stop_if_cancelled=False`` and polls :meth:`cancelled` itself.
        """
        now = time.monotonic()
        if now - self._last_write < 0.5 and (total is None or done < total):
            return
        self._last_write = now
        fields: dict[str, Any] = {"done": done}
        if total is not None:
            fields["total"] = total
        if message is not None:
            fields["message"] = message[:500]
        Job.objects.filter(pk=self.job.pk).update(**fields)
        if stop_if_cancelled and self.cancelled():
            raise JobCancelled()

    def cancelled(self) -> bool:
        return Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists()


JobFunction = Callable[[JobContext, dict[str, Any]], dict[str, Any]]
REGISTRY: dict[str, JobFunction] = {}


def job_kind(name: str) -> Callable[[JobFunction], JobFunction]:
    def register(function: JobFunction) -> JobFunction:
        REGISTRY[name] = function
        return function
    return register


def start(kind: str, params: dict[str, Any], *, user: Any = None, case: Any = None) -> Job:
    """Create the job row and enqueue it for `dalil worker` once the transaction commits."""
    if kind not in REGISTRY:
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job.objects.create(kind=kind, params=params, created_by=user, case=case)
    from dalil.app.jobs.tasks import run_job  # the task module imports this one

    transaction.on_commit(lambda: run_job.enqueue(job.pk))
    return job


def mark_interrupted() -> int:
    """Jobs left 'running' by a worker that died are failed, saying how to resume them."""
    return Job.objects.filter(status=Job.Status.RUNNING).update(
        status=Job.Status.FAILED, finished_at=timezone.now(),
        message="interrupted: the worker stopped; start the job again to resume it",
        error="the worker stopped while this job was running",
    )


def run(job_id: int) -> None:
    """Run a job to its end, recording success, failure or cancellation on its row."""
    job = Job.objects.get(pk=job_id)
    if job.finished:
        return
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING, started_at=timezone.now())
    context = JobContext(job)
    try:
        if context.cancelled():
            raise JobCancelled()
        result = REGISTRY[job.kind](context, job.params)
    except JobCancelled:
        Job.objects.filter(pk=job.pk).update(status=Job.Status.CANCELLED,
                                             finished_at=timezone.now(),
                                             message="cancelled by the user")
    except Exception as exc:
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED, finished_at=timezone.now(), error=str(exc)[:2000],
            message=f"failed: {exc}"[:500], result={"traceback": traceback.format_exc()[-4000:]},
        )
    else:
        Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, result=result,
                                             finished_at=timezone.now(), message="done")


def cancel(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now(), message="cancelled by the user")
