"""A trainee's variant comes with their own training case: the evidence opened in Dalil's tools.

Generation creates the case (kind training) with the variant's evidence files as exhibits;
the trainee opens it from the lab page and examines the image; nobody else (another
trainee, a trainee or trainer of another class) can reach it, and neither the case, its
CASE/UCO export nor its bundle holds anything of the answer key.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from dalil.app.accounts.models import Role, User
from dalil.app.cases.models import Case
from dalil.app.jobs.models import Job
from dalil.app.training import services as training
from dalil.app.training.models import Variant, VariantKey

pytestmark = pytest.mark.django_db


def make_user(username: str, role: str, institution) -> User:
    return User.objects.create_user(username=username, password="x", role=role,
                                    institution=institution)


def _variant(lab, trainee) -> Variant:
    return Variant.objects.get(assignment=lab, trainee=trainee)


def _secrets(variant: Variant) -> list[str]:
    """Strings only the answer key holds: seal numbers of the model record, times, seed."""
    key = VariantKey.objects.get(variant=variant).key
    tasks = {t["id"]: t for t in key["tasks"]}
    record = tasks["scene-record"]["answer"]
    found = [e["seal_number"] for e in record["exhibits"]]
    found.append(tasks["laptop-seized-time"]["answer"])
    found.append(json.dumps(tasks["volatility-order"]["answer"]))
    found.append("answer-key")
    return found


def test_generation_creates_the_trainee_s_training_case_with_the_evidence(lab, trainee,
                                                                        trainer):
    variant = _variant(lab, trainee)
    case = variant.case
    assert case is not None and case.kind == Case.Kind.TRAINING
    assert case.number == f"TR-{lab.training_class_id}-{trainee.username}-{lab.pk}"
    assert case.institution_id is None and case.created_by == trainee
    assert list(case.shared_with.all()) == [trainer]
    exhibits = {e.number: e for e in case.exhibits.all()}
    assert variant.case_exhibits == {"usb.img": "L1", "scene.json": "L2"}
    by_path = {e["path"]: e for e in variant.evidence}
    for path, number in variant.case_exhibits.items():
        file = exhibits[number].files.get()
        assert file.name == path and file.sha256 == by_path[path]["sha256"] and file.in_store
        assert file.md5 and file.sha1
    assert exhibits["L1"].type == "image" and exhibits["L2"].type == "document"
    assert not any(f.name.startswith("briefing.") for e in exhibits.values()
                   for f in e.files.all())
    imported = case.custody.filter(action="imported")
    assert imported.count() == 2
    assert all("first-responder-scene" in e.details["source"] for e in imported)
    # each trainee has their own case
    assert Case.objects.filter(kind=Case.Kind.TRAINING).count() == 2


def test_a_failed_case_creation_leaves_no_half_made_variant(monkeypatch, trainer,
                                                           training_class, trainee,
                                                           django_capture_on_commit_callbacks):
    def broken(*args, **kwargs):
        raise training.CaseError("exhibit L1: the store is read-only")

    monkeypatch.setattr(training, "add_exhibit_from_blobs", broken)
    with django_capture_on_commit_callbacks(execute=True):
        training.assign_lab(training_class, "first-responder-scene", user=trainer)
    variant = Variant.objects.get(trainee=trainee)
    assert variant.status == Variant.Status.FAILED and "read-only" in variant.error
    assert variant.case is None and not VariantKey.objects.filter(variant=variant).exists()
    assert not Case.objects.filter(kind=Case.Kind.TRAINING).exists()


def test_the_trainee_opens_the_evidence_in_dalil_and_examines_it(
        lab, trainee, as_trainee, django_capture_on_commit_callbacks):
    variant = _variant(lab, trainee)
    case = variant.case
    usb = case.exhibits.get(number="L1")
    page = as_trainee.get(f"/training/labs/{variant.pk}/").content.decode()
    assert "Open in Dalil" in page
    assert f"/cases/{case.pk}/exhibits/{usb.pk}/" in page
    assert f"/cases/{case.pk}/" in page
    exhibit_page = as_trainee.get(f"/cases/{case.pk}/exhibits/{usb.pk}/")
    assert exhibit_page.status_code == 200
    assert "Examine (ingest)" in exhibit_page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_trainee.post(f"/forensics/cases/{case.pk}/exhibits/{usb.pk}/ingest/",
                                   HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    job = Job.objects.get(kind="ingest_exhibit")
    assert job.status == Job.Status.SUCCEEDED, job.error
    browse = as_trainee.get(f"/forensics/cases/{case.pk}/exhibits/{usb.pk}/files/")
    assert browse.status_code == 200
    timeline = as_trainee.get(f"/forensics/cases/{case.pk}/exhibits/{usb.pk}/timeline/")
    assert timeline.status_code == 200
    assert usb.custody.filter(action="examined").exists()


def test_nobody_else_reaches_the_training_case(lab, trainee, other_trainee, trainer, client,
                                               academy):
    case = _variant(lab, trainee).case
    usb = case.exhibits.get(number="L1")
    urls = [f"/cases/{case.pk}/", f"/cases/{case.pk}/exhibits/{usb.pk}/",
            f"/cases/{case.pk}/case-uco/",
            f"/forensics/cases/{case.pk}/exhibits/{usb.pk}/files/",
            f"/forensics/cases/{case.pk}/exhibits/{usb.pk}/timeline/"]
    stranger_class_trainer = make_user("trainer2", Role.TRAINER, academy)
    stranger = make_user("dana", Role.TRAINEE, academy)
    other_class = training.create_class(stranger_class_trainer, name="Course 1, group 4")
    training.enrol(other_class, [stranger], user=stranger_class_trainer)
    for user in (other_trainee, stranger, stranger_class_trainer):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 404, (user.username, url)
        assert client.post(f"/forensics/cases/{case.pk}/exhibits/{usb.pk}/ingest/"
                           ).status_code == 404
        assert case.number not in client.get("/cases/").content.decode()
    for user in (trainee, trainer):
        client.force_login(user)
        assert client.get(urls[0]).status_code == 200
        assert client.get(urls[1]).status_code == 200


def test_the_answer_key_is_not_reachable_from_the_case_its_exports_or_bundle(
        lab, trainee, as_trainee, django_capture_on_commit_callbacks):
    variant = _variant(lab, trainee)
    case = variant.case
    secrets = _secrets(variant)
    pages = [as_trainee.get(f"/cases/{case.pk}/").content.decode(),
             as_trainee.get(f"/cases/{case.pk}/case-uco/").content.decode()]
    pages += [as_trainee.get(f"/cases/{case.pk}/exhibits/{e.pk}/").content.decode()
              for e in case.exhibits.all()]
    for text in pages:
        for secret in secrets:
            assert secret not in text
    assert str(variant.seed) not in pages[1]
    with django_capture_on_commit_callbacks(execute=True):
        as_trainee.post(f"/cases/{case.pk}/export/bundle/", HTTP_HX_REQUEST="true")
    job = Job.objects.get(kind="build_bundle", case=case)
    assert job.status == Job.Status.SUCCEEDED, job.error
    download = as_trainee.get(f"/jobs/{job.pk}/download/")
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = archive.namelist()
    assert not any("answer" in n or "key.json" in n for n in names), names
    for name in names:
        if name.endswith((".json", ".jsonld", ".txt", ".csv", ".html", ".md")):
            text = archive.read(name).decode("utf-8", "replace")
            for secret in secrets:
                assert secret not in text, (name, secret)
