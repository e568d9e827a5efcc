"""Who may see and change what: other institutions get 404, readers get a readable 403."""

from __future__ import annotations

import pytest

from dalil.app.accounts.models import Role

pytestmark = pytest.mark.django_db


def _urls(case):
    exhibit = case.exhibits.get(number="E1")
    base = f"/cases/{case.pk}"
    return {
        "read": [f"{base}/", f"{base}/exhibits/{exhibit.pk}/"],
        "edit_get": [f"{base}/scene/", f"{base}/exhibits/new/"],
        "edit_post": [f"{base}/scene/", f"{base}/scene/check/", f"{base}/exhibits/new/",
                      f"{base}/exhibits/{exhibit.pk}/custody/",
                      f"{base}/exhibits/{exhibit.pk}/photos/"],
        "verify": [f"{base}/verify/"],
    }


def test_another_institution_gets_404_everywhere(client, outsider, case):
    client.force_login(outsider)
    urls = _urls(case)
    for url in urls["read"] + urls["edit_get"]:
        assert client.get(url).status_code == 404, url
    for url in urls["edit_post"] + urls["verify"]:
        assert client.post(url, {}).status_code == 404, url


def test_404_page_is_readable(client, outsider, case):
    client.force_login(outsider)
    response = client.get(f"/cases/{case.pk}/")
    assert "not allowed to see" in response.content.decode()


@pytest.mark.parametrize("role", [Role.PROSECUTOR, Role.COORDINATOR])
def test_readers_read_and_verify_but_get_403_on_edits(client, examiner, case, role):
    examiner.role = role
    examiner.save()
    client.force_login(examiner)
    urls = _urls(case)
    for url in urls["read"]:
        assert client.get(url).status_code == 200, url
    for url in urls["edit_get"]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "may read cases but not change them" in response.content.decode()
    for url in urls["edit_post"]:
        assert client.post(url, {}).status_code == 403, url
    assert client.post(urls["verify"][0]).status_code == 302


def test_administrators_see_every_case(client, foreign_case, academy):
    from dalil.app.accounts.models import User

    admin = User.objects.create_user("admin", password="x" * 12, role=Role.ADMINISTRATOR,
                                     institution=academy)
    client.force_login(admin)
    assert client.get(f"/cases/{foreign_case.pk}/").status_code == 200


def test_shared_cases_are_visible_to_the_user_they_are_shared_with(as_examiner, examiner,
                                                                   foreign_case):
    assert as_examiner.get(f"/cases/{foreign_case.pk}/").status_code == 404
    foreign_case.shared_with.add(examiner)
    assert as_examiner.get(f"/cases/{foreign_case.pk}/").status_code == 200
