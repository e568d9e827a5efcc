"""Free-text answers wait in the trainer's grading queue; the grade reaches the trainee.

The trainer scores each answer against the rubric shown beside it, with a comment; the
score counts in the progress table and the trainee sees it with the comment. Nobody but
the class's trainer reaches the queue or the grading URL.
"""

from __future__ import annotations

import pytest
import training_helpers as h

from dalil.app.accounts.models import Role, User
from dalil.app.training import services as training
from dalil.app.training.models import TaskResult

pytestmark = pytest.mark.django_db

RUBRIC = {"isolation": {"en": "Says how the phone is isolated from the network",
                        "ru": "Говорит, как телефон изолируют от сети"},
          "custody": {"points": 2, "text": {"en": "Records who took the phone and when"}}}
ESSAY = "I would put the phone in airplane mode and note the time in the custody log."


@pytest.fixture
def essay_lab(training_class, trainee, other_trainee):
    lab = h.assignment(training_class, "first-responder-essay")
    tasks = [h.task("describe", "free_text", points=4, answer=None,
                    options={"rubric": RUBRIC},
                    hints=[{"cost": 1, "text": {"en": "Think of the network."}}]),
             h.task("hash", "text", points=1, answer="abc")]
    return lab, h.variant(lab, trainee, tasks), h.variant(lab, other_trainee, tasks)


def _submit(client, variant, text=ESSAY):
    return client.post(f"/training/labs/{variant.pk}/tasks/describe/answer/",
                       {"answer": text})


def test_the_trainer_grades_a_free_text_answer_and_the_trainee_sees_it(
        client, trainer, trainee, essay_lab):
    lab, mine, _theirs = essay_lab
    client.force_login(trainee)
    assert _submit(client, mine).status_code == 302
    result = TaskResult.objects.get(variant=mine, task_id="describe")
    assert result.needs_trainer and result.score == 0

    client.force_login(trainer)
    page = client.get(f"/training/classes/{lab.training_class_id}/").content.decode()
    assert "1 answer to grade" in page
    queue = client.get(f"/training/classes/{lab.training_class_id}/grading/")
    html = queue.content.decode()
    assert queue.status_code == 200
    assert f'id="result-{result.pk}"' in html
    assert "airplane mode and note the time" in html  # the answer
    assert "Says how the phone is isolated from the network" in html  # the rubric beside it
    assert "Records who took the phone and when (2 points)" in html

    response = client.post(f"/training/results/{result.pk}/grade/",
                           {"score": "3", "comment": "Good; say who sealed it."})
    assert response.status_code == 302
    result.refresh_from_db()
    assert (result.score, result.solved, result.needs_trainer) == (3, True, False)
    assert result.graded_by == trainer and result.trainer_comment == "Good; say who sealed it."
    # out of the queue, into the progress table
    assert "No answer awaits grading." in client.get(
        f"/training/classes/{lab.training_class_id}/grading/").content.decode()
    progress = training.progress(lab)
    row = next(r for r in progress["rows"] if r["trainee"] == trainee)
    assert row["score"] == 3
    assert "3</strong> / 5" in client.get(
        f"/training/assignments/{lab.pk}/progress/").content.decode()

    client.force_login(trainee)
    lab_page = client.get(f"/training/labs/{mine.pk}/").content.decode()
    assert "Graded by the trainer" in lab_page
    assert "Good; say who sealed it." in lab_page
    # a graded task takes no more answers
    assert 'name="answer"' not in lab_page.split('id="task-describe"')[1].split("</article>")[0]
    _submit(client, mine, "Another try")
    result.refresh_from_db()
    assert result.attempts == 1


def test_a_graded_task_takes_no_more_answers(trainer, trainee, essay_lab):
    _lab, mine, _theirs = essay_lab
    training.submit_answer(mine, "describe", ESSAY)
    result = TaskResult.objects.get(variant=mine, task_id="describe")
    training.grade_manually(result, user=trainer, score=0, comment="Off topic.")
    result.refresh_from_db()
    assert (result.score, result.solved, result.needs_trainer) == (0, False, False)
    with pytest.raises(training.TrainingError):
        training.submit_answer(mine, "describe", "A better answer")


def test_hints_opened_cost_their_points_on_a_manual_grade(trainer, trainee, essay_lab):
    _lab, mine, _theirs = essay_lab
    training.reveal_hint(mine, "describe")
    training.submit_answer(mine, "describe", ESSAY)
    result = TaskResult.objects.get(variant=mine, task_id="describe")
    graded = training.grade_manually(result, user=trainer, score=4)
    assert graded.score == 3


def test_a_score_above_the_task_points_is_refused(client, trainer, trainee, essay_lab):
    _lab, mine, _theirs = essay_lab
    training.submit_answer(mine, "describe", ESSAY)
    result = TaskResult.objects.get(variant=mine, task_id="describe")
    client.force_login(trainer)
    response = client.post(f"/training/results/{result.pk}/grade/", {"score": "9"},
                           follow=True)
    assert "The score is between 0 and 4." in response.content.decode()
    result.refresh_from_db()
    assert result.needs_trainer and result.graded_at is None


def test_nobody_but_the_class_trainer_reaches_the_queue_or_grades(
        client, academy, trainer, trainee, other_trainee, essay_lab):
    lab, mine, theirs = essay_lab
    training.submit_answer(theirs, "describe", "The other trainee's secret essay")
    result = TaskResult.objects.get(variant=theirs, task_id="describe")
    class_pk = lab.training_class_id
    someone = User.objects.create_user("other-trainer", password="x" * 12, role=Role.TRAINER,
                                       institution=academy)
    tot = User.objects.create_user("candidate", password="x" * 12,
                                   role=Role.TRAINER_IN_TRAINING, institution=academy)
    for user, status in ((trainee, 403), (tot, 403), (someone, 404)):
        client.force_login(user)
        queue = client.get(f"/training/classes/{class_pk}/grading/")
        assert queue.status_code == status
        assert b"secret essay" not in queue.content
        grade = client.post(f"/training/results/{result.pk}/grade/", {"score": "4"})
        assert grade.status_code == status
    result.refresh_from_db()
    assert result.needs_trainer and result.score == 0
    # the trainee's own lab never shows another trainee's answer either
    client.force_login(trainee)
    assert b"secret essay" not in client.get(f"/training/labs/{mine.pk}/").content
