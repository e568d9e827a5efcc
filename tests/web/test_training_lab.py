"""Assigning a lab, generating each trainee's variant, answering, hints, limits, progress."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io

import pytest
from django.utils import timezone

from dalil.app.cases.services import blob_store
from dalil.app.jobs.models import Job
from dalil.app.training import services as training
from dalil.app.training.models import Attempt, HintUse, TaskResult, Variant, VariantKey
from dalil.engine.training.generate import GenerationError

pytestmark = pytest.mark.django_db


def _variant(lab, trainee) -> Variant:
    return Variant.objects.get(assignment=lab, trainee=trainee)


def _key_task(variant: Variant, task_id: str) -> dict:
    return next(t for t in VariantKey.objects.get(variant=variant).key["tasks"]
                if t["id"] == task_id)


def _answer(client, variant, task_id, answer, **headers):
    return client.post(f"/training/labs/{variant.pk}/tasks/{task_id}/answer/",
                       {"answer": answer}, **headers)


def test_assigning_a_lab_generates_a_variant_per_trainee(
        as_trainer, training_class, trainee, other_trainee, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_trainer.post(f"/training/classes/{training_class.pk}/assign/",
                                   {"template": "first-responder-scene"})
    assert response.status_code == 302
    variants = list(Variant.objects.filter(assignment__training_class=training_class))
    assert {v.trainee for v in variants} == {trainee, other_trainee}
    assert all(v.status == Variant.Status.READY for v in variants)
    assert variants[0].seed != variants[1].seed
    # each trainee's case differs: other evidence, other answers
    keys = [VariantKey.objects.get(variant=v).key for v in variants]
    assert keys[0]["evidence"] != keys[1]["evidence"]
    assert keys[0]["tasks"][2]["answer"] != keys[1]["tasks"][2]["answer"]
    # evidence bytes are in the blob store under their SHA-256
    for item in variants[0].evidence:
        assert blob_store().rehash(item["sha256"]) == item["sha256"]
    # the trainee-facing copy holds questions, never answers or hint texts
    for task in variants[0].tasks:
        assert "answer" not in task and "options" not in task and "explanation" not in task
        assert all(set(h) == {"cost"} for h in task["hints"])
    job = Job.objects.get(kind=training.GENERATE_JOB)
    assert job.status == Job.Status.SUCCEEDED
    assert job.result["summary"] == "2 variant(s) ready"


def test_a_template_cannot_be_assigned_twice_or_unknown(trainer, training_class, lab):
    with pytest.raises(training.TrainingError, match="already has the lab"):
        training.assign_lab(training_class, "first-responder-scene", user=trainer)
    with pytest.raises(training.TrainingError, match="no such template"):
        training.assign_lab(training_class, "no-such-lab", user=trainer)


def test_a_failed_generation_shows_why_and_can_be_retried(
        monkeypatch, as_trainer, trainer, trainee, training_class,
        django_capture_on_commit_callbacks, client):
    def broken(*args, **kwargs):
        raise GenerationError("first-responder-scene seed 7: the disk is full")

    monkeypatch.setattr(training, "generate", broken)
    with django_capture_on_commit_callbacks(execute=True):
        assignment, job = training.assign_lab(training_class, "first-responder-scene",
                                               user=trainer)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "2 of 2 variants failed" in job.error
    variant = _variant(assignment, trainee)
    assert variant.status == Variant.Status.FAILED
    assert "the disk is full" in variant.error
    assert not VariantKey.objects.exists()
    assert variant.evidence == [] and variant.tasks == []

    page = as_trainer.get(f"/training/classes/{training_class.pk}/").content.decode()
    assert "the disk is full" in page
    assert "Retry the failed variants" in page

    # the trainee sees nothing half-made
    client.force_login(trainee)
    assert "No lab is open for you yet." in client.get("/training/labs/").content.decode()
    assert client.get(f"/training/labs/{variant.pk}/").status_code == 404

    monkeypatch.undo()
    client.force_login(trainer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/training/assignments/{assignment.pk}/retry/")
    assert response.status_code == 302
    variant.refresh_from_db()
    assert variant.status == Variant.Status.READY and variant.error == ""
    client.force_login(trainee)
    assert client.get(f"/training/labs/{variant.pk}/").status_code == 200


def test_the_trainee_sees_briefing_tasks_and_downloads_evidence(as_trainee, trainee, lab):
    variant = _variant(lab, trainee)
    listing = as_trainee.get("/training/labs/").content.decode()
    assert f"/training/labs/{variant.pk}/" in listing
    html = as_trainee.get(f"/training/labs/{variant.pk}/").content.decode()
    key = VariantKey.objects.get(variant=variant).key
    assert key["parameters"]["suspect"] in html  # the briefing of this trainee's own case
    assert "Acquire usb.img" in html
    assert "usb-sha256" in html
    response = as_trainee.get(f"/training/labs/{variant.pk}/evidence/usb.img")
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    expected = next(e for e in variant.evidence if e["path"] == "usb.img")
    assert hashlib.sha256(data).hexdigest() == expected["sha256"]


def test_a_right_answer_scores_the_points(as_trainee, trainee, lab):
    variant = _variant(lab, trainee)
    digest = _key_task(variant, "usb-sha256")["answer"]
    response = _answer(as_trainee, variant, "usb-sha256", digest.upper())
    assert response.status_code == 302
    result = TaskResult.objects.get(variant=variant, task_id="usb-sha256")
    assert (result.solved, result.score, result.attempts) == (True, 10.0, 1)
    html = as_trainee.get(f"/training/labs/{variant.pk}/").content.decode()
    assert "Solved" in html
    # a solved task takes no more answers
    _answer(as_trainee, variant, "usb-sha256", "0" * 64)
    assert Attempt.objects.filter(variant=variant, task_id="usb-sha256").count() == 1


def test_wrong_answers_count_until_the_attempt_limit(as_trainee, trainee, lab):
    variant = _variant(lab, trainee)
    limit = _key_task(variant, "laptop-seized-time")["max_attempts"]
    for _ in range(limit + 2):
        _answer(as_trainee, variant, "laptop-seized-time", "2020-01-01T00:00:00+05:00")
    result = TaskResult.objects.get(variant=variant, task_id="laptop-seized-time")
    assert result.attempts == limit
    assert not result.solved and result.score == 0
    assert Attempt.objects.filter(variant=variant).count() == limit
    right = _key_task(variant, "laptop-seized-time")["answer"]
    response = _answer(as_trainee, variant, "laptop-seized-time", right, HTTP_HX_REQUEST="true")
    assert "No attempts left for this task." in response.content.decode()
    assert not TaskResult.objects.get(pk=result.pk).solved


def test_a_hint_costs_points_only_when_the_task_is_solved(as_trainee, trainee, lab):
    variant = _variant(lab, trainee)
    task = _key_task(variant, "usb-sha256")
    cost = task["hints"][0]["cost"]
    response = as_trainee.post(f"/training/labs/{variant.pk}/tasks/usb-sha256/hint/",
                               HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert task["hints"][0]["text"]["en"][:40] in html
    assert HintUse.objects.filter(variant=variant, task_id="usb-sha256").count() == 1
    _answer(as_trainee, variant, "usb-sha256", "0" * 64)
    result = TaskResult.objects.get(variant=variant, task_id="usb-sha256")
    assert result.score == 0  # wrong: the hint costs nothing, and never goes below zero
    _answer(as_trainee, variant, "usb-sha256", task["answer"])
    result.refresh_from_db()
    assert result.solved and result.score == task["points"] - cost
    # no more hints than the task has
    response = as_trainee.post(f"/training/labs/{variant.pk}/tasks/laptop-seized-time/hint/")
    response = as_trainee.post(f"/training/labs/{variant.pk}/tasks/laptop-seized-time/hint/",
                               HTTP_HX_REQUEST="true")
    assert "There are no more hints for this task." in response.content.decode()


def test_the_hint_button_shows_its_cost(as_trainee, trainee, lab):
    variant = _variant(lab, trainee)
    cost = _key_task(variant, "usb-sha256")["hints"][0]["cost"]
    html = as_trainee.get(f"/training/labs/{variant.pk}/").content.decode()
    assert f"Show a hint (costs {cost:g} points if solved)" in html


def test_an_htmx_answer_returns_the_task_and_the_new_score(as_trainee, trainee, lab):
    variant = _variant(lab, trainee)
    digest = _key_task(variant, "usb-sha256")["answer"]
    html = _answer(as_trainee, variant, "usb-sha256", digest,
                   HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<article class="task" id="task-usb-sha256"')
    assert 'id="lab-score" hx-swap-oob="true"' in html
    assert "<strong>10</strong>" in html


def test_json_answers_are_graded_with_partial_credit(as_trainee, trainee, lab):
    variant = _variant(lab, trainee)
    order = _key_task(variant, "volatility-order")["answer"]
    _answer(as_trainee, variant, "volatility-order", ", ".join(reversed(order)))
    result = TaskResult.objects.get(variant=variant, task_id="volatility-order")
    assert not result.solved
    _answer(as_trainee, variant, "volatility-order", '["' + '", "'.join(order) + '"]')
    result.refresh_from_db()
    assert result.solved and result.score == 10


def test_a_closed_lab_shows_the_expected_answers_and_takes_no_more(as_trainee, trainee, lab):
    variant = _variant(lab, trainee)
    digest = _key_task(variant, "usb-sha256")["answer"]
    html = as_trainee.get(f"/training/labs/{variant.pk}/").content.decode()
    assert digest not in html and "Expected answer" not in html
    lab.closes_at = timezone.now() - dt.timedelta(minutes=1)
    lab.opens_at = timezone.now() - dt.timedelta(hours=2)
    lab.save()
    html = as_trainee.get(f"/training/labs/{variant.pk}/").content.decode()
    assert "Expected answer" in html and digest in html
    _answer(as_trainee, variant, "usb-sha256", digest)
    assert not TaskResult.objects.filter(variant=variant, solved=True).exists()


def test_a_lab_that_has_not_opened_is_hidden_from_the_trainee(as_trainee, trainee, lab):
    lab.opens_at = timezone.now() + dt.timedelta(days=1)
    lab.save()
    variant = _variant(lab, trainee)
    assert as_trainee.get(f"/training/labs/{variant.pk}/").status_code == 404
    assert "No lab is open for you yet." in as_trainee.get("/training/labs/").content.decode()


def test_the_trainer_sees_progress_per_trainee_and_task(client, trainer, trainee, lab):
    variant = _variant(lab, trainee)
    training.reveal_hint(variant, "usb-sha256")
    training.submit_answer(variant, "usb-sha256", _key_task(variant, "usb-sha256")["answer"])
    training.submit_answer(variant, "laptop-seized-time", "2020-01-01T00:00:00Z")
    client.force_login(trainer)
    html = client.get(f"/training/assignments/{lab.pk}/progress/").content.decode()
    assert 'data-trainee="aigerim"' in html and 'data-trainee="bakyt"' in html
    assert 'data-task="usb-sha256" class="solved"' in html
    assert "1 hint" in html and "1 attempt" in html
    task = _key_task(variant, "usb-sha256")
    assert f"<strong>{task['points'] - task['hints'][0]['cost']:g}</strong>" in html  # total
    class_page = client.get(f"/training/classes/{lab.training_class_id}/").content.decode()
    assert 'hx-get="/training/assignments/' in class_page  # the table refreshes itself


def test_the_progress_csv_export(client, trainer, trainee, lab):
    trainee.first_name = "=HYPERLINK(\"http://evil\")"
    trainee.save()
    variant = _variant(lab, trainee)
    training.submit_answer(variant, "usb-sha256", _key_task(variant, "usb-sha256")["answer"])
    client.force_login(trainer)
    response = client.get(f"/training/assignments/{lab.pk}/progress.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 2 * len(variant.tasks)
    row = next(r for r in rows if r["trainee"] == "aigerim" and r["task"] == "usb-sha256")
    assert (row["solved"], row["attempts"], row["hints"], row["score"]) == ("yes", "1", "0", "10")
    assert row["name"].startswith("'=")  # not a formula in a spreadsheet


def test_the_briefing_is_rendered_markdown_without_raw_html(as_trainee, trainee, lab):
    variant = _variant(lab, trainee)
    variant.briefing = {"en": "# Scene\n\n**Bold** <script>alert(1)</script>"}
    variant.save()
    html = as_trainee.get(f"/training/labs/{variant.pk}/").content.decode()
    assert "<h1>Scene</h1>" in html and "<strong>Bold</strong>" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
