"""Examining an exhibit's image: the ingest job from the exhibit page, resume after an
interruption, bad images and damaged directories, custody, hash sets, permissions."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest
from forensics_disk import HOSTILE, add_image_exhibit, build_ext4

from dalil.app.cases import services as cases_services
from dalil.app.forensics import services
from dalil.app.forensics.models import FileRecord, IngestProblem, IngestRun
from dalil.app.jobs.models import Job
from dalil.app.jobs.services import JobCancelled
from dalil.engine.forensics.hashsets import HashEntry, HashSetStore

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(tmp_path):
    return build_ext4(tmp_path)


@pytest.fixture
def exhibit(case, image):
    return add_image_exhibit(case, image)


def _url(exhibit, what="ingest"):
    return f"/forensics/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/{what}/"


def test_an_examiner_examines_an_exhibit_from_its_page(as_examiner, exhibit,
                                                       django_capture_on_commit_callbacks):
    page = as_examiner.get(f"/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/").content.decode()
    assert "Examine (ingest)" in page and _url(exhibit) in page
    with django_capture_on_commit_callbacks(execute=True):
        response = as_examiner.post(_url(exhibit), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'data-kind="ingest_exhibit"' in response.content.decode()
    job = Job.objects.get(kind="ingest_exhibit")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["entries"] == FileRecord.objects.filter(exhibit=exhibit).count() > 5

    records = {r.path: r for r in FileRecord.objects.filter(exhibit=exhibit)}
    note = records["docs/note.txt"]
    assert note.md5 == hashlib.md5(b"meet at dawn\n").hexdigest()
    assert note.sha256 == hashlib.sha256(b"meet at dawn\n").hexdigest()
    assert note.parent == "docs/" and note.volume_index == 0 and note.fs_type == "ext4"
    secret = records["secret.txt"]
    assert secret.deleted and secret.sha256 == hashlib.sha256(
        b"the wallet seed is in the safe\n" * 100).hexdigest()
    assert records["docs"].type == "directory" and records["docs"].md5 is None
    assert records["docs/report.pdf"].file_type == "png"
    assert records["docs/report.pdf"].extension_mismatch
    assert not records["pictures/photo.jpg"].extension_mismatch
    assert records[HOSTILE].size > 0

    run = IngestRun.objects.get(exhibit=exhibit)
    assert run.status == "succeeded" and run.ended_at and run.tool_version
    entry = exhibit.custody.filter(action="examined").get()
    assert entry.details["tool"] == "dalil" and entry.details["ingest_run"] == run.pk
    assert entry.details["result"].startswith("completed")
    assert entry.details["image_sha256"]["before"] == entry.details["image_sha256"]["after"] \
        == exhibit.files.get().sha256
    assert "examiner" in entry.actor

    page = as_examiner.get(f"/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/").content.decode()
    assert "Browse files" in page and "entries stored" in page


class StopAfterFirstBatch(services.QuietContext):
    def __init__(self) -> None:
        self.asked = 0

    def cancelled(self) -> bool:
        self.asked += 1
        return self.asked >= 2


def test_an_interrupted_examination_resumes_where_it_stopped(case, tmp_path):
    image = build_ext4(tmp_path, extra_files=40)
    exhibit = add_image_exhibit(case, image)
    with pytest.raises(JobCancelled):
        services.ingest_exhibit(exhibit, StopAfterFirstBatch(), actor="examiner", batch_size=10)
    first = IngestRun.objects.get(exhibit=exhibit)
    assert first.status == "cancelled" and first.entries == 20
    assert FileRecord.objects.filter(exhibit=exhibit).count() == 20  # whole batches kept
    assert "run again to resume" in first.error
    cancelled = exhibit.custody.filter(action="examined").get()
    assert cancelled.details["result"].startswith("cancelled")

    second = services.ingest_exhibit(exhibit, actor="examiner", batch_size=10)
    assert second.status == "succeeded" and second.skipped == 20
    resumed = list(FileRecord.objects.filter(exhibit=exhibit).values_list("seq", "path", "md5"))
    assert [seq for seq, _, _ in resumed] == list(range(len(resumed)))  # no gap, no double

    # the same as one uninterrupted run over the same image
    clean = add_image_exhibit(case, image, number="E3")
    services.ingest_exhibit(clean, actor="examiner")
    assert resumed == list(FileRecord.objects.filter(exhibit=clean).values_list(
        "seq", "path", "md5"))
    assert len(resumed) > 40

    # a third run finds everything stored and walks nothing again
    third = services.ingest_exhibit(exhibit, actor="examiner")
    assert third.entries == 0 and third.skipped == len(resumed)
    assert exhibit.custody.filter(action="examined").count() == 3


def test_a_run_left_running_by_a_dead_worker_is_marked_interrupted(exhibit):
    from django.utils import timezone

    stale = IngestRun.objects.create(exhibit=exhibit, actor="x", tool_version="0",
                                     started_at=timezone.now())
    services.ingest_exhibit(exhibit, actor="examiner")
    stale.refresh_from_db()
    assert stale.status == "interrupted"


def test_a_corrupt_image_fails_clearly_and_loses_nothing(case, exhibit, image, tmp_path,
                                                         as_examiner,
                                                         django_capture_on_commit_callbacks):
    services.ingest_exhibit(exhibit, actor="examiner")
    stored = FileRecord.objects.filter(exhibit=exhibit).count()
    cut = tmp_path / "cut.img"
    cut.write_bytes(image.read_bytes()[:1024])  # no superblock
    bad = add_image_exhibit(case, cut, number="E9")
    with django_capture_on_commit_callbacks(execute=True):
        as_examiner.post(_url(bad))
    job = Job.objects.get(kind="ingest_exhibit", params__exhibit="E9")
    assert job.status == Job.Status.FAILED
    assert "KZ-2026-007/E9" in job.error and "offset 0" in job.error
    assert "no readable file system" in job.error
    assert "ingest-" not in job.error  # names the exhibit, not a temporary path
    run = IngestRun.objects.get(exhibit=bad)
    assert run.status == "failed" and run.error == job.error
    problem = IngestProblem.objects.get(exhibit=bad)
    assert problem.kind == "volume"
    assert problem.message.count("KZ-2026-007/E9") == 1  # named once, not "exhibit X: exhibit X"
    assert bad.custody.filter(action="examined").get().details["result"].startswith("failed")
    assert FileRecord.objects.filter(exhibit=exhibit).count() == stored
    page = as_examiner.get(f"/cases/{case.pk}/exhibits/{bad.pk}/").content.decode()
    assert "no readable file system" in page


def _tamper(path, offset=-1):
    """Change one byte of a stored (read-only, write-once) blob, as an attacker would."""
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.seek(offset, os.SEEK_END if offset < 0 else os.SEEK_SET)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))


def _assert_nothing_kept(exhibit, reason):
    run = IngestRun.objects.get(exhibit=exhibit)
    assert run.status == "failed" and reason in run.error
    assert "nothing of this run kept" in run.error
    assert run.entries == run.files_hashed == 0 and run.completed_volumes == []
    assert not FileRecord.objects.filter(exhibit=exhibit).exists()
    assert not IngestProblem.objects.filter(exhibit=exhibit).exists()
    entry = exhibit.custody.filter(action="examined").get()
    assert entry.details["result"].startswith("failed") and reason in entry.details["result"]
    return run, entry


def test_an_image_that_no_longer_matches_its_hash_is_not_examined(exhibit):
    # The before hash runs alongside the walk: the batches stored meanwhile are deleted.
    stored = exhibit.files.get()
    _tamper(cases_services.blob_store().path_for(stored.sha256))
    with pytest.raises(services.IngestError, match="no longer matches its recorded SHA-256"):
        services.ingest_exhibit(exhibit, actor="examiner", batch_size=3)
    _, entry = _assert_nothing_kept(exhibit, "no longer matches its recorded SHA-256")
    assert entry.details["image_sha256"]["before"] not in (None, stored.sha256)
    assert entry.details["image_sha256"]["after"] is None


class TamperDuringWalk(services.QuietContext):
    def __init__(self, path) -> None:
        self.path = path

    def cancelled(self) -> bool:
        if self.path is not None:
            _tamper(self.path, 4096)
            self.path = None
        return False


def test_an_image_changed_during_the_examination_keeps_nothing(exhibit):
    path = cases_services.blob_store().path_for(exhibit.files.get().sha256)
    with pytest.raises(services.IngestError):
        services.ingest_exhibit(exhibit, TamperDuringWalk(path), actor="examiner",
                                batch_size=3)
    # Changed before or after the background hash read that byte: either way, nothing kept.
    run = IngestRun.objects.get(exhibit=exhibit)
    reason = ("changed during the examination" if "changed during" in run.error
              else "no longer matches")
    _assert_nothing_kept(exhibit, reason)


def test_the_after_check_hashes_again_only_an_image_whose_file_changed(exhibit):
    run = services.ingest_exhibit(exhibit, actor="examiner")
    entry = exhibit.custody.filter(action="examined", details__ingest_run=run.pk).get()
    assert entry.details["image_sha256_after"].startswith("file identity")
    assert entry.details["image_sha256"]["after"] == exhibit.files.get().sha256

    # Its file touched while the run goes on (same bytes): hashed again, still the same.
    path = cases_services.blob_store().path_for(exhibit.files.get().sha256)
    run = services.ingest_exhibit(exhibit, TouchWhileWalking(path), actor="examiner")
    assert run.status == "succeeded" and run.skipped > 5
    entry = exhibit.custody.filter(action="examined", details__ingest_run=run.pk).get()
    assert entry.details["image_sha256_after"] == "hashed again"
    assert entry.details["image_sha256"]["after"] == exhibit.files.get().sha256


class TouchWhileWalking(services.QuietContext):
    def __init__(self, path) -> None:
        self.path = path

    def progress(self, done, total=None, message=None, *, stop_if_cancelled=True) -> None:
        if self.path is not None and message == "walking the file systems":
            os.utime(self.path)
            self.path = None


def test_a_damaged_directory_is_recorded_and_the_walk_goes_on(case, image):
    subprocess.run(["debugfs", "-w", "-R", "sif docs block[0] 0x12345678", str(image)],
                   check=True, capture_output=True)
    exhibit = add_image_exhibit(case, image)
    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.status == "succeeded" and run.errors == 1
    problem = IngestProblem.objects.get(exhibit=exhibit)
    assert problem.kind == "directory" and problem.path == "docs"
    assert "KZ-2026-007/E2" in problem.message
    paths = set(FileRecord.objects.filter(exhibit=exhibit).values_list("path", flat=True))
    assert "pictures/photo.jpg" in paths and "secret.txt" in paths  # after the damage
    assert "docs/note.txt" not in paths


def test_known_bad_files_are_flagged_from_the_hash_sets(exhibit, image, dalil_home):
    photo = next(p for p in (image.parent / "tree" / "pictures").iterdir() if p.suffix == ".jpg")
    with HashSetStore(dalil_home / "hashsets") as store:
        store.add("seized-csam-test", "bad",
                  [HashEntry(hashlib.md5(photo.read_bytes()).hexdigest(), "md5")],
                  kind="list", source="test")
    run = services.ingest_exhibit(exhibit, actor="examiner")
    assert run.known_bad == 1
    flagged = FileRecord.objects.get(exhibit=exhibit, verdict="known-bad")
    assert flagged.path == "pictures/photo.jpg" and flagged.hash_sets == ["seized-csam-test"]


def test_readers_and_outsiders_cannot_start_an_examination(client, prosecutor, outsider,
                                                           exhibit):
    client.force_login(prosecutor)
    assert client.post(_url(exhibit)).status_code == 403
    client.force_login(outsider)
    assert client.post(_url(exhibit)).status_code == 404
    assert not Job.objects.exists() and not IngestRun.objects.exists()


def test_an_exhibit_without_an_image_has_nothing_to_examine(as_examiner, case):
    bare = case.exhibits.create(number="E5", description="phone, not imaged")
    page = as_examiner.get(f"/cases/{case.pk}/exhibits/{bare.pk}/").content.decode()
    assert "Examine (ingest)" not in page and "nothing to examine" in page
    assert as_examiner.post(_url(bare)).status_code == 302
    assert not Job.objects.exists()


def test_sha1_can_be_left_out_of_an_examination(exhibit, settings):
    settings.DALIL_INGEST_SHA1 = False
    run = services.ingest_exhibit(exhibit, actor="examiner")
    note = FileRecord.objects.get(exhibit=exhibit, path="docs/note.txt")
    assert note.sha1 is None and note.md5 == hashlib.md5(b"meet at dawn\n").hexdigest()
    assert note.sha256 == hashlib.sha256(b"meet at dawn\n").hexdigest()
    assert run.files_hashed > 3
    what = exhibit.custody.filter(action="examined").get().details["what"]
    assert "MD5 and SHA-256" in what and "SHA-1" not in what
