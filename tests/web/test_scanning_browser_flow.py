"""An examiner in a real Chromium (Playwright): scan an exhibit from its page and watch
the job finish, open the findings, filter them, bookmark a wallet with a note."""

from __future__ import annotations

import pytest
from browser_support import BROWSER_MARKS
from scanning_helpers import EMAIL, WALLET, add_bytes_exhibit

from dalil.app.accounts.models import Institution, Role, User
from dalil.app.cases import services as cases

PASSWORD = "examiner-password-2026"

pytestmark = BROWSER_MARKS




@pytest.fixture
def exhibit(transactional_db):
    academy = Institution.objects.create(name="Academy of the MIA, Almaty", country="KZ")
    user = User.objects.create_user("examiner", password=PASSWORD, role=Role.EXAMINER,
                                    institution=academy, first_name="Dana")
    case = cases.create_case(number="KZ-2026-200", title="Seized stick", actor="examiner",
                             user=user)
    return add_bytes_exhibit(case, number="E1")


def test_scan_filter_and_bookmark_a_finding(live_server, exhibit, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/cases/{exhibit.case_id}/exhibits/{exhibit.pk}/")
    page.fill("input[name=username]", "examiner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_selector("h1:has-text('E1')")

    page.click("button:has-text('Scan for features')")
    page.locator(".job[data-kind=scan_exhibit][data-status=succeeded]").wait_for()

    page.reload()
    page.click("#scanning a:has-text('Findings')")
    page.wait_for_selector("#finding-table")
    assert EMAIL in page.inner_text("#finding-table")
    page.select_option("#finding-filters select[name=type]", "bitcoin")
    page.click("#finding-filters button:has-text('Filter')")
    rows = page.locator("#finding-table tr[data-type]")
    rows.first.wait_for()
    assert rows.count() == 1 and WALLET in rows.inner_text()
    assert EMAIL not in page.inner_text("#finding-table")

    rows.locator("summary:has-text('Bookmark')").click()
    rows.locator("textarea[name=note]").fill("Ransom wallet <paid> twice")
    rows.locator("button:has-text('Save bookmark')").click()
    page.wait_for_selector("text=Bookmarked.")
    assert "Ransom wallet <paid> twice" in page.inner_text("#finding-bookmarks")
    assert WALLET in page.inner_text("#finding-bookmarks")
    assert "type=bitcoin" in page.url  # the filter is kept after bookmarking
