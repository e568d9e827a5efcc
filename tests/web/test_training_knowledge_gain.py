"""Pre-test and post-test of a course: each trainee's scores, gain and normalised gain,
and the class means, on the trainer's class page."""

from __future__ import annotations

import pytest
import training_helpers as h

from dalil.app.accounts.models import Role, User
from dalil.app.training import analytics
from dalil.app.training import services as training

pytestmark = pytest.mark.django_db

QUIZ = [h.task(f"q{i}", "choice", points=1, answer="A") for i in range(1, 11)]


def _took(lab, trainee, right: int):
    v = h.variant(lab, trainee, QUIZ)
    for i in range(1, 11):
        h.result(v, f"q{i}", score=1 if i <= right else 0, solved=i <= right)
    return v


@pytest.fixture
def tests_taken(training_class, trainee, other_trainee, academy):
    absent = User.objects.create_user("dilnoza", password="x" * 12, role=Role.TRAINEE,
                                      institution=academy)
    training.enrol(training_class, [absent])
    pre = h.assignment(training_class, "course1-pretest", kind="quiz")
    post = h.assignment(training_class, "course1-posttest", kind="quiz")
    _took(pre, trainee, 4)  # 40 % -> 70 %
    _took(post, trainee, 7)
    _took(pre, other_trainee, 6)  # 60 % -> 80 %
    _took(post, other_trainee, 8)
    _took(pre, absent, 5)  # missed the post-test
    h.variant(post, absent, QUIZ)  # generated, never answered
    return pre, post


def test_normalised_gain():
    assert analytics.normalised_gain(40, 70) == pytest.approx(0.5)
    assert analytics.normalised_gain(80, 70) == pytest.approx(-0.5)
    assert analytics.normalised_gain(100, 100) is None
    assert analytics.normalised_gain(None, 50) is None


def test_gain_per_trainee_and_class_means(training_class, tests_taken, trainee,
                                          other_trainee):
    (gain,) = analytics.knowledge_gain(training_class)
    assert gain.course == 1
    rows = {r.trainee.username: r for r in gain.rows}
    mine, theirs, absent = rows["aigerim"], rows["bakyt"], rows["dilnoza"]
    assert (mine.pre, mine.post, mine.gain) == pytest.approx((40, 70, 30))
    assert mine.normalised == pytest.approx(0.5)
    assert theirs.normalised == pytest.approx(0.5)
    assert (absent.pre, absent.post, absent.gain, absent.normalised) == (50, None, None, None)
    assert [r.trainee for r in gain.paired] == [trainee, other_trainee]
    assert (gain.mean_pre, gain.mean_post, gain.mean_gain) == pytest.approx((50, 75, 25))
    assert gain.class_normalised_gain == pytest.approx(0.5)  # (75 - 50) / (100 - 50)
    assert gain.mean_normalised_gain == pytest.approx(0.5)


def test_the_class_page_shows_the_gain(as_trainer, training_class, tests_taken):
    html = as_trainer.get(f"/training/classes/{training_class.pk}/").content.decode()
    section = html.split('id="knowledge-gain-1"')[1].split("</section>")[0]
    mine = section.split('data-trainee="aigerim"')[1].split("</tr>")[0]
    assert '<td class="pre">40.0 %</td>' in mine
    assert '<td class="post">70.0 %</td>' in mine
    assert '<td class="gain">+30.0</td>' in mine
    assert '<td class="normalised">0.50</td>' in mine
    absent = section.split('data-trainee="dilnoza"')[1].split("</tr>")[0]
    assert '<td class="post">—</td>' in absent
    means = section.split('class="class-mean"')[1].split("</tr>")[0]
    assert "2 trainees took both" in means
    assert '<td class="gain">+25.0</td>' in means


def test_only_a_pre_test_shows_no_gain(as_trainer, training_class, trainee):
    _took(h.assignment(training_class, "course2-pretest", kind="quiz"), trainee, 3)
    assert analytics.knowledge_gain(training_class) == []
    html = as_trainer.get(f"/training/classes/{training_class.pk}/").content.decode()
    assert "knowledge-gain" not in html


def test_a_trainee_never_sees_the_class_gain(as_trainee, training_class, tests_taken):
    response = as_trainee.get(f"/training/classes/{training_class.pk}/")
    assert response.status_code == 403
    assert b"Knowledge gain" not in response.content
