from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from dalil.app.cases.models import Case
from dalil.app.jobs import services
from dalil.app.jobs.models import Job


def _visible_job(request: HttpRequest, pk: int) -> Job:
    job = get_object_or_404(Job, pk=pk)
    if job.case_id and not Case.objects.visible_to(request.user).filter(pk=job.case_id).exists():
        raise Job.DoesNotExist  # treated as 404 below
    if not job.case_id and job.created_by_id != request.user.pk:
        raise Job.DoesNotExist
    return job


@login_required
def job_status(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        job = _visible_job(request, pk)
    except Job.DoesNotExist:
        return HttpResponse(status=404)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse(job.to_dict())
    return render(request, "jobs/_status.html", {"job": job})


@login_required
@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        job = _visible_job(request, pk)
    except Job.DoesNotExist:
        return HttpResponse(status=404)
    services.cancel(job)
    job.refresh_from_db()
    return render(request, "jobs/_status.html", {"job": job})


@login_required
def job_download(request: HttpRequest, pk: int) -> FileResponse:
    """The file a finished export job wrote (report, bundle), as an attachment.

    Only a file inside DALIL_HOME/exports is ever served: a job result naming any other path
    is refused, whatever put it there.
    """
    try:
        job = _visible_job(request, pk)
    except Job.DoesNotExist:
        raise Http404 from None
    result = job.result if isinstance(job.result, dict) else {}
    if job.status != Job.Status.SUCCEEDED or not result.get("path"):
        raise Http404(_("This job has no file to download."))
    exports = (Path(settings.DALIL_HOME) / "exports").resolve()
    path = Path(str(result["path"])).resolve()
    if not path.is_relative_to(exports):
        raise PermissionDenied(_("Refused: the job's file is outside the export folder."))
    if not path.is_file():
        raise Http404(_("The exported file is no longer there."))
    filename = Path(str(result.get("filename") or path.name)).name
    response = FileResponse(open(path, "rb"), as_attachment=True,  # noqa: SIM115
                            filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response
