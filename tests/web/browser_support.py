"""What the real-browser tests share: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("DALIL_CHROMIUM", "/usr/bin/chromium")
# A tool's own browser download fails here: always Debian's, with these flags.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update"]

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM),
                       reason=f"needs Chromium at {CHROMIUM} (set DALIL_CHROMIUM)"),
]


def new_page(browser, *, height: int = 768):
    """A page in a fresh context (its own cookies), downloads allowed."""
    context = browser.new_context(viewport={"width": 1366, "height": height},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page
