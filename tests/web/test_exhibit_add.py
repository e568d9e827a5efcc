"""Adding an exhibit with its evidence file: streamed, hashed, hostile input kept harmless."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from dalil.app.cases import services
from dalil.app.cases.models import Exhibit

pytestmark = pytest.mark.django_db

FIELDS = {"number": "E2", "type": "phone", "description": "Samsung A52, black",
          "power_state": "on", "locked": "true", "battery_percent": "64",
          "device_clock": "2026-03-02T10:20", "reference_clock": "2026-03-02T10:18",
          "isolation_method": "faraday", "isolation_justification": "Remote wipe risk",
          "seized_by": "Sgt. Amanov", "seized_where": "Abay 10", "seal_number": "S-22",
          "upload_complete": "1"}


def _post(client, case, data):
    return client.post(f"/cases/{case.pk}/exhibits/new/", data)


def test_form_proposes_the_next_number(as_examiner, case):
    html = as_examiner.get(f"/cases/{case.pk}/exhibits/new/").content.decode()
    assert 'value="E2"' in html
    assert 'enctype="multipart/form-data"' in html
    # the completion marker comes after the file input
    assert html.index('name="evidence"') < html.index('name="upload_complete"')


def test_upload_is_stored_hashed_and_recorded(as_examiner, case):
    data = b"\x00phone dump\xff" * 5000
    response = _post(as_examiner, case, {
        **FIELDS, "evidence": SimpleUploadedFile("dump.bin", data)})
    exhibit = Exhibit.objects.get(case=case, number="E2")
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.pk}/exhibits/{exhibit.pk}/"
    stored = exhibit.files.get()
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.md5 == hashlib.md5(data).hexdigest()
    assert stored.sha1 == hashlib.sha1(data).hexdigest()
    assert services.blob_store().path_for(stored.sha256).read_bytes() == data
    assert exhibit.isolation_method == "faraday"
    assert exhibit.clock_offset_seconds == 120
    assert list(exhibit.custody.values_list("action", flat=True)) == ["seized", "sealed"]


def test_large_uploads_reach_the_service_as_a_file_on_disk(as_examiner, case, monkeypatch):
    seen = {}
    real = services.add_exhibit

    def spy(case, **kwargs):
        content = kwargs["content"]
        seen["on_disk"] = hasattr(content, "name") and isinstance(content.name, str)
        seen["expected_size"] = kwargs["expected_size"]
        return real(case, **kwargs)

    monkeypatch.setattr(services, "add_exhibit", spy)
    data = b"A" * (3 * 1024 * 1024)  # above FILE_UPLOAD_MAX_MEMORY_SIZE
    _post(as_examiner, case, {**FIELDS, "evidence": SimpleUploadedFile("big.img", data)})
    assert seen == {"on_disk": True, "expected_size": len(data)}
    assert Exhibit.objects.get(number="E2").files.get().size == len(data)


def test_an_exhibit_without_bytes_is_allowed(as_examiner, case):
    assert _post(as_examiner, case, FIELDS).status_code == 302
    assert not Exhibit.objects.get(number="E2").files.exists()


def test_hostile_names_are_kept_as_text_and_shown_escaped(as_examiner, case, dalil_home):
    response = _post(as_examiner, case, {
        **FIELDS, "description": "<script>alert(1)</script> ../../etc/passwd",
        "evidence": SimpleUploadedFile("../../etc/<script>x</script>.bin", b"payload")})
    exhibit = Exhibit.objects.get(number="E2")
    name = exhibit.files.get().name
    assert "/" not in name and ".." not in name
    html = as_examiner.get(response["Location"]).content.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; ../../etc/passwd" in html
    assert not any(p.name.endswith(".bin") for p in dalil_home.rglob("*"))


def test_nul_characters_are_refused_readably(as_examiner, case):
    response = _post(as_examiner, case, {**FIELDS, "description": "bad\x00byte"})
    assert response.status_code == 200
    assert "Null characters are not allowed" in response.content.decode()
    assert not Exhibit.objects.filter(number="E2").exists()


def test_duplicate_number_is_refused(as_examiner, case):
    response = _post(as_examiner, case, {**FIELDS, "number": "E1"})
    assert "already has an exhibit with that number" in response.content.decode()


def test_an_upload_cut_off_midway_stores_nothing(as_examiner, case, dalil_home):
    body = encode_multipart(BOUNDARY, {
        **{k: v for k, v in FIELDS.items() if k != "upload_complete"},
        "evidence": SimpleUploadedFile("dump.bin", b"x" * 200_000),
        "upload_complete": "1",
    })
    cut = body[: body.index(b"x" * 1000) + 50_000]  # the connection dropped in the file
    response = as_examiner.generic("POST", f"/cases/{case.pk}/exhibits/new/", cut,
                                   content_type=MULTIPART_CONTENT)
    assert response.status_code == 200
    assert "upload was cut off" in response.content.decode()
    assert not Exhibit.objects.filter(number="E2").exists()
    blobs = [p for p in (dalil_home / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1  # only E1's bytes from the fixture


def test_readers_cannot_add_exhibits(as_prosecutor, case):
    assert as_prosecutor.get(f"/cases/{case.pk}/exhibits/new/").status_code == 403
    response = _post(as_prosecutor, case, {**FIELDS, "evidence": io.BytesIO(b"x")})
    assert response.status_code == 403
    assert not Exhibit.objects.filter(number="E2").exists()
