"""Answer keys are never reachable by a trainee: every URL a trainee could try is refused.

A trainee sees only their own variant; the key URL, other trainees' variants, the
generation job, the progress table and the CSV export answer 403 or 404. A trainer who
runs the class sees the keys; a trainer of another class does not.
"""

from __future__ import annotations

import json

import pytest

from dalil.app.accounts.models import Role, User
from dalil.app.jobs.models import Job
from dalil.app.training import services as training
from dalil.app.training.models import Variant, VariantKey

pytestmark = pytest.mark.django_db


def _variants(lab, trainee, other_trainee) -> tuple[Variant, Variant]:
    return (Variant.objects.get(assignment=lab, trainee=trainee),
            Variant.objects.get(assignment=lab, trainee=other_trainee))


def _secrets(variant: Variant) -> list[str]:
    """Answers of the key that cannot appear on a page by chance (not single letters)."""
    key = VariantKey.objects.get(variant=variant).key
    found = []
    for task in key["tasks"]:
        answer = task["answer"]
        if isinstance(answer, str) and len(answer) > 3:
            found.append(answer)
    found.append(json.dumps(key["tasks"][0]["answer"]))  # the ordering, as JSON
    return found


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def test_the_trainee_cannot_fetch_any_key(as_trainee, lab, trainee, other_trainee):
    mine, theirs = _variants(lab, trainee, other_trainee)
    job = Job.objects.get(kind=training.GENERATE_JOB)
    refused = {
        f"/training/labs/{mine.pk}/key/": 403,
        f"/training/labs/{theirs.pk}/key/": 403,
        f"/training/labs/{theirs.pk}/": 404,
        f"/training/labs/{theirs.pk}/evidence/usb.img": 404,
        f"/training/labs/{theirs.pk}/evidence/scene.json": 404,
        f"/training/labs/{mine.pk}/evidence/answer-key.json": 404,
        f"/training/labs/{mine.pk}/evidence/../key/": 404,
        f"/training/assignments/{lab.pk}/progress/": 403,
        f"/training/assignments/{lab.pk}/progress.csv": 403,
        f"/training/classes/{lab.training_class_id}/": 403,
        f"/jobs/{job.pk}/": 404,
        f"/jobs/{job.pk}/download/": 404,
        "/admin/training/variant/": 302,  # to the admin login: a trainee is not staff
    }
    for url, status in refused.items():
        response = as_trainee.get(url)
        assert response.status_code == status, url
        body = _body(response).decode(errors="replace")
        for secret in _secrets(mine) + _secrets(theirs):
            assert secret not in body, (url, secret)
    # nor by POSTing to another trainee's tasks
    response = as_trainee.post(f"/training/labs/{theirs.pk}/tasks/usb-sha256/hint/")
    assert response.status_code == 404


def test_no_page_or_file_the_trainee_can_open_holds_their_answers(as_trainee, lab, trainee,
                                                                  other_trainee):
    mine, _theirs = _variants(lab, trainee, other_trainee)
    pages = ["/training/", "/training/labs/", f"/training/labs/{mine.pk}/"]
    pages += [f"/training/labs/{mine.pk}/evidence/{e['path']}" for e in mine.evidence
              if e["path"] != "usb.img"]
    secrets = [s for s in _secrets(mine)]
    # the USB image's digest is the answer to a task: the page must not print it
    assert any(e["sha256"] in secrets for e in mine.evidence)
    for url in pages:
        response = as_trainee.get(url, follow=True)
        assert response.status_code == 200, url
        body = _body(response).decode(errors="replace")
        for secret in secrets:
            assert secret not in body, (url, secret)


def test_the_generation_job_records_no_answer(lab, trainee, other_trainee):
    job = Job.objects.get(kind=training.GENERATE_JOB)
    text = json.dumps([job.params, job.result, job.message, job.error])
    for variant in _variants(lab, trainee, other_trainee):
        for secret in _secrets(variant):
            assert secret not in text


def test_the_classes_trainer_sees_the_key_and_the_expected_answers(
        as_trainer, lab, trainee, other_trainee):
    mine, _theirs = _variants(lab, trainee, other_trainee)
    response = as_trainer.get(f"/training/labs/{mine.pk}/key/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content) == VariantKey.objects.get(variant=mine).key
    preview = as_trainer.get(f"/training/labs/{mine.pk}/").content.decode()
    digest = next(t for t in json.loads(response.content)["tasks"]
                  if t["id"] == "usb-sha256")["answer"]
    assert "Expected answer" in preview and digest in preview
    # a trainer previews, but never answers in a trainee's name
    answer = as_trainer.post(f"/training/labs/{mine.pk}/tasks/usb-sha256/answer/",
                             {"answer": digest})
    assert answer.status_code == 403


def test_a_trainer_of_another_class_sees_no_key(client, academy, lab, trainee, other_trainee):
    stranger = User.objects.create_user("other-trainer", password="x" * 12,
                                        role=Role.TRAINER, institution=academy)
    mine, _theirs = _variants(lab, trainee, other_trainee)
    client.force_login(stranger)
    for url in (f"/training/labs/{mine.pk}/key/", f"/training/labs/{mine.pk}/",
                f"/training/assignments/{lab.pk}/progress.csv"):
        assert client.get(url).status_code == 404, url


def test_examiners_and_prosecutors_see_no_key(client, examiner, prosecutor, lab, trainee,
                                              other_trainee):
    mine, _theirs = _variants(lab, trainee, other_trainee)
    for user in (examiner, prosecutor):
        client.force_login(user)
        assert client.get(f"/training/labs/{mine.pk}/key/").status_code == 403
        assert client.get(f"/training/labs/{mine.pk}/").status_code == 404
