"""Starting an acquisition from the exhibit page: a background job that makes exhibit E1.1."""

from __future__ import annotations

import hashlib
import random

import pytest

from dalil.app.jobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(dalil_home):
    incoming = dalil_home / "incoming"
    incoming.mkdir()
    path = incoming / "stick.dd"
    path.write_bytes(random.Random(11).randbytes(1024 * 1024 + 512))
    return path


@pytest.fixture
def url(case):
    return f"/cases/{case.pk}/exhibits/{case.exhibits.get(number='E1').pk}/acquire/"


def test_an_examiner_images_a_source_into_a_derived_exhibit(as_examiner, case, url, source,
                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_examiner.post(url, {"source": str(source), "format": "raw",
                                          "segment_mib": 2048,
                                          "algorithms": ["md5", "sha256"]})
    assert response.status_code == 302
    job = Job.objects.get(kind="acquire_exhibit", case=case)
    assert job.status == Job.Status.SUCCEEDED, job.error  # immediate backend in tests
    image = case.exhibits.get(number="E1.1")
    assert image.files.get().sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    page = as_examiner.get(response["Location"]).content.decode()
    assert "E1.1" in page and "verified" in page


def test_a_source_outside_incoming_is_refused_with_a_message(as_examiner, case, url, tmp_path):
    outside = tmp_path / "passwd"
    outside.write_text("root:x:0:0")
    response = as_examiner.post(url, {"source": str(outside), "format": "raw",
                                      "segment_mib": 2048, "algorithms": ["sha256"]})
    assert response.status_code == 400
    assert "Only block devices and files in DALIL_HOME/incoming" in response.content.decode()
    assert not Job.objects.exists()


def test_a_missing_source_is_named(as_examiner, case, url):
    response = as_examiner.post(url, {"source": "/dev/nonexistent-disk", "format": "raw",
                                      "segment_mib": 2048, "algorithms": ["sha256"]})
    assert response.status_code == 400
    assert "/dev/nonexistent-disk does not exist on the server" in response.content.decode()


def test_readers_cannot_start_an_acquisition(as_prosecutor, case, url, source):
    response = as_prosecutor.post(url, {"source": str(source), "format": "raw",
                                        "segment_mib": 2048, "algorithms": ["sha256"]})
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_an_exhibit_held_in_the_store_is_imaged_as_its_device(
        as_examiner, case, url, django_capture_on_commit_callbacks):
    # A training lab's USB stick arrives as a stored exhibit: the trainee images it.
    exhibit = case.exhibits.get(number="E1")
    stored = exhibit.files.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_examiner.post(url, {"from_store": "on", "format": "raw",
                                          "segment_mib": 2048,
                                          "algorithms": ["md5", "sha256"]})
    assert response.status_code == 302
    job = Job.objects.get(kind="acquire_exhibit", case=case)
    assert job.status == Job.Status.SUCCEEDED, job.error
    image = case.exhibits.get(number="E1.1")
    assert image.parent == exhibit
    assert image.files.get().sha256 == stored.sha256  # a verified bit-for-bit copy
    actions = list(case.custody.values_list("action", flat=True))
    assert "acquired" in actions


def test_neither_source_nor_store_is_refused(as_examiner, case, url):
    response = as_examiner.post(url, {"format": "raw", "segment_mib": 2048,
                                      "algorithms": ["sha256"]})
    assert response.status_code == 400
    assert "Give a source, or image the stored bytes." in response.content.decode()
    assert not Job.objects.exists()
