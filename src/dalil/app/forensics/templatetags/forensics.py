"""``{% examination_panel %}``: the exhibit page's examination section (ingest button, live
job status, what is stored), without the cases app having to know about this one."""

from __future__ import annotations

from typing import Any

from django import template

from dalil.app.forensics import services
from dalil.app.forensics.models import IngestRun
from dalil.app.jobs.models import Job

register = template.Library()


@register.inclusion_tag("forensics/_exhibit_panel.html", takes_context=True)
def examination_panel(context: template.Context, case: Any, exhibit: Any,
                      can_edit: bool) -> dict[str, Any]:
    return {
        "case": case, "exhibit": exhibit, "can_edit": can_edit,
        "csrf_token": context.get("csrf_token"),
        "jobs": Job.objects.filter(kind=services.JOB_KIND,
                                   params__exhibit_id=exhibit.pk)[:1],
        "runs": IngestRun.objects.filter(exhibit=exhibit)[:3],
        "stats": services.latest_record_stats(exhibit),
        "has_image": exhibit.files.exists(),
    }
