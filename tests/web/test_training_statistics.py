"""The trainer's class page shows each task's difficulty: share solved, mean attempts,
hint use and mean time to solve. A trainee never reaches it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import training_helpers as h

from dalil.app.accounts.models import Role, User
from dalil.app.training import analytics
from dalil.app.training import services as training

pytestmark = pytest.mark.django_db

START = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)
TASKS = [h.task("easy", points=1), h.task("hard", points=3,
                                          hints=[{"cost": 1, "text": {"en": "Look."}}])]


@pytest.fixture
def graded_lab(training_class, trainee, other_trainee, academy):
    third = User.objects.create_user("dilnoza", password="x" * 12, role=Role.TRAINEE,
                                     institution=academy)
    training.enrol(training_class, [third])
    lab = h.assignment(training_class, "stats-lab")
    a = h.variant(lab, trainee, TASKS, started_at=START)
    b = h.variant(lab, other_trainee, TASKS, started_at=START)
    h.variant(lab, third, TASKS, started_at=START)  # has not answered anything
    h.result(a, "easy", score=1, solved=True, attempts=1,
             solved_at=START + timedelta(minutes=10))
    h.result(b, "easy", score=1, solved=True, attempts=3,
             solved_at=START + timedelta(minutes=20))
    h.result(a, "hard", score=2, solved=True, attempts=2, hints=1,
             first=START + timedelta(minutes=30), solved_at=START + timedelta(hours=1))
    h.result(b, "hard", score=0, solved=False, attempts=4, hints=1,
             first=START + timedelta(minutes=25))
    return lab


def test_difficulty_per_task(graded_lab):
    easy, hard = analytics.task_statistics(graded_lab)
    assert (easy.task, easy.trainees, easy.solved, easy.attempted) == ("easy", 3, 2, 2)
    assert easy.solved_share == pytest.approx(2 / 3)
    assert easy.mean_attempts == 2  # (1 + 3) / the 2 who answered
    assert (easy.hinted, easy.mean_hints) == (0, 0)
    assert easy.mean_time_to_solve == timedelta(minutes=15)
    assert hard.solved_share == pytest.approx(1 / 3)
    assert hard.mean_attempts == 3
    assert hard.hint_share == pytest.approx(2 / 3)
    assert hard.mean_hints == pytest.approx(2 / 3)
    assert hard.mean_time_to_solve == timedelta(hours=1)  # only the solver counts


def test_without_a_recorded_start_time_runs_from_the_first_answer(
        training_class, trainee):
    lab = h.assignment(training_class, "no-start")
    v = h.variant(lab, trainee, TASKS)
    h.result(v, "easy", score=1, solved=True, first=START,
             solved_at=START + timedelta(minutes=5))
    easy, hard = analytics.task_statistics(lab)
    assert easy.mean_time_to_solve == timedelta(minutes=5)
    assert hard.mean_time_to_solve is None and hard.mean_attempts is None


def test_opening_the_lab_records_the_start(client, training_class, trainee, trainer):
    lab = h.assignment(training_class, "start-lab")
    v = h.variant(lab, trainee, TASKS)
    client.force_login(trainer)  # a trainer's look does not start the trainee's clock
    client.get(f"/training/labs/{v.pk}/")
    v.refresh_from_db()
    assert v.started_at is None
    client.force_login(trainee)
    client.get(f"/training/labs/{v.pk}/")
    v.refresh_from_db()
    first = v.started_at
    assert first is not None
    client.get(f"/training/labs/{v.pk}/")
    v.refresh_from_db()
    assert v.started_at == first


def test_the_class_page_shows_the_statistics(as_trainer, graded_lab):
    html = as_trainer.get(f"/training/classes/{graded_lab.training_class_id}/").content.decode()
    table = html.split(f'id="statistics-{graded_lab.pk}"')[1].split("</details>")[0]
    easy = table.split('data-task="easy"')[1].split("</tr>")[0]
    assert "67 %" in easy and "(2/3)" in easy
    assert '<td class="mean-attempts">2</td>' in easy
    assert '<td class="mean-time">15:00</td>' in easy
    hard = table.split('data-task="hard"')[1].split("</tr>")[0]
    assert '<td class="hint-share">67 %</td>' in hard
    assert '<td class="mean-time">1:00:00</td>' in hard


def test_a_trainee_never_sees_the_statistics(as_trainee, graded_lab):
    response = as_trainee.get(f"/training/classes/{graded_lab.training_class_id}/")
    assert response.status_code == 403
    assert b"Task difficulty" not in response.content
