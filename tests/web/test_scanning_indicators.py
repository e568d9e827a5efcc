"""Indicator feeds of a case (STIX 2.1, MISP) uploaded on its page, stored as blobs, and
every hit of a scan that matches one flagged with the feed and the indicator."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from scanning_helpers import EMAIL, WALLET, add_bytes_exhibit, misp_feed, stix_feed

from dalil.app.cases import services as cases
from dalil.app.scanning import services
from dalil.app.scanning.models import IndicatorFeed

pytestmark = pytest.mark.django_db


def _url(case, what=""):
    return f"/scanning/cases/{case.pk}/indicators/{what}"


def test_feeds_uploaded_flag_the_hits_that_match(as_examiner, case):
    response = as_examiner.post(_url(case, "feed/"), {
        "file": SimpleUploadedFile("partner-cert.json", stix_feed(EMAIL, "x@y.example"))})
    assert response.status_code == 302
    as_examiner.post(_url(case, "feed/"), {
        "file": SimpleUploadedFile("bank.json", misp_feed(WALLET))})
    stix, misp = IndicatorFeed.objects.order_by("id")
    assert (stix.format, stix.indicators, stix.source) == ("stix2.1", 2, "Partner CERT")
    assert misp.format == "misp" and misp.indicators == 1
    assert cases.blob_store().exists(stix.sha256)
    page = as_examiner.get(_url(case)).content.decode()
    assert "partner-cert.json" in page and "bank.json" in page

    exhibit = add_bytes_exhibit(case)
    run = services.scan_exhibit(exhibit, services.QuietContext(), actor="examiner",
                                options={"jobs": 1})
    assert run.alerts == 2 and [f["name"] for f in run.feeds] == ["bank.json",
                                                                   "partner-cert.json"]
    email = run.finding_rows.get(feature=EMAIL)
    assert email.feed == "partner-cert.json" and email.indicator == "phishing sender 0"
    assert run.finding_rows.get(feature=WALLET).feed == "bank.json"
    alerts = as_examiner.get(f"/scanning/cases/{case.pk}/exhibits/{exhibit.pk}/findings/",
                             {"run": run.pk, "alerts": "on"}).content.decode()
    assert EMAIL in alerts and WALLET in alerts and "evil@example.com" not in alerts
    entry = exhibit.custody.filter(action="examined").get()
    assert entry.details["indicator_feeds"] == ["bank.json", "partner-cert.json"]


def test_a_feed_that_does_not_read_is_refused_naming_it(as_examiner, case):
    response = as_examiner.post(_url(case, "feed/"), {
        "file": SimpleUploadedFile("broken.json", b"{not json")})
    assert response.status_code == 400
    assert "broken.json: not valid JSON" in response.content.decode()
    response = as_examiner.post(_url(case, "feed/"), {
        "file": SimpleUploadedFile("<i>odd</i>.json", b'{"hello": 1}')})
    assert response.status_code == 400 and "<i>odd</i>" not in response.content.decode()
    assert not IndicatorFeed.objects.exists()


def test_only_editors_upload_and_outsiders_see_nothing(client, as_prosecutor, case, outsider):
    upload = {"file": SimpleUploadedFile("f.json", stix_feed(EMAIL))}
    assert as_prosecutor.post(_url(case, "feed/"), upload).status_code == 403
    assert as_prosecutor.get(_url(case)).status_code == 200
    client.force_login(outsider)
    assert client.get(_url(case)).status_code == 404
    assert not IndicatorFeed.objects.exists()
