"""The case list shows only the cases of the user's institution or shared with them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_lists_own_institutions_cases_only(as_examiner, case, foreign_case):
    html = as_examiner.get("/cases/").content.decode()
    assert "KZ-2026-007" in html
    assert "KG-2026-001" not in html


def test_a_shared_case_is_listed(as_examiner, examiner, foreign_case):
    foreign_case.shared_with.add(examiner)
    assert "KG-2026-001" in as_examiner.get("/cases/").content.decode()


def test_prosecutor_sees_the_list_but_no_new_case_button(as_prosecutor, case):
    html = as_prosecutor.get("/cases/").content.decode()
    assert "KZ-2026-007" in html
    assert "/cases/new/" not in html


def test_titles_are_escaped(as_examiner, examiner):
    from dalil.app.cases import services

    services.create_case(number="X-1", title="<script>alert(1)</script>", actor="e",
                         user=examiner)
    html = as_examiner.get("/cases/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
