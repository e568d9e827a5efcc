"""Running verification from the case page: a job whose status the page polls."""

from __future__ import annotations

import pytest

from dalil.app.cases.models import Case
from dalil.app.jobs.models import Job

pytestmark = pytest.mark.django_db


def _verify(client, case, django_capture_on_commit_callbacks, **headers):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/cases/{case.pk}/verify/", **headers)
    return response


def test_htmx_verification_returns_a_polling_status_that_ends_intact(
        as_examiner, case, django_capture_on_commit_callbacks):
    response = _verify(as_examiner, case, django_capture_on_commit_callbacks,
                       HTTP_HX_REQUEST="true")
    html = response.content.decode()
    job = Job.objects.get(case=case, kind="verify_case")
    assert response.status_code == 200
    assert f'id="job-{job.pk}"' in html
    assert f'hx-get="/jobs/{job.pk}/"' in html  # polls while queued
    status = as_examiner.get(f"/jobs/{job.pk}/").content.decode()
    assert 'data-status="succeeded"' in status
    assert "intact" in status
    assert "hx-get" not in status  # stops polling once finished
    assert case.custody.filter(action="verified").exists()


def test_without_htmx_it_redirects_to_the_case(as_examiner, case,
                                                django_capture_on_commit_callbacks):
    response = _verify(as_examiner, case, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.pk}/#jobs"
    html = as_examiner.get(f"/cases/{case.pk}/").content.decode()
    assert 'data-kind="verify_case"' in html


@pytest.mark.parametrize("client_fixture", ["as_prosecutor", "as_coordinator"])
def test_readers_may_verify(request, client_fixture, case, django_capture_on_commit_callbacks):
    client = request.getfixturevalue(client_fixture)
    response = _verify(client, case, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert Job.objects.get(case=case).status == "succeeded"


def test_a_changed_blob_is_reported(as_examiner, case, django_capture_on_commit_callbacks,
                                    dalil_home):
    from dalil.app.cases import services

    blob = services.blob_store().path_for(case.exhibits.get(number="E1").files.get().sha256)
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    _verify(as_examiner, case, django_capture_on_commit_callbacks)
    job = Job.objects.get(case=case)
    assert "NOT intact" in job.result["summary"]


def test_verify_is_post_only_and_needs_a_visible_case(as_examiner, foreign_case):
    assert as_examiner.get(f"/cases/{foreign_case.pk}/verify/").status_code == 405
    assert as_examiner.post(f"/cases/{foreign_case.pk}/verify/").status_code == 404
    assert not Case.objects.get(pk=foreign_case.pk).jobs.exists()
