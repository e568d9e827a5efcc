"""Recording a custody entry from the exhibit page, with the details its action requires."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(case):
    return f"/cases/{case.pk}/exhibits/{case.exhibits.get(number='E1').pk}/custody/"


def test_transfer_is_recorded_and_sealed_into_the_chain(as_examiner, case, url):
    response = as_examiner.post(url, {
        "action": "transferred", "released_by": "Sgt. Amanov", "received_by": "Lt. Ivanova",
        "purpose": "examination", "place": "Almaty lab", "seal_intact": "yes"})
    assert response.status_code == 302
    entry = case.custody.order_by("-seq").first()
    assert entry.action == "transferred"
    assert entry.details == {"released_by": "Sgt. Amanov", "received_by": "Lt. Ivanova",
                             "purpose": "examination", "place": "Almaty lab",
                             "seal_intact": True}
    assert entry.actor.startswith("examiner")
    from dalil.app.cases import services

    assert services.verify_case(case, "t", record=False).intact


def test_missing_details_are_named(as_examiner, case, url):
    before = case.custody.count()
    response = as_examiner.post(url, {"action": "transferred", "released_by": "Sgt. Amanov"})
    html = response.content.decode()
    assert response.status_code == 400
    assert html.count("Required for this action.") == 4
    assert case.custody.count() == before


def test_the_form_says_which_action_needs_which_detail(as_examiner, case):
    exhibit = case.exhibits.get(number="E1")
    html = as_examiner.get(f"/cases/{case.pk}/exhibits/{exhibit.pk}/").content.decode()
    assert 'data-actions="sealed"' in html  # seal_number
    assert 'value="verified"' not in html  # written by verification, not by hand


def test_unknown_actions_are_refused(as_examiner, case, url):
    assert as_examiner.post(url, {"action": "erased"}).status_code == 400


def test_readers_cannot_record_custody(as_prosecutor, case, url):
    before = case.custody.count()
    assert as_prosecutor.post(url, {"action": "note", "text": "hi"}).status_code == 403
    assert case.custody.count() == before
