"""The exhibit page: every recorded field, hashes, device state, photos, its custody."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from dalil.app.cases import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def phone(case):
    return services.add_exhibit(
        case, number="E2", actor="examiner", type="phone", make="Samsung", model="A52",
        imei="356938035643809", description="black phone, cracked screen",
        power_state="on", locked=True, battery_percent=64, charging=False,
        network_indicators="4G, Wi-Fi", screen_content="WhatsApp chat open",
        device_clock=dt.datetime(2026, 3, 2, 10, 20, tzinfo=dt.UTC),
        reference_clock=dt.datetime(2026, 3, 2, 10, 18, 30, tzinfo=dt.UTC),
        isolation_method="faraday", isolation_justification="Remote wipe risk",
        content=io.BytesIO(b"phone bytes"), content_name="phone.bin",
        seized_by="Sgt. Amanov", seized_where="Abay 10", seal_number="S-22")


def test_shows_all_fields_state_offset_isolation_and_hashes(as_examiner, case, phone):
    html = as_examiner.get(f"/cases/{case.pk}/exhibits/{phone.pk}/").content.decode()
    stored = phone.files.get()
    for text in ("Samsung", "A52", "356938035643809", "black phone, cracked screen",
                 "4G, Wi-Fi", "WhatsApp chat open", "Faraday bag", "Remote wipe risk",
                 "64%", "90 s (device minus real time)", stored.md5, stored.sha1,
                 stored.sha256, "phone.bin", "S-22"):
        assert text in html, text
    assert 'data-action="seized"' in html and 'data-action="sealed"' in html
    assert 'name="action"' in html  # the custody form for an editor


def test_timeline_is_this_exhibits_only(as_examiner, case, phone):
    html = as_examiner.get(f"/cases/{case.pk}/exhibits/{phone.pk}/").content.decode()
    assert "usb.bin" not in html  # E1's entries are not on E2's page


def test_readers_see_no_forms(as_prosecutor, case, phone):
    html = as_prosecutor.get(f"/cases/{case.pk}/exhibits/{phone.pk}/").content.decode()
    assert "Samsung" in html
    assert 'name="action"' not in html
    assert 'name="photo"' not in html


def test_exhibit_of_another_case_is_not_found(as_examiner, case, foreign_case):
    other = services.add_exhibit(foreign_case, number="X1", actor="o")
    assert as_examiner.get(f"/cases/{case.pk}/exhibits/{other.pk}/").status_code == 404
    assert as_examiner.get(f"/cases/{foreign_case.pk}/exhibits/{other.pk}/").status_code == 404
