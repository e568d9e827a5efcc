"""The ingest job kind: the examination of an exhibit's image, run by `dalil worker`."""

from __future__ import annotations

from typing import Any

from dalil.app.cases.models import Exhibit
from dalil.app.forensics import services
from dalil.app.jobs.models import Job
from dalil.app.jobs.services import JobContext, job_kind


@job_kind(services.JOB_KIND)
def ingest_exhibit_job(context: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Walk, hash and type every file of the exhibit's image; a second run resumes."""
    exhibit = Exhibit.objects.select_related("case").get(pk=params["exhibit_id"])
    job = Job.objects.filter(pk=context.job.pk).first()
    run = services.ingest_exhibit(exhibit, context, actor=params["actor"], job=job)
    return services.summary(run)
