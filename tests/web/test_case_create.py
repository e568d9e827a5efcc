"""Opening a case from the web form (only roles that may edit cases)."""

from __future__ import annotations

import pytest

from dalil.app.cases.models import Case

pytestmark = pytest.mark.django_db

FORM = {
    "number": "KZ-2026-100", "title": "Ransomware at a clinic", "offence": "Art. 205 CC",
    "kind": "training", "jurisdiction": "kz", "authority_type": "court_order",
    "authority_identifier": "CO-12", "authority_issuer": "Almaly district court",
    "authority_scope": "Computers and phones at the clinic",
    "authority_valid_from": "2026-03-01T09:00", "authority_valid_until": "2026-03-31T18:00",
}


def test_form_renders(as_examiner):
    response = as_examiner.get("/cases/new/")
    assert response.status_code == 200
    assert 'name="authority_type"' in response.content.decode()


def test_creates_the_case_with_authority_and_first_custody_entry(as_examiner, examiner):
    response = as_examiner.post("/cases/new/", FORM)
    case = Case.objects.get(number="KZ-2026-100")
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.pk}/"
    assert case.jurisdiction == "KZ"
    assert case.kind == "training"
    assert case.authority_issuer == "Almaly district court"
    assert case.institution == examiner.institution
    assert case.created_by == examiner
    assert list(case.custody.values_list("action", flat=True)) == ["created"]


def test_duplicate_number_is_refused_readably(as_examiner, case):
    response = as_examiner.post("/cases/new/", {**FORM, "number": case.number})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_bad_jurisdiction_and_dates_are_refused(as_examiner):
    response = as_examiner.post("/cases/new/", {
        **FORM, "jurisdiction": "K1", "authority_valid_until": "2026-02-01T00:00"})
    html = response.content.decode()
    assert "two-letter country code" in html
    assert "cannot end before it starts" in html
    assert not Case.objects.filter(number=FORM["number"]).exists()


@pytest.mark.parametrize("client_fixture", ["as_prosecutor", "as_coordinator"])
def test_readers_cannot_open_cases(request, client_fixture):
    client = request.getfixturevalue(client_fixture)
    assert client.get("/cases/new/").status_code == 403
    response = client.post("/cases/new/", FORM)
    assert response.status_code == 403
    assert "may read cases" in response.content.decode()
    assert not Case.objects.filter(number=FORM["number"]).exists()
