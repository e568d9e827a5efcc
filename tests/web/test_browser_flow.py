"""A trainee's whole path through the site in a real Chromium (Playwright).

Log in, open a case, fill the scene record and watch the missing-items list shrink, upload an
exhibit, run verification and watch "intact" appear, download the court report (a PDF).
Jobs run through django-tasks' ImmediateBackend (set for the test suite in tests/conftest.py),
in the live server's process.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_support import BROWSER_MARKS

from dalil.app.accounts.models import Institution, Role, User
from dalil.app.jobs import services as jobs

SCREENSHOT_DIR = Path(os.environ.get("DALIL_SCREENSHOT_DIR", "/tmp"))
PASSWORD = "trainee-password-2026"

pytestmark = BROWSER_MARKS




@pytest.fixture
def trainee(transactional_db):
    academy = Institution.objects.create(name="Academy of the MIA, Almaty", country="KZ")
    return User.objects.create_user("aigerim", password=PASSWORD, role=Role.TRAINEE,
                                    institution=academy, first_name="Aigerim")


def _missing(page) -> int:
    return page.locator("#missing-items li").count()


def test_trainee_flow(live_server, trainee, browser_page, tmp_path):
    assert "build_report" in jobs.REGISTRY
    page = browser_page
    url = live_server.url

    # log in
    page.goto(f"{url}/cases/")
    page.fill("input[name=username]", "aigerim")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_selector("text=Trainee")

    # open a case
    page.click("header >> text=New case")
    page.fill("input[name=number]", "KZ-TRAIN-001")
    page.fill("input[name=title]", "Phishing lab, group 3")
    page.select_option("select[name=kind]", "training")
    page.select_option("select[name=authority_type]", "warrant")
    page.fill("input[name=authority_identifier]", "W-1/2026")
    page.click("button:has-text('Open case')")
    page.wait_for_selector("h1:has-text('KZ-TRAIN-001')")
    case_url = page.url

    # the scene record: each change re-renders the missing-items list
    page.click("text=New scene record")
    page.wait_for_selector("#missing-items li")
    before = _missing(page)
    page.fill("input[name=arrival_at]", "2026-03-02T10:15")
    page.locator("input[name=arrival_at]").dispatch_event("change")
    page.wait_for_function(f"document.querySelectorAll('#missing-items li').length < {before}")
    assert page.locator("#missing-items li[data-field=arrival_at]").count() == 0
    after_arrival = _missing(page)
    page.fill("textarea[name=persons_present]", "A. Bekov, occupant")
    page.select_option("select[name=scene_secured]", "true")
    page.wait_for_function(
        f"document.querySelectorAll('#missing-items li').length < {after_arrival}")
    assert "RFC 3227" in page.inner_text("#missing-items")  # references shown
    page.click("button:has-text('Save scene record')")
    page.wait_for_selector("text=Scene record saved.")

    # upload an exhibit
    evidence = tmp_path / "usb <stick>.img"
    evidence.write_bytes(os.urandom(300_000))
    page.goto(case_url)
    page.click("text=Add exhibit")
    page.select_option("select[name=type]", "storage")
    page.fill("textarea[name=description]", "USB stick, <b>blue</b>")
    page.set_input_files("input[name=evidence]", str(evidence))
    page.click("button:has-text('Add exhibit')")
    page.wait_for_selector("text=Exhibit E1 added.")
    assert "USB stick, <b>blue</b>" in page.inner_text("main")  # shown as text

    # verification, watched live
    page.goto(case_url)
    page.click("button:has-text('Run verification')")
    job = page.locator(".job[data-kind=verify_case][data-status=succeeded]")
    job.wait_for()
    assert "intact" in job.inner_text()
    assert "NOT intact" not in job.inner_text()

    # the court report, downloaded
    page.click("button:has-text('Court report (PDF)')")
    link = page.locator(".job[data-kind=build_report][data-status=succeeded] a.button")
    link.wait_for(timeout=60_000)
    with page.expect_download() as download_info:
        link.click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")

    page.goto(case_url)
    page.screenshot(path=str(SCREENSHOT_DIR / "dalil-case-page.png"), full_page=True)
