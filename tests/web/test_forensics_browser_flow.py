"""An examiner in a real Chromium (Playwright): open an exhibit, run the examination and
watch it finish, browse to a deleted file, bookmark it with a note."""

from __future__ import annotations

import pytest
from browser_support import BROWSER_MARKS
from forensics_disk import add_image_exhibit, build_ext4

from dalil.app.accounts.models import Institution, Role, User
from dalil.app.cases import services as cases

PASSWORD = "examiner-password-2026"

pytestmark = BROWSER_MARKS




@pytest.fixture
def exhibit(transactional_db, tmp_path):
    academy = Institution.objects.create(name="Academy of the MIA, Almaty", country="KZ")
    user = User.objects.create_user("examiner", password=PASSWORD, role=Role.EXAMINER,
                                    institution=academy, first_name="Dana")
    case = cases.create_case(number="KZ-2026-100", title="Seized laptop", actor="examiner",
                             user=user)
    return add_image_exhibit(case, build_ext4(tmp_path), number="E1")


def test_examine_browse_to_a_deleted_file_and_bookmark_it(live_server, exhibit, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/")
    page.fill("input[name=username]", "examiner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_selector("h1:has-text('E1')")

    page.click("button:has-text('Examine (ingest)')")
    job = page.locator(".job[data-kind=ingest_exhibit][data-status=succeeded]")
    job.wait_for()
    assert "entries stored" in job.inner_text()

    page.reload()
    page.click("text=Browse files")
    page.wait_for_selector("#file-table")
    page.select_option("select[name=deleted]", "yes")
    page.check("input[name=sub]")
    page.click("#file-filters button:has-text('Filter')")
    row = page.locator("#file-table tr[data-deleted=true]")
    row.first.wait_for()
    assert row.count() == 1 and "secret.txt" in row.inner_text()

    row.locator("a:has-text('secret.txt')").click()
    page.wait_for_selector("#file-name:has-text('secret.txt')")
    assert "the wallet seed is in the safe" in page.inner_text("#text")
    page.fill("textarea[name=note]", "Seed phrase of the suspect's wallet, deleted <after> seizure")
    page.click("button:has-text('Bookmark')")
    page.wait_for_selector("text=Bookmarked.")
    assert "deleted <after> seizure" in page.inner_text("#bookmarks")

    page.click("main >> text=Bookmarks")
    page.wait_for_selector("#bookmark-table")
    assert "secret.txt" in page.inner_text("#bookmark-table")
