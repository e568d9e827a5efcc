"""Acquisition as a background job: progress on the job row, cancel keeps a checkpoint, resume."""

from __future__ import annotations

import hashlib
import random

import pytest

from dalil.app.cases import jobs as case_jobs
from dalil.app.cases import services
from dalil.app.jobs import services as job_services
from dalil.app.jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)
MIB = 1024 * 1024


@pytest.fixture
def setup(dalil_home):
    case = services.create_case(number="KZ-ACQ", title="USB stick", actor="examiner")
    services.add_exhibit(case, number="E1", actor="examiner", type="storage")
    incoming = dalil_home / "incoming"
    incoming.mkdir()
    source = incoming / "usb.dd"
    source.write_bytes(random.Random(3).randbytes(2 * MIB + 4096))
    return case, source


def _job(case, source):
    return Job.objects.create(kind="acquire_exhibit", case=case, params={
        "case_id": case.pk, "exhibit": "E1", "source": str(source), "actor": "examiner"})


def test_the_job_acquires_records_and_reports(setup):
    case, source = setup
    job = _job(case, source)
    job_services.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["verified"] is True
    assert job.result["hashes"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert job.done == job.total == source.stat().st_size
    assert case.exhibits.get(number="E1.1").parent.number == "E1"


def test_a_cancelled_job_keeps_its_checkpoint_and_the_next_run_resumes(setup, monkeypatch):
    case, source = setup
    job = _job(case, source)
    calls = []
    real = job_services.JobContext.cancelled

    def cancel_after_first_checkpoint(self):
        calls.append(1)
        return len(calls) > 3

    monkeypatch.setattr(job_services.JobContext, "cancelled", cancel_after_first_checkpoint)
    original = case_jobs.acquisition.AcquisitionRequest

    def small_steps(**kwargs):
        return original(**kwargs, checkpoint_interval=256 * 1024, chunk_size=256 * 1024)

    monkeypatch.setattr(case_jobs.acquisition, "AcquisitionRequest", small_steps)
    job_services.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert not case.exhibits.filter(number="E1.1").exists()
    assert case_jobs.checkpoint_path(case_jobs.acquisition_out_dir(case), "E1.1").exists()

    monkeypatch.setattr(job_services.JobContext, "cancelled", real)
    again = _job(case, source)
    job_services.run(again.pk)
    again.refresh_from_db()
    assert again.status == Job.Status.SUCCEEDED, again.error
    assert again.result["hashes"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert services.verify_case(case, "auditor", record=False).intact


def test_a_source_outside_the_incoming_folder_is_refused(setup, tmp_path):
    case, _ = setup
    secret = tmp_path / "secret.txt"
    secret.write_text("not evidence")
    job = _job(case, secret)
    job_services.run(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "neither a block device nor in DALIL_HOME/incoming" in job.error
    assert not case.exhibits.filter(number="E1.1").exists()


def test_a_job_left_running_by_a_dead_worker_is_marked_interrupted(setup):
    case, source = setup
    job = _job(case, source)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    assert job_services.mark_interrupted() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "start the job again to resume" in job.message
