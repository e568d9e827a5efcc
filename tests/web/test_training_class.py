"""A trainer opens a class, enrols trainees and sees only their own classes."""

from __future__ import annotations

import pytest

from dalil.app.accounts.models import Role, User
from dalil.app.training import services as training
from dalil.app.training.models import Enrolment, TrainingClass, Variant

pytestmark = pytest.mark.django_db


def make_user(username: str, role: str, institution) -> User:
    return User.objects.create_user(username=username, password="x" * 12, role=role,
                                    institution=institution)


def test_a_trainer_opens_a_class(as_trainer, trainer):
    response = as_trainer.post("/training/classes/new/", {
        "name": "Course 1, Almaty, group 1", "course": "1", "language": "ru",
        "starts_on": "2026-04-06", "ends_on": "2026-04-10", "classroom": "Room 204"})
    klass = TrainingClass.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/training/classes/{klass.pk}/"
    assert (klass.trainer, klass.course, klass.language) == (trainer, 1, "ru")
    html = as_trainer.get(response["Location"]).content.decode()
    assert "Course 1, Almaty, group 1" in html
    assert "Room 204" in html


def test_a_class_cannot_end_before_it_starts(as_trainer):
    response = as_trainer.post("/training/classes/new/", {
        "name": "Backwards", "course": "1", "language": "en",
        "starts_on": "2026-04-10", "ends_on": "2026-04-06"})
    assert response.status_code == 200
    assert "A class cannot end before it starts." in response.content.decode()
    assert not TrainingClass.objects.exists()


def test_the_trainer_enrols_trainees(as_trainer, trainer, trainee, other_trainee):
    klass = training.create_class(trainer, name="Group 2")
    page = as_trainer.get(f"/training/classes/{klass.pk}/").content.decode()
    assert "aigerim" in page  # offered in the enrolment list
    response = as_trainer.post(f"/training/classes/{klass.pk}/enrol/",
                               {"trainees": [trainee.pk, other_trainee.pk]})
    assert response.status_code == 302
    assert set(klass.trainees.all()) == {trainee, other_trainee}
    # enrolled trainees are no longer offered
    form_html = as_trainer.get(f"/training/classes/{klass.pk}/").content.decode()
    assert f'value="{trainee.pk}"' not in form_html


def test_only_trainees_are_offered_for_enrolment(as_trainer, trainer, examiner):
    klass = training.create_class(trainer, name="Group 2")
    response = as_trainer.post(f"/training/classes/{klass.pk}/enrol/",
                               {"trainees": [examiner.pk]})
    assert response.status_code == 400
    assert not Enrolment.objects.exists()


def test_a_trainee_enrolled_late_gets_a_variant_of_each_assigned_lab(
        trainer, training_class, lab, academy, django_capture_on_commit_callbacks):
    late = make_user("dilnoza", Role.TRAINEE, academy)
    with django_capture_on_commit_callbacks(execute=True):
        training.enrol(training_class, [late], user=trainer)
    variant = Variant.objects.get(assignment=lab, trainee=late)
    assert variant.status == Variant.Status.READY


def test_a_trainer_sees_only_their_own_classes(client, trainer, academy):
    mine = training.create_class(trainer, name="Mine")
    someone = make_user("other-trainer", Role.TRAINER, academy)
    theirs = training.create_class(someone, name="Theirs")
    client.force_login(trainer)
    html = client.get("/training/classes/").content.decode()
    assert "Mine" in html and "Theirs" not in html
    assert client.get(f"/training/classes/{theirs.pk}/").status_code == 404
    assert client.get(f"/training/classes/{mine.pk}/").status_code == 200


def test_an_administrator_sees_every_class(client, trainer, academy):
    training.create_class(trainer, name="Someone's class")
    admin = make_user("admin", Role.ADMINISTRATOR, academy)
    client.force_login(admin)
    assert "Someone&#x27;s class" in client.get("/training/classes/").content.decode()


@pytest.mark.parametrize("url", ["/training/classes/", "/training/classes/new/"])
def test_trainees_and_examiners_cannot_run_classes(client, trainee, examiner, url):
    for user in (trainee, examiner):
        client.force_login(user)
        assert client.get(url).status_code == 403, (user.username, url)


def test_a_trainee_cannot_open_a_class_through_the_service(trainee):
    with pytest.raises(training.TrainingError):
        training.create_class(trainee, name="Mine now")


def test_training_home_and_navigation_depend_on_the_role(client, trainer, trainee):
    client.force_login(trainer)
    assert client.get("/training/")["Location"] == "/training/classes/"
    assert 'href="/training/"' in client.get("/training/classes/").content.decode()
    client.force_login(trainee)
    assert client.get("/training/")["Location"] == "/training/labs/"
    assert "No lab is open for you yet." in client.get("/training/labs/").content.decode()
