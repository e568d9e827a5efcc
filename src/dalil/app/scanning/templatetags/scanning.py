"""``{% scan_panel %}``: the exhibit page's feature-scan section (scan button, live job
status, the latest runs), without the cases app having to know about this one."""

from __future__ import annotations

from typing import Any

from django import template

from dalil.app.jobs.models import Job
from dalil.app.scanning import services
from dalil.app.scanning.models import ScanRun

register = template.Library()


@register.inclusion_tag("scanning/_exhibit_panel.html", takes_context=True)
def scan_panel(context: template.Context, case: Any, exhibit: Any,
               can_edit: bool) -> dict[str, Any]:
    return {
        "case": case, "exhibit": exhibit, "can_edit": can_edit,
        "csrf_token": context.get("csrf_token"),
        "jobs": Job.objects.filter(kind=services.JOB_KIND,
                                   params__exhibit_id=exhibit.pk)[:1],
        "runs": ScanRun.objects.filter(exhibit=exhibit)[:3],
        "resumable": services.resumable_run(exhibit),
        "has_bytes": exhibit.files.exists(),
    }
