"""The scan job kind: a feature scan of an exhibit's bytes, run by `dalil worker`."""

from __future__ import annotations

from typing import Any

from dalil.app.cases.models import Exhibit
from dalil.app.jobs.models import Job
from dalil.app.jobs.services import JobContext, job_kind

# Every process registers the job kinds when Django starts (see apps.py): the scanner's
# engine (hyperscan, numpy: a tenth of a second) is imported by the job when it runs, not
# by every `dalil` command. services.JOB_KIND is this name.
JOB_KIND = "scan_exhibit"


@job_kind(JOB_KIND)
def scan_exhibit_job(context: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Scan the exhibit for features; a cancelled scan resumes from its last page."""
    from dalil.app.scanning import services

    exhibit = Exhibit.objects.select_related("case").get(pk=params["exhibit_id"])
    job = Job.objects.filter(pk=context.job.pk).first()
    run = services.scan_exhibit(exhibit, context, actor=params["actor"], job=job,
                                options=params.get("options") or {})
    return services.summary(run)
