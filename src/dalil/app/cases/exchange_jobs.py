"""Background jobs that write exchange files: sealed bundles and court reports.

Both can take long (a bundle copies every exhibit byte; a report re-hashes them), so the web
starts them as jobs. The files go under ``DALIL_HOME/exports/``; the result names the file
for the download view.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.conf import settings

from dalil.app.cases import exports, reports
from dalil.app.cases.models import Case
from dalil.app.jobs.services import JobContext, job_kind
from dalil.engine.evidence.bundle_safety import safe_component


def exports_dir() -> Path:
    path = Path(settings.DALIL_HOME) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _output(case: Case, suffix: str) -> Path:
    """A fresh file name: case number (made safe) and UTC time, never overwriting."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return exports_dir() / f"{safe_component(case.number, 'case')}-{stamp}{suffix}"


@job_kind("build_bundle")
def build_bundle_job(context: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """params: case_id, actor, exhibits (list of numbers, empty for all)."""
    case = Case.objects.get(pk=params["case_id"])
    output = _output(case, ".dalil.zip")
    written = exports.build_bundle(
        case, output, actor=params["actor"], exhibits=params.get("exhibits") or None,
        progress=lambda done, total: context.progress(done, total, "copying exhibits"))
    return {"path": str(output), "filename": output.name,
            "manifest_sha256": written.manifest_sha256,
            "summary": f"bundle of {written.files} files ({written.size} bytes) written"}


@job_kind("build_report")
def build_report_job(context: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """params: case_id, lang (default en), format ("pdf" or "html", default pdf)."""
    case = Case.objects.get(pk=params["case_id"])
    kind = params.get("format", "pdf")
    if kind not in ("pdf", "html"):
        raise ValueError(f"a report is pdf or html, not {kind!r}")
    output = _output(case, f".{kind}")
    context.progress(0, None, "verifying the evidence and writing the report")
    result = reports.write_report(case, output, params.get("lang", "en"))
    state = "intact" if result.intact else "NOT intact"
    return {"path": str(output), "filename": output.name, "sha256": result.sha256,
            "summary": f"{kind.upper()} report written; evidence {state}"}
