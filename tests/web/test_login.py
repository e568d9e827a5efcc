"""Logging in and out; the header shows who is logged in, with role and institution."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def test_pages_need_a_login(client):
    response = client.get("/cases/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_page_renders_with_language_switcher(client):
    response = client.get("/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="password"' in html
    assert 'action="/i18n/setlang/"' in html
    for code in ("en", "ru", "kk", "ky", "tg", "tk", "uz"):
        assert f'value="{code}"' in html


def test_login_shows_user_role_and_institution(client, examiner):
    response = client.post("/login/", {"username": "examiner", "password": PASSWORD},
                           follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/cases/"
    assert "Examiner" in html
    assert "Academy of the MIA, Almaty" in html
    assert "Log out" in html


def test_wrong_password_is_refused_readably(client, examiner):
    response = client.post("/login/", {"username": "examiner", "password": "nope"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post_and_returns_to_login(as_examiner):
    response = as_examiner.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert as_examiner.get("/cases/").status_code == 302


def test_home_goes_to_the_cases(as_examiner):
    response = as_examiner.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/cases/"
