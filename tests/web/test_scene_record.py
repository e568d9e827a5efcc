"""The scene record form, its live missing-items list (HTMX) and saving it."""

from __future__ import annotations

import re

import pytest

from dalil.app.cases.models import SceneRecord

pytestmark = pytest.mark.django_db


def _items(html: str) -> list[str]:
    return re.findall(r'<li data-field="([^"]+)"', html)


def test_new_form_lists_everything_missing_with_references(as_examiner, case):
    response = as_examiner.get(f"/cases/{case.pk}/scene/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'hx-trigger="change"' in html
    assert f'hx-post="/cases/{case.pk}/scene/check/"' in html
    assert "arrival_at" in _items(html)
    assert "NIJ ch. 3" in html  # each item carries its reference
    assert "ISO/IEC 27037" in html


def test_check_shrinks_the_list_as_fields_are_filled(as_examiner, case):
    url = f"/cases/{case.pk}/scene/check/"
    empty = _items(as_examiner.post(url, {}, HTTP_HX_REQUEST="true").content.decode())
    filled = _items(as_examiner.post(url, {
        "arrival_at": "2026-03-02T10:15", "persons_present": "A. Bekov, owner",
        "scene_secured": "true", "scene_secured_how": "door locked, officer posted",
    }, HTTP_HX_REQUEST="true").content.decode())
    assert "arrival_at" in empty and "arrival_at" not in filled
    assert "scene_secured" not in filled
    assert len(filled) < len(empty)
    assert not SceneRecord.objects.exists()  # checking never saves


def test_volatile_order_is_validated_and_ordered(as_examiner, case):
    url = f"/cases/{case.pk}/scene/check/"
    html = as_examiner.post(url, {"volatile_decision": "collect",
                                  "volatile_order": "memory, bogus"}).content.decode()
    assert "Unknown volatile item(s): bogus" in html
    html = as_examiner.post(url, {"volatile_decision": "collect",
                                  "volatile_order": "disk, memory"}).content.decode()
    assert "memory is more volatile than disk" in html
    assert "RFC 3227" in html


def test_save_creates_then_edits_the_record(as_examiner, case):
    response = as_examiner.post(f"/cases/{case.pk}/scene/", {
        "location": "Abay 10, Almaty", "volatile_decision": "collect",
        "volatile_order": "memory, network_connections, disk", "volatile_tools": "winpmem 4.0",
    })
    scene = SceneRecord.objects.get(case=case)
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.pk}/scene/{scene.pk}/"
    assert scene.volatile_order == ["memory", "network_connections", "disk"]
    assert scene.recorded_by.startswith("examiner")
    page = as_examiner.get(response["Location"]).content.decode()
    assert 'value="memory, network_connections, disk"' in page
    as_examiner.post(f"/cases/{case.pk}/scene/{scene.pk}/", {"location": "Abay 12"})
    scene.refresh_from_db()
    assert scene.location == "Abay 12"
    assert SceneRecord.objects.count() == 1


def test_invalid_order_is_not_saved(as_examiner, case):
    response = as_examiner.post(f"/cases/{case.pk}/scene/", {"volatile_order": "ram"})
    assert response.status_code == 200
    assert "Unknown volatile item(s): ram" in response.content.decode()
    assert not SceneRecord.objects.exists()


def test_readers_cannot_edit_scenes(as_prosecutor, case):
    assert as_prosecutor.get(f"/cases/{case.pk}/scene/").status_code == 403
    assert as_prosecutor.post(f"/cases/{case.pk}/scene/check/", {}).status_code == 403


def test_another_cases_scene_is_not_found(as_examiner, case, examiner):
    from dalil.app.cases import services

    other = services.create_case(number="KZ-2", title="t", actor="e", user=examiner)
    scene = services.save_scene(other, {"location": "x"}, "e")
    assert as_examiner.get(f"/cases/{case.pk}/scene/{scene.pk}/").status_code == 404
