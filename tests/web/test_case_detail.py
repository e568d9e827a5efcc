"""The case page: authority, exhibits with hashes, scene records, custody timeline, jobs."""

from __future__ import annotations

import pytest

from dalil.app.cases import services

pytestmark = pytest.mark.django_db


def test_shows_authority_exhibits_hashes_and_custody(as_examiner, case):
    exhibit = case.exhibits.get(number="E1")
    sha = exhibit.files.get().sha256
    services.save_scene(case, {"location": "Abay 10, Almaty"}, "examiner")
    html = as_examiner.get(f"/cases/{case.pk}/").content.decode()
    assert "Search warrant" in html and "W-77" in html
    assert "USB stick" in html
    assert sha in html
    assert "Abay 10, Almaty" in html
    for action in ("created", "seized", "sealed"):
        assert f'data-action="{action}"' in html
    assert f"/cases/{case.pk}/verify/" in html
    assert f"/cases/{case.pk}/export/report/" in html
    assert f"/cases/{case.pk}/export/bundle/" in html
    assert f"/cases/{case.pk}/exhibits/new/" in html


def test_readers_see_verify_but_no_edit_buttons(as_prosecutor, case):
    html = as_prosecutor.get(f"/cases/{case.pk}/").content.decode()
    assert f"/cases/{case.pk}/verify/" in html
    assert f"/cases/{case.pk}/exhibits/new/" not in html
    assert f"/cases/{case.pk}/scene/" not in html


def test_another_institutions_case_is_not_found(as_examiner, foreign_case):
    assert as_examiner.get(f"/cases/{foreign_case.pk}/").status_code == 404


def test_hostile_descriptions_are_escaped(as_examiner, case):
    services.add_exhibit(case, number="E9", actor="x",
                         description='<script>alert("x")</script> ../../etc/passwd')
    html = as_examiner.get(f"/cases/{case.pk}/").content.decode()
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;" in html
