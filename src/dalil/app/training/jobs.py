"""The background job that generates trainees' variants of an assigned lab."""

from __future__ import annotations

from typing import Any

from dalil.app.jobs.services import JobContext, job_kind
from dalil.app.training.models import Variant

# Every process registers the job kinds when Django starts (see apps.py): the generators
# are imported by the job when it runs, not by every `dalil` command (a tenth of a
# second). services.GENERATE_JOB is this name.
GENERATE_JOB = "generate_variants"


@job_kind(GENERATE_JOB)
def generate_variants_job(context: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Generate each listed variant still pending; fail, naming each failure, if any did.

    The job's result holds counts only: never an answer, since a job row is not the place
    for a key.
    """
    from dalil.app.training import services

    variants = list(Variant.objects.filter(pk__in=params.get("variant_ids", []),
                                           status=Variant.Status.PENDING)
                    .select_related("assignment", "trainee").order_by("pk"))
    failures: list[str] = []
    ready = 0
    for done, variant in enumerate(variants):
        context.progress(done, len(variants), f"generating {variant.assignment.template} "
                                              f"for {variant.trainee.username}")
        if services.generate_variant(variant):
            ready += 1
        else:
            variant.refresh_from_db(fields=["error"])
            failures.append(f"{variant.trainee.username}: {variant.error}")
    context.progress(len(variants), len(variants), "done")
    if failures:
        raise services.TrainingError(f"{len(failures)} of {len(variants)} variants failed: "
                                     + "; ".join(failures))
    return {"ready": ready, "failed": 0,
            "summary": f"{ready} variant(s) ready"}
