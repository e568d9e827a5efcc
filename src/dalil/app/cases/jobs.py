"""Background job kinds for case work: verification and acquisition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from dalil.app.cases import services
from dalil.app.cases.models import Case, Exhibit
from dalil.app.jobs.services import JobCancelled, JobContext, job_kind
from dalil.engine.evidence import acquisition
from dalil.engine.evidence.acquisition_checkpoint import checkpoint_path
from dalil.engine.evidence.hashing import parse_algorithms


@job_kind("verify_case")
def verify_case_job(context: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    case = Case.objects.get(pk=params["case_id"])
    result = services.verify_case(
        case, params["actor"],
        progress=lambda done, total: context.progress(done, total, "re-hashing exhibits"),
    )
    summary = "intact" if result.intact else f"NOT intact: {result.first_failure()}"
    return {**result.to_dict(), "summary": summary}


def acquisition_out_dir(case: Case) -> Path:
    """Images acquired from the web go to DALIL_HOME/images/<case>/ (never beside a source)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in case.number)
    return Path(settings.DALIL_HOME) / "images" / safe


def allowed_source(path: Path) -> bool:
    """Web users may image block devices and files dropped into DALIL_HOME/incoming only.

    A browser must not be able to ask the server to image /etc/shadow; the CLI, run by the
    examiner on their own machine, has no such limit.
    """
    resolved = path.resolve()
    incoming = (Path(settings.DALIL_HOME) / "incoming").resolve()
    return resolved.is_block_device() or resolved.is_relative_to(incoming)


def stored_source(exhibit: Exhibit) -> Path:
    """The blob of an exhibit held as one stored file, to image as if it were the device.

    The path comes from the store, never from the browser; the blob is only read.
    """
    files = list(exhibit.files.filter(in_store=True))
    if len(files) != 1:
        raise services.CaseError(
            f"exhibit {exhibit.number} has {len(files)} stored files; only an exhibit held "
            f"as one stored file can be imaged from the store")
    return services.blob_store().path_for(files[0].sha256)


@job_kind("acquire_exhibit")
def acquire_exhibit_job(context: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Acquire a source into a derived exhibit; a cancelled run keeps its checkpoint."""
    case = Case.objects.get(pk=params["case_id"])
    source_exhibit = services.get_exhibit(case, params["exhibit"])
    if params.get("from_store"):
        source = stored_source(source_exhibit)
    else:
        source = Path(params["source"])
        if not allowed_source(source):
            raise services.CaseError(
                f"{source} is neither a block device nor in DALIL_HOME/incoming")
    out_dir = acquisition_out_dir(case)
    out_dir.mkdir(parents=True, exist_ok=True)
    basename = services.next_derived_number(source_exhibit)
    request = acquisition.AcquisitionRequest(
        source=source, out_dir=out_dir, basename=basename, format=params.get("format", "raw"),
        segment_size=int(params.get("segment_mib", 2048)) * 1024 * 1024,
        algorithms=parse_algorithms(params.get("algorithms", "md5,sha256")),
        resume=checkpoint_path(out_dir, basename).exists(),  # an interrupted run resumes
        metadata={"case_number": case.number, "evidence_number": basename,
                  "examiner": params["actor"]},
    )
    try:
        result = acquisition.acquire(
            request,
            progress=lambda done, total: context.progress(
                done, total, f"imaging {source.name} to {basename}", stop_if_cancelled=False),
            cancel=context.cancelled,
        )
    except acquisition.AcquisitionCancelled as exc:
        raise JobCancelled() from exc
    log = services.record_acquisition(case, source_exhibit, result.to_dict(), params["actor"],
                                      number=basename)
    state = "verified" if result.verified else "NOT verified"
    return {"exhibit": basename, "hashes": result.hashes, "errors": result.errors,
            "verified": result.verified, "log_sha256": log.document_sha256,
            "summary": f"{basename}: {result.size} bytes, {state}"}
