"""Exhibit photographs: added by editors, served from the blob store to those who may see."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dalil.app.cases.models import ExhibitPhoto

pytestmark = pytest.mark.django_db

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture
def exhibit(case):
    return case.exhibits.get(number="E1")


def _add(client, case, exhibit, name, data, content_type="image/png"):
    return client.post(f"/cases/{case.pk}/exhibits/{exhibit.pk}/photos/", {
        "photo": SimpleUploadedFile(name, data, content_type=content_type),
        "caption": "Front, with seal"})


def test_photo_is_added_and_served_with_its_type_and_nosniff(as_examiner, case, exhibit):
    response = _add(as_examiner, case, exhibit, "front.png", PNG)
    assert response.status_code == 302
    photo = ExhibitPhoto.objects.get(exhibit=exhibit)
    assert photo.content_type == "image/png"
    assert exhibit.custody.filter(action="note").exists()
    page = as_examiner.get(f"/cases/{case.pk}/exhibits/{exhibit.pk}/").content.decode()
    url = f"/cases/{case.pk}/exhibits/{exhibit.pk}/photos/{photo.pk}/"
    assert url in page and "Front, with seal" in page
    served = as_examiner.get(url)
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == PNG


def test_the_declared_type_is_not_trusted(as_examiner, case, exhibit):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    response = _add(as_examiner, case, exhibit, "x.png", svg, content_type="image/png")
    assert response.status_code == 400
    assert "Not a JPEG, PNG, GIF or WebP image." in response.content.decode()
    assert not ExhibitPhoto.objects.exists()


def test_photos_of_invisible_cases_are_not_served(client, outsider, as_examiner, case,
                                                  exhibit):
    _add(as_examiner, case, exhibit, "front.png", PNG)
    photo = ExhibitPhoto.objects.get()
    client.force_login(outsider)
    url = f"/cases/{case.pk}/exhibits/{exhibit.pk}/photos/{photo.pk}/"
    assert client.get(url).status_code == 404


def test_readers_may_look_but_not_add(as_prosecutor, case, exhibit):
    assert _add(as_prosecutor, case, exhibit, "front.png", PNG).status_code == 403
