"""The demo academy includes a class with the trainee enrolled and a lab ready to work."""

from __future__ import annotations

import pytest

from dalil.app.training.models import TrainingClass, Variant
from dalil.app.web.demo import CLASS_NAME, seed_demo

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_class_with_a_ready_lab_for_the_trainee(client):
    seed_demo()
    klass = TrainingClass.objects.get(name=CLASS_NAME)
    assert klass.trainer.username == "trainer"
    assert [u.username for u in klass.trainees.all()] == ["trainee"]
    variant = Variant.objects.get(assignment__training_class=klass)
    assert variant.status == Variant.Status.READY
    client.force_login(variant.trainee)
    assert client.get(f"/training/labs/{variant.pk}/").status_code == 200


def test_seeding_again_adds_no_second_class_or_variant():
    seed_demo()
    seed_demo()
    assert TrainingClass.objects.filter(name=CLASS_NAME).count() == 1
    assert Variant.objects.filter(assignment__training_class__name=CLASS_NAME).count() == 1
