"""The demo academy: a user per role, a training case with real evidence; re-runnable."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from dalil.app.accounts.models import User
from dalil.app.cases import services
from dalil.app.cases.models import Case
from dalil.app.web.demo import CASE_NUMBER, seed_demo

pytestmark = pytest.mark.django_db


def test_seeds_one_user_per_role_with_working_passwords():
    logins = seed_demo()
    assert [role for _, _, role in logins] == [
        "Trainee", "Trainer", "Examiner", "Prosecutor", "Coordinator", "Administrator"]
    for username, password, _ in logins:
        assert authenticate(username=username, password=password) is not None
        user = User.objects.get(username=username)
        assert user.institution.name.startswith("Academy of the Ministry of Internal Affairs")
    assert User.objects.get(username="admin").is_superuser


def test_demo_case_has_authority_scene_exhibits_custody_and_is_intact():
    seed_demo()
    case = Case.objects.get(number=CASE_NUMBER)
    assert case.kind == "training"
    assert case.authority_type == "warrant"
    exhibits = {e.number: e for e in case.exhibits.all()}
    assert {"E1", "E2", "E3"} <= set(exhibits)
    assert exhibits["E1"].isolation_method == "faraday"
    assert exhibits["E1"].clock_offset_seconds == 95
    assert exhibits["E2"].power_state == "sleep"
    assert exhibits["E3"].files.get().size > 0
    actions = set(case.custody.values_list("action", flat=True))
    assert {"created", "seized", "sealed", "transferred"} <= actions
    scene = case.scenes.get()
    missing = services.scene_missing_items(scene)
    assert missing and len(missing) < 15  # partly filled, on purpose
    assert services.verify_case(case, "t", record=False).intact


def test_the_usb_stick_is_imaged_when_the_acquisition_engine_is_present():
    pytest.importorskip("dalil.engine.evidence.acquisition")
    seed_demo()
    image = Case.objects.get(number=CASE_NUMBER).exhibits.get(number="E3.1")
    assert image.parent.number == "E3"
    assert image.acquisition.source_exhibit.number == "E3"


def test_running_again_resets_passwords_and_changes_nothing_else():
    first = dict((u, p) for u, p, _ in seed_demo())
    case = Case.objects.get(number=CASE_NUMBER)
    counts = (case.exhibits.count(), case.custody.count(), case.scenes.count(),
              User.objects.count())
    # The demo case, and the demo trainee's own training case for the assigned lab.
    cases = sorted(Case.objects.values_list("number", "kind"))
    assert len(cases) == 2 and {kind for _, kind in cases} == {"training"}
    second = dict((u, p) for u, p, _ in seed_demo())
    assert all(first[u] != second[u] for u in first)
    assert authenticate(username="examiner", password=first["examiner"]) is None
    assert authenticate(username="examiner", password=second["examiner"]) is not None
    assert (case.exhibits.count(), case.custody.count(), case.scenes.count(),
            User.objects.count()) == counts
    assert sorted(Case.objects.values_list("number", "kind")) == cases
